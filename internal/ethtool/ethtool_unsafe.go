// Package ethtool sets interface offloads through the SIOCETHTOOL ioctl,
// for the daemon's setup of AF_XDP ports and for test topologies.
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
	if err := set(name, unix.ETHTOOL_STXCSUM, 0); err != nil {
		return fmt.Errorf("%s: tx checksum offload off: %w", name, err)
	}
	return nil
}

// GROOn turns generic receive offload on (as `ethtool -K dev gro on`) in
// the calling thread's network namespace. On a veth device without an XDP
// program it also gives the device NAPI, so that its peer can send it XDP
// frames (XDP_TX, XDP_REDIRECT).
func GROOn(name string) error {
	if err := set(name, unix.ETHTOOL_SGRO, 1); err != nil {
		return fmt.Errorf("%s: gro on: %w", name, err)
	}
	return nil
}

// set runs an ethtool "set" command that takes a struct ethtool_value.
func set(name string, cmd, data uint32) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	v := value{cmd: cmd, data: data}
	var ifr ifreqData
	copy(ifr.name[:unix.IFNAMSIZ-1], name)
	// Sound: ifr.data is a real pointer field, so v stays alive and in
	// place while the kernel reads it during the call.
	ifr.data = unsafe.Pointer(&v)
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return e
	}
	return nil
}
