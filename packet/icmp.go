package packet

import "encoding/binary"

// ICMPv4 is an ICMP message (RFC 792): type, code, checksum, four bytes
// whose meaning depends on the type, then the body.
type ICMPv4 []byte

const (
	icmpType     = 0
	icmpCode     = 1
	icmpChecksum = 2
	icmpID       = 4
	icmpSeq      = 6
	icmpMTU      = 6

	// ICMPv4HeaderLen is the length of the fixed part.
	ICMPv4HeaderLen = 8
)

// ICMPv4 types.
const (
	ICMPv4EchoReply       = 0
	ICMPv4DestUnreachable = 3
	ICMPv4SourceQuench    = 4
	ICMPv4Redirect        = 5
	ICMPv4Echo            = 8
	ICMPv4TimeExceeded    = 11
	ICMPv4ParamProblem    = 12
	ICMPv4Timestamp       = 13
	ICMPv4TimestampReply  = 14
	ICMPv4InfoRequest     = 15
	ICMPv4InfoReply       = 16
	ICMPv4AddrMaskRequest = 17
	ICMPv4AddrMaskReply   = 18
)

// ICMPv4 destination-unreachable codes.
const (
	ICMPv4NetUnreachable   = 0
	ICMPv4HostUnreachable  = 1
	ICMPv4ProtoUnreachable = 2
	ICMPv4PortUnreachable  = 3
	ICMPv4FragNeeded       = 4
	ICMPv4NetProhibited    = 9
	ICMPv4HostProhibited   = 10
	ICMPv4AdminProhibited  = 13
)

// ICMPv4 time-exceeded codes.
const (
	ICMPv4TTLExceeded        = 0
	ICMPv4ReassemblyExceeded = 1
)

func (b ICMPv4) Type() uint8          { return b[icmpType] }
func (b ICMPv4) Code() uint8          { return b[icmpCode] }
func (b ICMPv4) SetType(t uint8)      { b[icmpType] = t }
func (b ICMPv4) SetCode(c uint8)      { b[icmpCode] = c }
func (b ICMPv4) Checksum() uint16     { return binary.BigEndian.Uint16(b[icmpChecksum:]) }
func (b ICMPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[icmpChecksum:], c) }

// ID is the identifier of echo, timestamp, information and address-mask
// messages.
func (b ICMPv4) ID() uint16      { return binary.BigEndian.Uint16(b[icmpID:]) }
func (b ICMPv4) SetID(id uint16) { binary.BigEndian.PutUint16(b[icmpID:], id) }
func (b ICMPv4) Seq() uint16     { return binary.BigEndian.Uint16(b[icmpSeq:]) }
func (b ICMPv4) SetSeq(s uint16) { binary.BigEndian.PutUint16(b[icmpSeq:], s) }

// MTU is the next-hop MTU of a fragmentation-needed message (RFC 1191).
func (b ICMPv4) MTU() uint16      { return binary.BigEndian.Uint16(b[icmpMTU:]) }
func (b ICMPv4) SetMTU(m uint16)  { binary.BigEndian.PutUint16(b[icmpMTU:], m) }
func (b ICMPv4) Rest() uint32     { return binary.BigEndian.Uint32(b[icmpID:]) }
func (b ICMPv4) SetRest(v uint32) { binary.BigEndian.PutUint32(b[icmpID:], v) }

// Payload is what follows the 8-byte fixed part: for an error, the
// offending packet's IP header and at least 8 bytes of what followed it.
func (b ICMPv4) Payload() []byte { return b[ICMPv4HeaderLen:] }

// ComputeChecksum returns the checksum over the whole message, reading the
// checksum field as zero.
func (b ICMPv4) ComputeChecksum() uint16 {
	return Fold(Sum(b[icmpChecksum+2:], Sum(b[:icmpChecksum], 0)))
}

// ICMPv4IsError reports whether an ICMPv4 type is an error message, which
// carries a piece of the packet that caused it (icmp_is_err: unreachable,
// source quench, redirect, time exceeded, parameter problem).
func ICMPv4IsError(typ uint8) bool {
	switch typ {
	case ICMPv4DestUnreachable, ICMPv4SourceQuench, ICMPv4Redirect,
		ICMPv4TimeExceeded, ICMPv4ParamProblem:
		return true
	}
	return false
}

// IsError reports whether b is an ICMPv4 error message.
func (b ICMPv4) IsError() bool { return ICMPv4IsError(b.Type()) }

// icmpv4HasID reports whether messages of type typ carry an identifier
// that names the exchange (the types icmp_pkt_to_tuple's reply map knows).
func icmpv4HasID(typ uint8) bool {
	switch typ {
	case ICMPv4EchoReply, ICMPv4Echo, ICMPv4Timestamp, ICMPv4TimestampReply,
		ICMPv4InfoRequest, ICMPv4InfoReply, ICMPv4AddrMaskRequest, ICMPv4AddrMaskReply:
		return true
	}
	return false
}
