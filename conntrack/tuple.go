package conntrack

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/nfgo/nfgo/packet"
)

// Dir is the direction of a packet relative to its connection.
type Dir uint8

const (
	DirOriginal Dir = 0 // IP_CT_DIR_ORIGINAL
	DirReply    Dir = 1 // IP_CT_DIR_REPLY
)

// Tuple identifies one direction of a connection, as the kernel's
// nf_conntrack_tuple plus the zone. It is comparable and pointer-free.
//
// Addresses are 16 bytes; an IPv4 address fills the first 4 and leaves the
// rest zero. For ICMP and ICMPv6 queries SrcPort is the identifier and
// DstPort is type<<8 | code, as the kernel keeps src.u.icmp.id and
// dst.u.icmp.type/code. Protocols without ports leave both zero.
type Tuple struct {
	Src, Dst [16]byte
	SrcPort  uint16
	DstPort  uint16
	Proto    uint8
	Family   packet.Family
	Zone     uint16
}

// TupleFrom builds a tuple from addresses and ports (or ICMP id and
// type/code, see Tuple). The family follows the addresses.
func TupleFrom(src, dst netip.AddrPort, proto uint8) Tuple {
	var t Tuple
	t.Proto = proto
	s, d := src.Addr(), dst.Addr()
	if s.Is4() {
		t.Family = packet.FamilyIPv4
		a, b := s.As4(), d.As4()
		copy(t.Src[:4], a[:])
		copy(t.Dst[:4], b[:])
	} else {
		t.Family = packet.FamilyIPv6
		t.Src, t.Dst = s.As16(), d.As16()
	}
	t.SrcPort, t.DstPort = src.Port(), dst.Port()
	return t
}

// SrcAddr is the source address.
func (t *Tuple) SrcAddr() netip.Addr { return t.addr(&t.Src) }

// DstAddr is the destination address.
func (t *Tuple) DstAddr() netip.Addr { return t.addr(&t.Dst) }

func (t *Tuple) addr(a *[16]byte) netip.Addr {
	if t.Family == packet.FamilyIPv4 {
		return netip.AddrFrom4([4]byte(a[:4]))
	}
	return netip.AddrFrom16(*a)
}

// SetSrcAddr and SetDstAddr replace an address (for NAT's reply tuple).
func (t *Tuple) SetSrcAddr(a netip.Addr) { t.Src = addr16(a) }
func (t *Tuple) SetDstAddr(a netip.Addr) { t.Dst = addr16(a) }

func addr16(a netip.Addr) (b [16]byte) {
	if a.Is4() {
		v := a.As4()
		copy(b[:4], v[:])
		return b
	}
	return a.As16()
}

// String formats the tuple as conntrack(8) does.
func (t Tuple) String() string {
	s := protoName(t.Proto) + " src=" + t.SrcAddr().String() + " dst=" + t.DstAddr().String()
	switch t.Proto {
	case packet.ProtoICMP, packet.ProtoICMPv6:
		s += " type=" + strconv.Itoa(int(t.DstPort>>8)) + " code=" + strconv.Itoa(int(t.DstPort&0xff)) +
			" id=" + strconv.Itoa(int(t.SrcPort))
	default:
		if hasPorts(t.Proto) {
			s += " sport=" + strconv.Itoa(int(t.SrcPort)) + " dport=" + strconv.Itoa(int(t.DstPort))
		}
	}
	if t.Zone != 0 {
		s += " zone=" + strconv.Itoa(int(t.Zone))
	}
	return s
}

func protoName(p uint8) string {
	switch p {
	case packet.ProtoTCP:
		return "tcp"
	case packet.ProtoUDP:
		return "udp"
	case protoUDPLite:
		return "udplite"
	case packet.ProtoICMP:
		return "icmp"
	case packet.ProtoICMPv6:
		return "icmpv6"
	}
	return "proto=" + strconv.Itoa(int(p))
}

const (
	protoUDPLite = 136
	protoSCTP    = 132
	protoDCCP    = 33
)

