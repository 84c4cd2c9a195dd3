package pktbuild

import (
	"encoding/binary"
	"net/netip"

	"github.com/nfgo/nfgo/packet"
)

// Default MAC addresses for EtherFrame.
var (
	MAC1 = packet.MAC{0x02, 0, 0, 0, 0, 1}
	MAC2 = packet.MAC{0x02, 0, 0, 0, 0, 2}
)

// Ether builds an Ethernet frame. It does not pad it to 60 bytes (see
// PadEther).
func Ether(dst, src packet.MAC, etherType uint16, payload []byte) []byte {
	b := make([]byte, packet.EthernetHeaderLen+len(payload))
	e := packet.Ethernet(b)
	e.SetDst(dst)
	e.SetSrc(src)
	e.SetEtherType(etherType)
	copy(b[packet.EthernetHeaderLen:], payload)
	return b
}

// EtherFrame wraps an IPv4 or IPv6 packet (by its version nibble) in an
// Ethernet frame from MAC1 to MAC2.
func EtherFrame(ip []byte) []byte {
	et := uint16(packet.EtherTypeIPv4)
	if len(ip) > 0 && ip[0]>>4 == 6 {
		et = packet.EtherTypeIPv6
	}
	return Ether(MAC2, MAC1, et, ip)
}

// PadEther pads a frame with zeros to the 60-byte Ethernet minimum, as a
// NIC would.
func PadEther(frame []byte) []byte {
	if len(frame) >= 60 {
		return frame
	}
	return append(frame, make([]byte, 60-len(frame))...)
}

// PushVLAN inserts a tag with the given TPID (packet.EtherTypeVLAN or
// EtherTypeQinQ), priority and VLAN ID right after the MAC addresses, so
// it becomes the outermost tag. For QinQ push the customer tag first, then
// the service tag.
func PushVLAN(frame []byte, tpid uint16, pcp uint8, id uint16) []byte {
	b := make([]byte, len(frame)+packet.VLANTagLen)
	copy(b, frame[:12])
	binary.BigEndian.PutUint16(b[12:], tpid)
	v := packet.VLAN(b[14:18])
	v.SetTCI(pcp, false, id)
	v.SetEtherType(packet.Ethernet(frame).EtherType())
	copy(b[18:], frame[14:])
	return b
}

// ARP builds an Ethernet/IPv4 ARP packet (without Ethernet header).
func ARP(op uint16, senderMAC packet.MAC, senderIP netip.Addr, targetMAC packet.MAC, targetIP netip.Addr) []byte {
	b := make(packet.ARP, packet.ARPLen)
	b.SetHeader(op)
	b.SetSenderMAC(senderMAC)
	b.SetSenderIP(senderIP)
	b.SetTargetMAC(targetMAC)
	b.SetTargetIP(targetIP)
	return b
}
