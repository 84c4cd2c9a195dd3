package netnstest

import (
	"fmt"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtoolValue is struct ethtool_value.
type ethtoolValue struct {
	cmd, data uint32
}

// ifreqData is struct ifreq with the ifr_data member of the union.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

// DisableTxChecksum turns transmit checksum offload off on l (as
// `ethtool -K dev tx off`), so that the kernel fills in TCP and UDP
// checksums before a frame leaves by l. Frames a veth peer sends with the
// offload on reach XDP and AF_XDP with only the pseudo-header sum in the
// checksum field (CHECKSUM_PARTIAL), which a userspace stack cannot tell
// from a bad checksum.
func DisableTxChecksum(tb testing.TB, l Link) {
	tb.Helper()
	err := l.NS.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		v := ethtoolValue{cmd: unix.ETHTOOL_STXCSUM}
		var ifr ifreqData
		copy(ifr.name[:unix.IFNAMSIZ-1], l.Name)
		// Sound: ifr.data is a real pointer field, so v stays alive and
		// in place while the kernel reads it during the call.
		ifr.data = unsafe.Pointer(&v)
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
		if e != 0 {
			return e
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("netnstest: %s: tx checksum offload off: %v", l.Name, fmt.Errorf("ETHTOOL_STXCSUM: %w", err))
	}
}
