package packet

import (
	"encoding/binary"
	"net/netip"
)

// TCP is a TCP header and its payload (RFC 9293).
type TCP []byte

const (
	tcpSrcPort    = 0
	tcpDstPort    = 2
	tcpSeq        = 4
	tcpAck        = 8
	tcpDataOffset = 12
	tcpFlags      = 13
	tcpWindow     = 14
	tcpChecksum   = 16
	tcpUrgent     = 18

	// TCPMinHeaderLen is the length of a header without options.
	TCPMinHeaderLen = 20
	// TCPMaxHeaderLen is the length of a header with data offset 15.
	TCPMaxHeaderLen = 60
)

// TCP flags, as Flags returns them.
const (
	TCPFlagFIN = 0x01
	TCPFlagSYN = 0x02
	TCPFlagRST = 0x04
	TCPFlagPSH = 0x08
	TCPFlagACK = 0x10
	TCPFlagURG = 0x20
	TCPFlagECE = 0x40
	TCPFlagCWR = 0x80
)

// TCP option kinds.
const (
	TCPOptEnd           = 0
	TCPOptNOP           = 1
	TCPOptMSS           = 2
	TCPOptWindowScale   = 3
	TCPOptSACKPermitted = 4
	TCPOptSACK          = 5
	TCPOptTimestamps    = 8

	// TCPMaxWindowScale is the largest shift RFC 7323 allows; larger
	// values are read as 14, as the kernel does (TCP_MAX_WSCALE).
	TCPMaxWindowScale = 14
)

func (b TCP) SrcPort() uint16        { return binary.BigEndian.Uint16(b[tcpSrcPort:]) }
func (b TCP) DstPort() uint16        { return binary.BigEndian.Uint16(b[tcpDstPort:]) }
func (b TCP) SetSrcPort(p uint16)    { binary.BigEndian.PutUint16(b[tcpSrcPort:], p) }
func (b TCP) SetDstPort(p uint16)    { binary.BigEndian.PutUint16(b[tcpDstPort:], p) }
func (b TCP) Seq() uint32            { return binary.BigEndian.Uint32(b[tcpSeq:]) }
func (b TCP) SetSeq(v uint32)        { binary.BigEndian.PutUint32(b[tcpSeq:], v) }
func (b TCP) Ack() uint32            { return binary.BigEndian.Uint32(b[tcpAck:]) }
func (b TCP) SetAck(v uint32)        { binary.BigEndian.PutUint32(b[tcpAck:], v) }
func (b TCP) Flags() uint8           { return b[tcpFlags] }
func (b TCP) SetFlags(f uint8)       { b[tcpFlags] = f }
func (b TCP) Window() uint16         { return binary.BigEndian.Uint16(b[tcpWindow:]) }
func (b TCP) SetWindow(w uint16)     { binary.BigEndian.PutUint16(b[tcpWindow:], w) }
func (b TCP) Checksum() uint16       { return binary.BigEndian.Uint16(b[tcpChecksum:]) }
func (b TCP) SetChecksum(c uint16)   { binary.BigEndian.PutUint16(b[tcpChecksum:], c) }
func (b TCP) Urgent() uint16         { return binary.BigEndian.Uint16(b[tcpUrgent:]) }
func (b TCP) SetUrgent(u uint16)     { binary.BigEndian.PutUint16(b[tcpUrgent:], u) }
func (b TCP) HasFlags(f uint8) bool  { return b[tcpFlags]&f == f }
func (b TCP) Options() []byte        { return b[TCPMinHeaderLen:b.DataOffset()] }
func (b TCP) Payload() []byte        { return b[b.DataOffset():] }
func (b TCP) SetDataOffset(hlen int) { b[tcpDataOffset] = uint8(hlen/4)<<4 | b[tcpDataOffset]&0xf }

// DataOffset is the header length in bytes.
func (b TCP) DataOffset() int { return int(b[tcpDataOffset]>>4) * 4 }

// ComputeChecksum returns the checksum of b (header and payload; b is the
// whole segment) with the pseudo-header of src and dst, reading the
// checksum field as zero.
func (b TCP) ComputeChecksum(src, dst netip.Addr) uint16 {
	sum := PseudoHeaderSum(src, dst, ProtoTCP, len(b))
	sum = Sum(b[:tcpChecksum], sum)
	return Fold(Sum(b[tcpChecksum+2:], sum))
}

// Option returns the data of the first option of the given kind (without
// kind and length) and true, or false if there is none. It walks the
// options as tcp_options and tcp_parse_options do: End stops, NOP is one
// byte, and an option whose length is below 2 or runs past the header ends
// the walk. It never reads past b, whatever the data offset says.
func (b TCP) Option(kind uint8) ([]byte, bool) {
	end := b.DataOffset()
	if end > len(b) {
		end = len(b)
	}
	if end <= TCPMinHeaderLen {
		return nil, false
	}
	opts := b[TCPMinHeaderLen:end]
	for len(opts) > 0 {
		k := opts[0]
		switch k {
		case TCPOptEnd:
			return nil, false
		case TCPOptNOP:
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 {
			return nil, false
		}
		n := int(opts[1])
		if n < 2 || n > len(opts) {
			return nil, false
		}
		if k == kind {
			return opts[2:n], true
		}
		opts = opts[n:]
	}
	return nil, false
}

// MSS is the maximum segment size option.
func (b TCP) MSS() (uint16, bool) {
	d, ok := b.Option(TCPOptMSS)
	if !ok || len(d) != 2 {
		return 0, false
	}
	return binary.BigEndian.Uint16(d), true
}

// WindowScale is the window scale option, its shift capped at
// TCPMaxWindowScale.
func (b TCP) WindowScale() (shift uint8, ok bool) {
	d, ok := b.Option(TCPOptWindowScale)
	if !ok || len(d) != 1 {
		return 0, false
	}
	return min(d[0], TCPMaxWindowScale), true
}

// SACKPermitted reports whether the SACK-permitted option is present.
func (b TCP) SACKPermitted() bool {
	d, ok := b.Option(TCPOptSACKPermitted)
	return ok && len(d) == 0
}

// Timestamps is the timestamps option (RFC 7323).
func (b TCP) Timestamps() (val, ecr uint32, ok bool) {
	d, ok := b.Option(TCPOptTimestamps)
	if !ok || len(d) != 8 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(d), binary.BigEndian.Uint32(d[4:]), true
}
