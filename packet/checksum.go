package packet

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// The Internet checksum (RFC 1071): the one's-complement sum of the data
// taken as big-endian 16-bit words, complemented. Sum gives the partial
// sum, which can be chained; Fold turns a partial sum into the value of a
// checksum field. The Update* functions change a checksum field after one
// field of the data changed, without reading the rest (RFC 1624).

// Sum adds b to the one's-complement partial sum initial and returns the
// new partial sum (not folded to 16 bits, not complemented). An odd last
// byte is padded with a zero byte, so only the last piece of a chain of
// Sum calls may have odd length.
//
// It adds eight bytes at a time into a 64-bit accumulator with
// end-around carry; the one's-complement sum is the same whatever the word
// size, because 2^64-1 is a multiple of 2^16-1.
func Sum(b []byte, initial uint32) uint32 {
	acc := uint64(initial)
	var c uint64
	for len(b) >= 32 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[0:8]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[8:16]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[16:24]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[24:32]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b), c)
		b = b[8:]
	}
	// Fold the pending carry in; if that overflows, acc is 0 and the
	// second carry cannot overflow again.
	acc, c = bits.Add64(acc, 0, c)
	acc += c
	var tail uint64
	if len(b) >= 4 {
		tail = uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		tail += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		tail += uint64(b[0]) << 8
	}
	acc, c = bits.Add64(acc, tail, 0)
	acc += c
	return fold64(acc)
}

// fold64 folds a 64-bit one's-complement sum to 32 bits.
func fold64(acc uint64) uint32 {
	acc = (acc >> 32) + (acc & 0xffffffff) // < 2^33
	acc = (acc >> 32) + (acc & 0xffffffff) // <= 2^32
	acc = (acc >> 32) + (acc & 0xffffffff) // < 2^32
	return uint32(acc)
}

// Fold folds a partial sum to 16 bits and complements it: the value to
// store in a checksum field whose data (with the field read as zero) sums
// to sum. Over data that includes a correct checksum field it gives 0.
func Fold(sum uint32) uint16 {
	sum = (sum >> 16) + (sum & 0xffff)
	sum = (sum >> 16) + (sum & 0xffff)
	return ^uint16(sum)
}

// PseudoHeaderSum is the partial sum of the TCP/UDP/ICMPv6 pseudo-header:
// the two addresses, the protocol and the upper-layer length (RFC 793,
// RFC 768, RFC 8200 section 8.1). The addresses decide the family; src and
// dst must be of the same family.
func PseudoHeaderSum(src, dst netip.Addr, proto uint8, length int) uint32 {
	acc := uint64(proto) + uint64(uint32(length))
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		acc += uint64(binary.BigEndian.Uint32(s[:])) + uint64(binary.BigEndian.Uint32(d[:]))
		return fold64(acc)
	}
	s, d := src.As16(), dst.As16()
	var c uint64
	acc, c = bits.Add64(acc, binary.BigEndian.Uint64(s[0:8]), 0)
	acc, c = bits.Add64(acc, binary.BigEndian.Uint64(s[8:16]), c)
	acc, c = bits.Add64(acc, binary.BigEndian.Uint64(d[0:8]), c)
	acc, c = bits.Add64(acc, binary.BigEndian.Uint64(d[8:16]), c)
	acc, c = bits.Add64(acc, 0, c)
	acc += c
	return fold64(acc)
}

// The incremental updates use RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'),
// which (unlike eqn. 2, HC - m + m', of RFC 1141) never turns a sum that
// should give 0x0000 into 0xFFFF: an end-around-carry sum is zero only
// when every addend is, so the result is what a full recomputation gives
// for any data that is not all zeros.

// UpdateChecksum16 returns the checksum field check after a 16-bit word of
// the data changed from old to new.
func UpdateChecksum16(check, old, new uint16) uint16 {
	sum := uint32(^check) + uint32(^old) + uint32(new)
	sum = (sum >> 16) + (sum & 0xffff)
	sum = (sum >> 16) + (sum & 0xffff)
	return ^uint16(sum)
}

// UpdateChecksum32 returns the checksum field check after a 32-bit word of
// the data (at an even offset, e.g. an IPv4 address) changed from old to
// new.
func UpdateChecksum32(check uint16, old, new uint32) uint16 {
	sum := uint64(^check) + uint64(^uint16(old>>16)) + uint64(^uint16(old)) +
		uint64(new>>16) + uint64(new&0xffff)
	s := uint32(sum)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return ^uint16(s)
}

// UpdateChecksumBytes returns the checksum field check after the bytes old
// of the data were replaced by new. old and new must have the same, even
// length and start at an even offset of the data (4- or 16-byte addresses).
func UpdateChecksumBytes(check uint16, old, new []byte) uint16 {
	// ~m for many words is the complement of their folded sum.
	m := Sum(old, 0)
	m = (m >> 16) + (m & 0xffff)
	m = (m >> 16) + (m & 0xffff)
	sum := uint64(^check) + uint64(^uint16(m)) + uint64(Sum(new, 0))
	s := fold64(sum)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return ^uint16(s)
}
