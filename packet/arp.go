package packet

import (
	"encoding/binary"
	"net/netip"
)

// ARP is an ARP packet for Ethernet and IPv4 (RFC 826), the only kind
// nfgo handles.
type ARP []byte

const (
	arpHType     = 0
	arpPType     = 2
	arpHLen      = 4
	arpPLen      = 5
	arpOp        = 6
	arpSenderMAC = 8
	arpSenderIP  = 14
	arpTargetMAC = 18
	arpTargetIP  = 24

	// ARPLen is the length of an Ethernet/IPv4 ARP packet.
	ARPLen = 28
)

// ARP operations.
const (
	ARPRequest = 1
	ARPReply   = 2
)

// IsValid reports whether b is an Ethernet/IPv4 ARP packet: hardware type
// 1, protocol type 0x0800, address lengths 6 and 4 (what arp_rcv requires
// of an Ethernet device). b must hold ARPLen bytes.
func (b ARP) IsValid() bool {
	return binary.BigEndian.Uint16(b[arpHType:]) == 1 &&
		binary.BigEndian.Uint16(b[arpPType:]) == EtherTypeIPv4 &&
		b[arpHLen] == 6 && b[arpPLen] == 4
}

// SetHeader writes the fixed Ethernet/IPv4 fields and the operation.
func (b ARP) SetHeader(op uint16) {
	binary.BigEndian.PutUint16(b[arpHType:], 1)
	binary.BigEndian.PutUint16(b[arpPType:], EtherTypeIPv4)
	b[arpHLen] = 6
	b[arpPLen] = 4
	b.SetOp(op)
}

func (b ARP) Op() uint16           { return binary.BigEndian.Uint16(b[arpOp:]) }
func (b ARP) SenderMAC() MAC       { return MAC(b[arpSenderMAC : arpSenderMAC+6]) }
func (b ARP) SenderIP() netip.Addr { return netip.AddrFrom4([4]byte(b[arpSenderIP : arpSenderIP+4])) }
func (b ARP) TargetMAC() MAC       { return MAC(b[arpTargetMAC : arpTargetMAC+6]) }
func (b ARP) TargetIP() netip.Addr { return netip.AddrFrom4([4]byte(b[arpTargetIP : arpTargetIP+4])) }

func (b ARP) SetOp(op uint16)    { binary.BigEndian.PutUint16(b[arpOp:], op) }
func (b ARP) SetSenderMAC(m MAC) { copy(b[arpSenderMAC:arpSenderMAC+6], m[:]) }
func (b ARP) SetTargetMAC(m MAC) { copy(b[arpTargetMAC:arpTargetMAC+6], m[:]) }

// SetSenderIP sets the sender protocol address; a must be IPv4.
func (b ARP) SetSenderIP(a netip.Addr) {
	v := a.As4()
	copy(b[arpSenderIP:arpSenderIP+4], v[:])
}

// SetTargetIP sets the target protocol address; a must be IPv4.
func (b ARP) SetTargetIP(a netip.Addr) {
	v := a.As4()
	copy(b[arpTargetIP:arpTargetIP+4], v[:])
}
