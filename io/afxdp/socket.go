package afxdp

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nfgo/nfgo/packet"
)

// Frame owners. Every UMEM frame is in exactly one of these states; the
// lower half of the UMEM serves RX and never leaves frameKernelRX, the
// upper half serves TX and moves between frameFree and frameKernelTX.
const (
	frameKernelRX uint8 = iota + 1 // in the fill ring, the kernel's cache, or the RX ring
	frameFree                      // on the TX free list
	frameKernelTX                  // in the TX ring or the completion ring
)

// socket is one AF_XDP socket bound to one queue, with its own UMEM.
//
// The RX side (ReadBatch: fill and RX rings, pollfd) and the TX side
// (WriteBatch: TX and completion rings, free list) share no mutable state
// but the counters, which are atomic so Stats can read them at any time.
type socket struct {
	fd        int
	queue     int
	zeroCopy  bool
	umem      []byte
	frameSize uint64
	rxFrames  uint32 // frames [0, rxFrames) serve RX
	txFrames  uint32 // frames [rxFrames, rxFrames+txFrames) serve TX

	fill, rx ring
	tx, comp ring
	free     []uint64 // TX frame addresses we own
	state    []uint8  // owner of each frame
	pollfd   [1]unix.PollFd

	rxPackets, rxBytes, rxDropped atomic.Uint64
	txPackets, txBytes, txDropped atomic.Uint64
	// badDescs counts descriptors the kernel handed back for frames it
	// did not own; it stays 0 unless the accounting is broken.
	badDescs atomic.Uint64
}

type socketConfig struct {
	frameSize   uint32
	numFrames   uint32
	bindFlags   uint16 // XDP_COPY, XDP_ZEROCOPY or neither (kernel's choice)
	bindTimeout time.Duration
	onBusy      func(attempt int) // called after each EBUSY; tests release the queue from it
}

