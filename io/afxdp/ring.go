package afxdp

import (
	"encoding/binary"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ring is one of the four single-producer, single-consumer rings an AF_XDP
// socket shares with the kernel: fill and TX are produced by us and consumed
// by the kernel, RX and completion the other way round.
//
// The shared producer and consumer indexes are free-running uint32s. The side
// that owns an index publishes it with an atomic store after writing the
// entries (release), and the other side reads it with an atomic load before
// reading the entries (acquire); Go's atomics are sequentially consistent,
// which is at least that. Each side keeps its own index in local and
// touches the shared one once per batch.
type ring struct {
	mem      []byte // the mmap'd ring
	producer *uint32
	consumer *uint32
	flags    *uint32
	descs    []byte
	mask     uint32
	size     uint32
	local    uint32 // next entry to produce (fill, TX) or to consume (RX, completion)
}

// Entry sizes: fill and completion entries are a UMEM address; RX and TX
// entries are struct xdp_desc {addr u64; len u32; options u32}.
const (
	addrSize = 8
	descSize = 16
)

// free is how many entries a producer can write.
func (r *ring) free() uint32 {
	return r.size - (r.local - atomic.LoadUint32(r.consumer))
}

// submit publishes n entries written after local.
func (r *ring) submit(n uint32) {
	r.local += n
	atomic.StoreUint32(r.producer, r.local)
}

// available is how many entries a consumer can read.
func (r *ring) available() uint32 {
	return atomic.LoadUint32(r.producer) - r.local
}

// release gives n consumed entries back to the producer.
func (r *ring) release(n uint32) {
	r.local += n
	atomic.StoreUint32(r.consumer, r.local)
}

// pending is how many produced entries the kernel has not consumed yet.
func (r *ring) pending() uint32 {
	return r.local - atomic.LoadUint32(r.consumer)
}

// needWakeup reports whether the kernel asks to be kicked (XDP_USE_NEED_WAKEUP).
func (r *ring) needWakeup() bool {
	return atomic.LoadUint32(r.flags)&unix.XDP_RING_NEED_WAKEUP != 0
}

func (r *ring) addr(i uint32) uint64 {
	o := (i & r.mask) * addrSize
	return binary.NativeEndian.Uint64(r.descs[o : o+8])
}

func (r *ring) setAddr(i uint32, addr uint64) {
	o := (i & r.mask) * addrSize
	binary.NativeEndian.PutUint64(r.descs[o:o+8], addr)
}

func (r *ring) desc(i uint32) (addr uint64, length uint32) {
	o := (i & r.mask) * descSize
	d := r.descs[o : o+descSize]
	return binary.NativeEndian.Uint64(d[0:8]), binary.NativeEndian.Uint32(d[8:12])
}

func (r *ring) setDesc(i uint32, addr uint64, length uint32) {
	o := (i & r.mask) * descSize
	d := r.descs[o : o+descSize]
	binary.NativeEndian.PutUint64(d[0:8], addr)
	binary.NativeEndian.PutUint32(d[8:12], length)
	binary.NativeEndian.PutUint32(d[12:16], 0)
}

func (r *ring) unmap() error {
	if r.mem == nil {
		return nil
	}
	err := unix.Munmap(r.mem)
	*r = ring{}
	return err
}
