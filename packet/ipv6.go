package packet

import (
	"encoding/binary"
	"net/netip"
)

// IPv6 is an IPv6 fixed header and what follows it (RFC 8200).
type IPv6 []byte

const (
	ipv6VersionTCFlow = 0
	ipv6PayloadLen    = 4
	ipv6NextHeader    = 6
	ipv6HopLimit      = 7
	ipv6Src           = 8
	ipv6Dst           = 24

	// IPv6HeaderLen is the length of the fixed header.
	IPv6HeaderLen = 40
)

func (b IPv6) word0() uint32 { return binary.BigEndian.Uint32(b[ipv6VersionTCFlow:]) }

// Version is the IP version nibble (6 for a valid header).
func (b IPv6) Version() uint8 { return b[0] >> 4 }

func (b IPv6) TrafficClass() uint8 { return uint8(b.word0() >> 20) }

// SetTrafficClass sets the traffic class, keeping version and flow label.
func (b IPv6) SetTrafficClass(tc uint8) {
	w := b.word0()&^(0xff<<20) | uint32(tc)<<20
	binary.BigEndian.PutUint32(b[ipv6VersionTCFlow:], w)
}

func (b IPv6) FlowLabel() uint32 { return b.word0() & 0xfffff }

// SetFlowLabel sets the 20-bit flow label, keeping version and traffic class.
func (b IPv6) SetFlowLabel(fl uint32) {
	w := b.word0()&^0xfffff | fl&0xfffff
	binary.BigEndian.PutUint32(b[ipv6VersionTCFlow:], w)
}

// SetVersion writes version 6, keeping traffic class and flow label.
func (b IPv6) SetVersion() { b[0] = 6<<4 | b[0]&0xf }

// PayloadLen is the length after the fixed header, extension headers
// included.
func (b IPv6) PayloadLen() uint16     { return binary.BigEndian.Uint16(b[ipv6PayloadLen:]) }
func (b IPv6) SetPayloadLen(n uint16) { binary.BigEndian.PutUint16(b[ipv6PayloadLen:], n) }

// NextHeader is the type of the header after the fixed header (an
// extension header or the upper-layer protocol).
func (b IPv6) NextHeader() uint8     { return b[ipv6NextHeader] }
func (b IPv6) SetNextHeader(p uint8) { b[ipv6NextHeader] = p }
func (b IPv6) HopLimit() uint8       { return b[ipv6HopLimit] }
func (b IPv6) SetHopLimit(h uint8)   { b[ipv6HopLimit] = h }

func (b IPv6) Src() netip.Addr  { return netip.AddrFrom16([16]byte(b[ipv6Src : ipv6Src+16])) }
func (b IPv6) Dst() netip.Addr  { return netip.AddrFrom16([16]byte(b[ipv6Dst : ipv6Dst+16])) }
func (b IPv6) SrcBytes() []byte { return b[ipv6Src : ipv6Src+16 : ipv6Src+16] }
func (b IPv6) DstBytes() []byte { return b[ipv6Dst : ipv6Dst+16 : ipv6Dst+16] }

// SetSrc sets the source address; a must be IPv6 (an IPv4 address is
// written in its IPv4-mapped form).
func (b IPv6) SetSrc(a netip.Addr) {
	v := a.As16()
	copy(b[ipv6Src:ipv6Src+16], v[:])
}

// SetDst sets the destination address, as SetSrc.
func (b IPv6) SetDst(a netip.Addr) {
	v := a.As16()
	copy(b[ipv6Dst:ipv6Dst+16], v[:])
}

// Payload is what follows the fixed header, up to the payload length.
func (b IPv6) Payload() []byte { return b[IPv6HeaderLen : IPv6HeaderLen+int(b.PayloadLen())] }