// openSocket creates a socket with its UMEM and rings, fills the fill ring
// with every RX frame and binds to (ifindex, queue). A bind that fails with
// EBUSY (the queue was released a moment ago and the kernel has not finished
// tearing the old socket down) is retried with a growing pause until
// cfg.bindTimeout; attempts reports how many binds were tried.
func openSocket(ifindex, queue int, cfg socketConfig) (_ *socket, attempts int, err error) {
	s := &socket{fd: -1, queue: queue, frameSize: uint64(cfg.frameSize)}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	s.fd, err = unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("socket(AF_XDP): %w", err)
	}
	size := int(cfg.numFrames) * int(cfg.frameSize)
	s.umem, err = unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, 0, fmt.Errorf("mmap UMEM of %d bytes: %w", size, err)
	}
	if err = registerUMEM(s.fd, s.umem, cfg.frameSize); err != nil {
		return nil, 0, fmt.Errorf("XDP_UMEM_REG: %w", err)
	}
	ringSize := cfg.numFrames / 2
	s.rxFrames, s.txFrames = ringSize, ringSize
	for _, o := range []struct {
		name string
		opt  int
	}{
		{"XDP_UMEM_FILL_RING", unix.XDP_UMEM_FILL_RING},
		{"XDP_UMEM_COMPLETION_RING", unix.XDP_UMEM_COMPLETION_RING},
		{"XDP_RX_RING", unix.XDP_RX_RING},
		{"XDP_TX_RING", unix.XDP_TX_RING},
	} {
		if err = unix.SetsockoptInt(s.fd, unix.SOL_XDP, o.opt, int(ringSize)); err != nil {
			return nil, 0, fmt.Errorf("%s: %w", o.name, err)
		}
	}
	off, err := mmapOffsets(s.fd)
	if err != nil {
		return nil, 0, fmt.Errorf("XDP_MMAP_OFFSETS: %w", err)
	}
	for _, m := range []struct {
		r       *ring
		pgoff   int64
		off     unix.XDPRingOffset
		entSize uint32
	}{
		{&s.fill, unix.XDP_UMEM_PGOFF_FILL_RING, off.Fr, addrSize},
		{&s.comp, unix.XDP_UMEM_PGOFF_COMPLETION_RING, off.Cr, addrSize},
		{&s.rx, unix.XDP_PGOFF_RX_RING, off.Rx, descSize},
		{&s.tx, unix.XDP_PGOFF_TX_RING, off.Tx, descSize},
	} {
		if *m.r, err = mapRing(s.fd, m.pgoff, m.off, ringSize, m.entSize); err != nil {
			return nil, 0, fmt.Errorf("mmap ring: %w", err)
		}
	}
	// Let one sendto move the whole TX ring instead of 32 frames (the
	// kernel's default copy-mode budget); older kernels lack the option.
	_ = unix.SetsockoptInt(s.fd, unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, int(ringSize))

	s.state = make([]uint8, cfg.numFrames)
	s.free = make([]uint64, 0, s.txFrames)
	for i := range s.rxFrames {
		s.fill.setAddr(i, uint64(i)*s.frameSize)
		s.state[i] = frameKernelRX
	}
	s.fill.submit(s.rxFrames)
	for i := s.rxFrames + s.txFrames; i > s.rxFrames; i-- {
		s.free = append(s.free, uint64(i-1)*s.frameSize)
		s.state[i-1] = frameFree
	}
	s.pollfd[0] = unix.PollFd{Fd: int32(s.fd), Events: unix.POLLIN}

	sa := &unix.SockaddrXDP{Flags: unix.XDP_USE_NEED_WAKEUP | cfg.bindFlags, Ifindex: uint32(ifindex), QueueID: uint32(queue)}
	deadline := time.Now().Add(cfg.bindTimeout)
	pause := time.Millisecond
	for {
		attempts++
		err = unix.Bind(s.fd, sa)
		if !errors.Is(err, unix.EBUSY) || time.Now().Add(pause).After(deadline) {
			break
		}
		if cfg.onBusy != nil {
			cfg.onBusy(attempts)
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
	if err != nil {
		return nil, attempts, fmt.Errorf("bind queue %d (%d attempts): %w", queue, attempts, err)
	}
	opts, err := unix.GetsockoptInt(s.fd, unix.SOL_XDP, unix.XDP_OPTIONS)
	if err != nil {
		return nil, attempts, fmt.Errorf("XDP_OPTIONS: %w", err)
	}
	s.zeroCopy = opts&unix.XDP_OPTIONS_ZEROCOPY != 0
	return s, attempts, nil
}

// close releases the socket, then the rings and the UMEM.
func (s *socket) close() error {
	var errs []error
	if s.fd >= 0 {
		errs = append(errs, unix.Close(s.fd))
		s.fd = -1
	}
	for _, r := range []*ring{&s.fill, &s.comp, &s.rx, &s.tx} {
		errs = append(errs, r.unmap())
	}
	if s.umem != nil {
		errs = append(errs, unix.Munmap(s.umem))
		s.umem = nil
	}
	return errors.Join(errs...)
}

// frameIndex returns the index of the frame holding UMEM address addr.
func (s *socket) frameIndex(addr uint64) uint64 { return addr / s.frameSize }

// readBatch copies up to len(pkts) received frames into pkts, waiting up
// to pollTimeoutMs for the first, and gives the frames straight back to the
// kernel through the fill ring.
func (s *socket) readBatch(pkts []*packet.Packet) (int, error) {
	n := s.rx.available()
	if n == 0 {
		_, err := unix.Poll(s.pollfd[:], pollTimeoutMs)
		if err != nil && err != unix.EINTR {
			return 0, fmt.Errorf("afxdp: poll queue %d: %w", s.queue, err)
		}
		if n = s.rx.available(); n == 0 {
			return 0, nil
		}
	}
	n = min(n, uint32(len(pkts)))
	stored, refill := 0, uint32(0)
	var bytes uint64
	for i := range n {
		addr, length := s.rx.desc(s.rx.local + i)
		idx := s.frameIndex(addr)
		if idx >= uint64(s.rxFrames) || s.state[idx] != frameKernelRX {
			s.badDescs.Add(1)
			continue
		}
		end := addr + uint64(length)
		p := pkts[stored]
		if end > (idx+1)*s.frameSize || int(length) > len(p.Buf)-packet.Headroom {
			s.rxDropped.Add(1)
		} else {
			copy(p.SetFrame(int(length)), s.umem[addr:end])
			stored++
			bytes += uint64(length)
		}
		s.fill.setAddr(s.fill.local+refill, idx*s.frameSize)
		refill++
	}
	s.rx.release(n)
	s.fill.submit(refill)
	if s.fill.needWakeup() {
		// The driver stopped for want of fill entries; a receive call
		// restarts it (zero-copy drivers only ever set the flag).
		unix.Syscall6(unix.SYS_RECVFROM, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	}
	s.rxPackets.Add(uint64(stored))
	s.rxBytes.Add(bytes)
	return stored, nil
}

// reclaim moves frames the kernel has finished sending back to the free list.
func (s *socket) reclaim() {
	n := s.comp.available()
	for i := range n {
		addr := s.comp.addr(s.comp.local + i)
		idx := s.frameIndex(addr)
		if idx < uint64(s.rxFrames) || idx >= uint64(s.rxFrames+s.txFrames) || s.state[idx] != frameKernelTX {
			s.badDescs.Add(1)
			continue
		}
		s.state[idx] = frameFree
		s.free = append(s.free, idx*s.frameSize)
	}
	s.comp.release(n)
}

// writeBatch copies the frames of pkts into free TX frames, posts them on
// the TX ring and kicks the kernel. Frames it has no room for are dropped
// and counted.
func (s *socket) writeBatch(pkts []*packet.Packet) (int, error) {
	s.reclaim()
	if len(s.free) < len(pkts) && s.tx.pending() > 0 {
		s.kick()
		s.reclaim()
	}
	room := min(s.tx.free(), uint32(len(s.free)))
	sent := uint32(0)
	var bytes uint64
	for _, p := range pkts {
		if sent == room || uint64(len(p.Frame)) > s.frameSize || len(p.Frame) == 0 {
			s.txDropped.Add(1)
			continue
		}
		addr := s.free[len(s.free)-1]
		s.free = s.free[:len(s.free)-1]
		s.state[s.frameIndex(addr)] = frameKernelTX
		copy(s.umem[addr:addr+uint64(len(p.Frame))], p.Frame)
		s.tx.setDesc(s.tx.local+sent, addr, uint32(len(p.Frame)))
		sent++
		bytes += uint64(len(p.Frame))
	}
	if sent > 0 {
		s.tx.submit(sent)
		s.kick()
	}
	s.txPackets.Add(uint64(sent))
	s.txBytes.Add(bytes)
	return int(sent), nil
}

// kick asks the kernel to send what is on the TX ring when it wants to be
// asked (always, in copy mode). A copy-mode sendto moves a bounded number of
// frames and returns EAGAIN while more remain, so it is repeated, a bounded
// number of times; the frames left are sent on the next kick.
func (s *socket) kick() {
	for range 8 {
		if s.tx.pending() == 0 || !s.tx.needWakeup() {
			return
		}
		_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		if e != 0 && e != unix.EAGAIN {
			// ENOBUFS, EBUSY, ENETDOWN: the kernel could not take
			// the frames now; they stay on the ring for later.
			return
		}
	}
}

// FrameCounts says where a port's UMEM frames are, from the ring indexes
// and the free lists. On a healthy port Total = KernelRX + Free + KernelTX,
// and Lost, BadDescs and StateErrors are 0.
type FrameCounts struct {
	Total    int // frames in the UMEMs
	KernelRX int // RX frames the kernel holds: put on the fill ring and not yet read back from the RX ring
	Free     int // TX frames on the free lists
	KernelTX int // TX frames put on the TX ring and not yet read back from the completion ring
	Lost     int // Total minus the three above
	// BadDescs counts descriptors the kernel returned for frames it did
	// not hold.
	BadDescs int
	// StateErrors counts frames whose recorded owner disagrees with the
	// counts above.
	StateErrors int
}

// frames counts the socket's frames by owner, and checks the counts
// against the owner recorded for each frame.
func (s *socket) frames() FrameCounts {
	c := FrameCounts{
		Total:    len(s.state),
		KernelRX: int(s.fill.local - s.rx.local),
		Free:     len(s.free),
		KernelTX: int(s.tx.local - s.comp.local),
		BadDescs: int(s.badDescs.Load()),
	}
	c.Lost = c.Total - c.KernelRX - c.Free - c.KernelTX
	var byState [4]int
	for _, st := range s.state {
		byState[min(st, 3)]++
	}
	if byState[frameKernelRX] != c.KernelRX {
		c.StateErrors++
	}
	if byState[frameFree] != c.Free {
		c.StateErrors++
	}
	if byState[frameKernelTX] != c.KernelTX {
		c.StateErrors++
	}
	for _, addr := range s.free {
		if s.state[s.frameIndex(addr)] != frameFree {
			c.StateErrors++
		}
	}
	return c
}
