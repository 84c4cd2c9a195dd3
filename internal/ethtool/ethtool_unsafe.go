// Package ethtool turns interface offloads off through the SIOCETHTOOL
// ioctl, for the daemon's setup of AF_XDP ports and for test topologies.
package ethtool

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// value is struct ethtool_value.
type value struct {
	cmd, data uint32
}

// ifreqData is struct ifreq with the ifr_data member of the union.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

// TxChecksumOff turns transmit checksum offload off on the interface (as
// `ethtool -K dev tx off`) in the calling thread's network namespace, so
// that the kernel fills in TCP and UDP checksums before a frame leaves by
// it. Frames a veth peer sends with the offload on reach XDP and AF_XDP
// with only the pseudo-header sum in the checksum field (CHECKSUM_PARTIAL),
// which a userspace stack cannot tell from a bad checksum.
func TxChecksumOff(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	v := value{cmd: unix.ETHTOOL_STXCSUM}
	var ifr ifreqData
	copy(ifr.name[:unix.IFNAMSIZ-1], name)
	// Sound: ifr.data is a real pointer field, so v stays alive and in
	// place while the kernel reads it during the call.
	ifr.data = unsafe.Pointer(&v)
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return fmt.Errorf("%s: tx checksum offload off: %w", name, e)
	}
	return nil
}