// hasPorts reports whether the protocol's tuple carries ports.
func hasPorts(p uint8) bool {
	switch p {
	case packet.ProtoTCP, packet.ProtoUDP, protoUDPLite, protoSCTP, protoDCCP:
		return true
	}
	return false
}

// words is the tuple as five 64-bit words, the input of the hash.
func (t *Tuple) words() (w0, w1, w2, w3, w4 uint64) {
	w0 = binary.LittleEndian.Uint64(t.Src[0:8])
	w1 = binary.LittleEndian.Uint64(t.Src[8:16])
	w2 = binary.LittleEndian.Uint64(t.Dst[0:8])
	w3 = binary.LittleEndian.Uint64(t.Dst[8:16])
	w4 = uint64(t.SrcPort) | uint64(t.DstPort)<<16 | uint64(t.Proto)<<32 |
		uint64(t.Family)<<40 | uint64(t.Zone)<<48
	return
}

// equal compares two tuples word by word, without a call to memequal.
func (t *Tuple) equal(o *Tuple) bool {
	a0, a1, a2, a3, a4 := t.words()
	b0, b1, b2, b3, b4 := o.words()
	return (a0^b0)|(a1^b1)|(a2^b2)|(a3^b3)|(a4^b4) == 0
}

// invert returns the tuple of the other direction: addresses and ports
// swapped; for ICMP queries the type turned into its answer (as
// nf_ct_invert_tuple / icmp_invert_tuple). ok is false for an ICMP type that
// has no answer.
func (t Tuple) invert() (r Tuple, ok bool) {
	return r, t.invertTo(&r)
}

// invertTo is invert writing the inverse into r, which must not be t.
func (t *Tuple) invertTo(r *Tuple) bool {
	*r = *t
	r.Src, r.Dst = t.Dst, t.Src
	switch t.Proto {
	case packet.ProtoICMP, packet.ProtoICMPv6:
		inv, ok := icmpInverse(t.Proto, uint8(t.DstPort>>8))
		if !ok {
			return false
		}
		r.SrcPort = t.SrcPort
		r.DstPort = uint16(inv)<<8 | t.DstPort&0xff
	default:
		r.SrcPort, r.DstPort = t.DstPort, t.SrcPort
	}
	return true
}

// invertible reports whether t has an inverse (invert's ok).
func (t *Tuple) invertible() bool {
	if t.Proto != packet.ProtoICMP && t.Proto != packet.ProtoICMPv6 {
		return true
	}
	_, ok := icmpInverse(t.Proto, uint8(t.DstPort>>8))
	return ok
}

// key is a tuple as the five words of Tuple.words: what the hash and the
// comparisons of the packet path read. Track builds it from the packet's
// bytes with whole-word loads and stores, and makes a Tuple of it only when
// it has to create an entry.
type key [5]uint64

func (t *Tuple) key() key {
	w0, w1, w2, w3, w4 := t.words()
	return key{w0, w1, w2, w3, w4}
}

// tuple is the Tuple whose words are k.
func (k *key) tuple() (t Tuple) {
	binary.LittleEndian.PutUint64(t.Src[0:8], k[0])
	binary.LittleEndian.PutUint64(t.Src[8:16], k[1])
	binary.LittleEndian.PutUint64(t.Dst[0:8], k[2])
	binary.LittleEndian.PutUint64(t.Dst[8:16], k[3])
	t.SrcPort, t.DstPort = uint16(k[4]), uint16(k[4]>>16)
	t.Proto, t.Family, t.Zone = uint8(k[4]>>32), packet.Family(k[4]>>40), uint16(k[4]>>48)
	return t
}

// is reports whether t is the tuple of k, without a branch per word.
func (k *key) is(t *Tuple) bool {
	b0, b1, b2, b3, b4 := t.words()
	return (k[0]^b0)|(k[1]^b1)|(k[2]^b2)|(k[3]^b3)|(k[4]^b4) == 0
}

func (k *key) proto() uint8 { return uint8(k[4] >> 32) }
