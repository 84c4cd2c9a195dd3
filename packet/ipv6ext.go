package packet

import "encoding/binary"

// IPv6 extension headers (RFC 8200 section 4). Every one but the fragment
// header starts with Next Header and Hdr Ext Len; Walk follows the chain
// to the upper-layer header.

// MaxIPv6ExtHeaders bounds the extension-header chain Walk follows. RFC
// 8200 asks for at most one of each (destination options twice), which is
// six; a longer chain is crafted, not sent.
const MaxIPv6ExtHeaders = 8

// IPv6Fragment is an IPv6 fragment header.
type IPv6Fragment []byte

const (
	ipv6FragNextHeader = 0
	ipv6FragOffsetM    = 2
	ipv6FragID         = 4

	// IPv6FragmentLen is the length of a fragment header.
	IPv6FragmentLen = 8
)

func (b IPv6Fragment) NextHeader() uint8 { return b[ipv6FragNextHeader] }

// FragmentOffset is the fragment offset in bytes.
func (b IPv6Fragment) FragmentOffset() uint16 {
	return binary.BigEndian.Uint16(b[ipv6FragOffsetM:]) &^ 7
}

func (b IPv6Fragment) MoreFragments() bool { return b[ipv6FragOffsetM+1]&1 != 0 }
func (b IPv6Fragment) ID() uint32          { return binary.BigEndian.Uint32(b[ipv6FragID:]) }

// IsExtensionHeader reports whether proto is an IPv6 extension header that
// Walk steps over (ipv6_ext_hdr, without "no next header").
func IsExtensionHeader(proto uint8) bool {
	switch proto {
	case ProtoHopOpts, ProtoRouting, ProtoIPv6Fragment, ProtoAH, ProtoDstOpts:
		return true
	}
	return false
}

// IPv6Upper is where an IPv6 packet's extension-header chain ends.
type IPv6Upper struct {
	// Proto is the upper-layer protocol: the Next Header of the last
	// extension header, ProtoNoNext if the chain says there is none. For a
	// non-first fragment it is the fragment header's Next Header.
	Proto uint8
	// Offset is where the upper-layer header starts, from the start of the
	// IPv6 header. For a non-first fragment it is where the fragment's data
	// starts.
	Offset int
	// ExtHeaders counts the extension headers walked.
	ExtHeaders int

	// Fragment is set when a fragment header says the packet is a piece
	// of a larger one (offset or M not zero). An atomic fragment (RFC
	// 6946: offset 0, M 0) is a whole packet and leaves it false.
	Fragment  bool
	FragOff   uint16 // in bytes
	MoreFrags bool
	FragID    uint32
	// FragHdrOff is the offset of the fragment header, 0 if there is none.
	FragHdrOff int
}

// Walk follows the extension-header chain of b, which must be a whole
// IPv6 packet cut at its payload length (at least IPv6HeaderLen bytes), in
// the manner of ipv6_skip_exthdr. It stops at the first header that is not
// an extension header, at "no next header", and at a fragment header
// whose offset is not zero, since what follows it is not a header. The
// walk reads at most MaxIPv6ExtHeaders headers and never past b.
//
// Hop-by-hop options must come first (RFC 8200 4.1; ip6_input drops the
// packet otherwise).
func (b IPv6) Walk() (u IPv6Upper, r Reason) {
	next := b.NextHeader()
	off := IPv6HeaderLen
	for IsExtensionHeader(next) {
		if u.ExtHeaders == MaxIPv6ExtHeaders {
			return u, ReasonIPv6ExtChainTooLong
		}
		if next == ProtoHopOpts && u.ExtHeaders != 0 {
			return u, ReasonIPv6HopByHopNotFirst
		}
		if len(b)-off < 8 {
			return u, ReasonTruncatedIPv6Ext
		}
		var hlen int
		switch next {
		case ProtoIPv6Fragment:
			f := IPv6Fragment(b[off : off+IPv6FragmentLen])
			u.FragHdrOff = off
			u.FragOff = f.FragmentOffset()
			u.MoreFrags = f.MoreFragments()
			u.FragID = f.ID()
			u.Fragment = u.FragOff != 0 || u.MoreFrags
			hlen = IPv6FragmentLen
		case ProtoAH:
			// AH counts 4-octet units, less two (RFC 4302 2.2).
			hlen = (int(b[off+1]) + 2) * 4
		default:
			hlen = (int(b[off+1]) + 1) * 8
		}
		if hlen > len(b)-off {
			return u, ReasonTruncatedIPv6Ext
		}
		next = b[off]
		off += hlen
		u.ExtHeaders++
		if u.FragOff != 0 {
			break
		}
	}
	u.Proto = next
	u.Offset = off
	return u, ReasonNone
}
