package packet

import (
	"encoding/binary"
	"net/netip"
)

// UDP is a UDP header and its payload (RFC 768).
type UDP []byte

const (
	udpSrcPort  = 0
	udpDstPort  = 2
	udpLength   = 4
	udpChecksum = 6

	// UDPHeaderLen is the length of a UDP header.
	UDPHeaderLen = 8
)

func (b UDP) SrcPort() uint16      { return binary.BigEndian.Uint16(b[udpSrcPort:]) }
func (b UDP) DstPort() uint16      { return binary.BigEndian.Uint16(b[udpDstPort:]) }
func (b UDP) SetSrcPort(p uint16)  { binary.BigEndian.PutUint16(b[udpSrcPort:], p) }
func (b UDP) SetDstPort(p uint16)  { binary.BigEndian.PutUint16(b[udpDstPort:], p) }
func (b UDP) Length() uint16       { return binary.BigEndian.Uint16(b[udpLength:]) }
func (b UDP) SetLength(n uint16)   { binary.BigEndian.PutUint16(b[udpLength:], n) }
func (b UDP) Checksum() uint16     { return binary.BigEndian.Uint16(b[udpChecksum:]) }
func (b UDP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[udpChecksum:], c) }

// Payload is the datagram's data, up to the UDP length or the end of b,
// whichever comes first (b may be a first fragment).
func (b UDP) Payload() []byte { return b[UDPHeaderLen:b.end()] }

func (b UDP) end() int { return min(int(b.Length()), len(b)) }

// ComputeChecksum returns the checksum of the datagram (up to the UDP
// length, or the end of b if that comes first) with the pseudo-header of
// src and dst, reading the checksum field as zero. A computed 0 is
// returned as 0xFFFF, since 0 in the field means "no checksum" (RFC 768).
//
// When a field changes, an IPv4 UDP checksum of 0 must stay 0, and a
// result of 0 from the Update* functions must be stored as 0xFFFF (as
// nf_nat's udp_manip_pkt with CSUM_MANGLED_0).
func (b UDP) ComputeChecksum(src, dst netip.Addr) uint16 {
	n := b.end()
	sum := PseudoHeaderSum(src, dst, ProtoUDP, n)
	sum = Sum(b[:udpChecksum], sum)
	c := Fold(Sum(b[udpChecksum+2:n], sum))
	if c == 0 {
		return 0xffff
	}
	return c
}
