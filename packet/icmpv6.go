package packet

import (
	"encoding/binary"
	"net/netip"
)

// ICMPv6 is an ICMPv6 message (RFC 4443): type, code, checksum, four bytes
// whose meaning depends on the type, then the body. Its layout is that of
// ICMPv4; the checksum also covers a pseudo-header.
type ICMPv6 []byte

// ICMPv6HeaderLen is the length of the fixed part.
const ICMPv6HeaderLen = 8

// ICMPv6 types.
const (
	ICMPv6DestUnreachable = 1
	ICMPv6PacketTooBig    = 2
	ICMPv6TimeExceeded    = 3
	ICMPv6ParamProblem    = 4
	ICMPv6EchoRequest     = 128
	ICMPv6EchoReply       = 129
	ICMPv6RouterSolicit   = 133
	ICMPv6RouterAdvert    = 134
	ICMPv6NeighborSolicit = 135
	ICMPv6NeighborAdvert  = 136
	ICMPv6Redirect        = 137
	ICMPv6NodeInfoQuery   = 139
	ICMPv6NodeInfoReply   = 140
)

// ICMPv6 destination-unreachable codes.
const (
	ICMPv6NoRoute         = 0
	ICMPv6AdminProhibited = 1
	ICMPv6AddrUnreachable = 3
	ICMPv6PortUnreachable = 4
	ICMPv6PolicyFailed    = 5
	ICMPv6RejectRoute     = 6
)

// ICMPv6 time-exceeded codes.
const (
	ICMPv6HopLimitExceeded   = 0
	ICMPv6ReassemblyExceeded = 1
)

func (b ICMPv6) Type() uint8          { return b[icmpType] }
func (b ICMPv6) Code() uint8          { return b[icmpCode] }
func (b ICMPv6) SetType(t uint8)      { b[icmpType] = t }
func (b ICMPv6) SetCode(c uint8)      { b[icmpCode] = c }
func (b ICMPv6) Checksum() uint16     { return binary.BigEndian.Uint16(b[icmpChecksum:]) }
func (b ICMPv6) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[icmpChecksum:], c) }

// ID is the identifier of echo messages.
func (b ICMPv6) ID() uint16      { return binary.BigEndian.Uint16(b[icmpID:]) }
func (b ICMPv6) SetID(id uint16) { binary.BigEndian.PutUint16(b[icmpID:], id) }
func (b ICMPv6) Seq() uint16     { return binary.BigEndian.Uint16(b[icmpSeq:]) }
func (b ICMPv6) SetSeq(s uint16) { binary.BigEndian.PutUint16(b[icmpSeq:], s) }

// MTU is the MTU of a packet-too-big message (a 32-bit field).
func (b ICMPv6) MTU() uint32      { return binary.BigEndian.Uint32(b[icmpID:]) }
func (b ICMPv6) SetMTU(m uint32)  { binary.BigEndian.PutUint32(b[icmpID:], m) }
func (b ICMPv6) Rest() uint32     { return binary.BigEndian.Uint32(b[icmpID:]) }
func (b ICMPv6) SetRest(v uint32) { binary.BigEndian.PutUint32(b[icmpID:], v) }

// Payload is what follows the 8-byte fixed part.
func (b ICMPv6) Payload() []byte { return b[ICMPv6HeaderLen:] }

// ComputeChecksum returns the checksum over the whole message and the
// pseudo-header of src and dst, reading the checksum field as zero.
func (b ICMPv6) ComputeChecksum(src, dst netip.Addr) uint16 {
	sum := PseudoHeaderSum(src, dst, ProtoICMPv6, len(b))
	sum = Sum(b[:icmpChecksum], sum)
	return Fold(Sum(b[icmpChecksum+2:], sum))
}

// ICMPv6IsError reports whether an ICMPv6 type is an error message (types
// below 128, RFC 4443 2.1).
func ICMPv6IsError(typ uint8) bool { return typ < 128 }

// IsError reports whether b is an ICMPv6 error message.
func (b ICMPv6) IsError() bool { return ICMPv6IsError(b.Type()) }

// icmpv6HasID reports whether messages of type typ carry an identifier
// that names the exchange (as icmpv6_pkt_to_tuple's reply map).
func icmpv6HasID(typ uint8) bool {
	switch typ {
	case ICMPv6EchoRequest, ICMPv6EchoReply, ICMPv6NodeInfoQuery, ICMPv6NodeInfoReply:
		return true
	}
	return false
}
