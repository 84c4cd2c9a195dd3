package afxdp

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// This file holds the system calls golang.org/x/sys/unix has no typed
// wrapper for: socket options that take a struct, the ring mappings, and
// the ethtool channel query. Each use of unsafe says why it is sound.

// mapRing maps the ring of n entries of entSize bytes at page offset pgoff
// and points the index fields of r into it.
func mapRing(fd int, pgoff int64, off unix.XDPRingOffset, n, entSize uint32) (ring, error) {
	length := int(off.Desc) + int(n*entSize)
	mem, err := unix.Mmap(fd, pgoff, length, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return ring{}, err
	}
	if off.Producer+4 > uint64(length) || off.Consumer+4 > uint64(length) || off.Flags+4 > uint64(length) ||
		off.Producer%4 != 0 || off.Consumer%4 != 0 || off.Flags%4 != 0 {
		unix.Munmap(mem)
		return ring{}, fmt.Errorf("ring offsets %+v outside the %d-byte mapping", off, length)
	}
	// Sound: the offsets come from the kernel (XDP_MMAP_OFFSETS), were
	// just checked to lie inside mem and to be 4-byte aligned, and mem is
	// not Go heap memory, so the pointers never move. They are used only
	// until unmap, which runs after every user of the ring has finished
	// (the queue's lock).
	return ring{
		mem:      mem,
		producer: (*uint32)(unsafe.Pointer(&mem[off.Producer])),
		consumer: (*uint32)(unsafe.Pointer(&mem[off.Consumer])),
		flags:    (*uint32)(unsafe.Pointer(&mem[off.Flags])),
		descs:    mem[off.Desc:],
		mask:     n - 1,
		size:     n,
	}, nil
}

// registerUMEM registers mem as the socket's UMEM of frames of frameSize.
func registerUMEM(fd int, mem []byte, frameSize uint32) error {
	reg := unix.XDPUmemReg{
		// Sound: mem comes from mmap, not the Go heap; the kernel pins
		// its pages and keeps the address until the socket closes, and
		// the mapping outlives the socket (closeSocket unmaps it last).
		Addr: uint64(uintptr(unsafe.Pointer(&mem[0]))),
		Len:  uint64(len(mem)),
		Size: frameSize,
	}
	return setsockopt(fd, unix.SOL_XDP, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg))
}

// mmapOffsets asks where the indexes and entries lie in each ring mapping.
func mmapOffsets(fd int) (unix.XDPMmapOffsets, error) {
	var off unix.XDPMmapOffsets
	err := getsockopt(fd, unix.SOL_XDP, unix.XDP_MMAP_OFFSETS, unsafe.Pointer(&off), unsafe.Sizeof(off))
	return off, err
}

// xdpStatistics reads the socket's kernel counters.
func xdpStatistics(fd int) (unix.XDPStatistics, error) {
	var st unix.XDPStatistics
	err := getsockopt(fd, unix.SOL_XDP, unix.XDP_STATISTICS, unsafe.Pointer(&st), unsafe.Sizeof(st))
	return st, err
}

// Sound (setsockopt, getsockopt): val points to a live Go value of size
// bytes that the kernel reads or writes during the call only; passing it as
// an unsafe.Pointer argument to Syscall6 keeps it alive and in place.

func setsockopt(fd, level, name int, val unsafe.Pointer, size uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(name), uintptr(val), size, 0)
	if e != 0 {
		return e
	}
	return nil
}

func getsockopt(fd, level, name int, val unsafe.Pointer, size uintptr) error {
	l := uint32(size)
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(name), uintptr(val), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return e
	}
	return nil
}

// ethtoolChannels is struct ethtool_channels.
type ethtoolChannels struct {
	cmd                                         uint32
	maxRx, maxTx, maxOther, maxCombined         uint32
	rxCount, txCount, otherCount, combinedCount uint32
}

// ifreqData is struct ifreq with the ifr_data member of the union.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

// deviceQueues is the number of queues an AF_XDP socket can bind to on
// ifname: the larger of the RX and combined channel counts (ETHTOOL_GCHANNELS).
func deviceQueues(ifname string) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	ch := ethtoolChannels{cmd: unix.ETHTOOL_GCHANNELS}
	var ifr ifreqData
	copy(ifr.name[:unix.IFNAMSIZ-1], ifname)
	// Sound: ifr.data is a real pointer field, so ch stays alive and in
	// place while ifr is passed to the kernel, which writes sizeof(ch)
	// bytes into it.
	ifr.data = unsafe.Pointer(&ch)
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	if e != 0 {
		return 0, e
	}
	return int(max(ch.rxCount, ch.combinedCount)), nil
}
