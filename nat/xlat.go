package nat

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/packet"
)

// xlats keeps, per conntrack slot, what the rewrite of an established NATed
// connection needs: a copy of its two tuples and, for each direction and
// manip, the checksum deltas of the rewrite, computed once when it is bound
// (before it is confirmed, while the entry is private to its worker) and
// used by Do for every later packet.
//
// It exists for speed. conntrack.Table.Tuple returns the 40-byte tuple by
// value, and the compiler copies it twice through the stack with
// overlapping 16-byte moves, whose reads then wait for store forwarding to
// fail, about 8 ns per packet; reading through a pointer into this slab
// costs nothing of the sort. And a packet of a tracked connection carries
// its tuple's addresses and ports, so the old values of the fields a manip
// writes are known at binding time, and with them the RFC 1624 deltas of
// the checksums: the per-packet work is a compare, two stores and two
// checksum additions.
//
// The copy is valid whenever the entry's status has a NAT bit: the bits
// are set (atomically) after the copy is written, the tuples do not change
// once the entry is confirmed, and conntrack does not reuse a slot while a
// worker that may carry it is in its read section. Slots beyond the slab,
// if conntrack ever hands them out, take the Table.Tuple path. The slab is
// pointer-free (the GC does not scan it) and is allocated on the first
// binding, 148 bytes per slot.
type xlats struct {
	p    atomic.Pointer[[]xlat]
	once sync.Once
	n    int
}

type xlat struct {
	tup  [2]conntrack.Tuple // by conntrack.Dir
	rw   [2][2]fastRW       // by conntrack.Dir and Manip
	coff uint8              // offset of the TCP or UDP checksum; 0 for other protocols
}

// fastRW is one rewrite: the old and new values of the field it changes
// (for IPv6, the addresses are in the tuples) and the folded checksum
// deltas, of the IPv4 header (the address) and of the TCP or UDP checksum
// (the pseudo-header's address and the port). Folding first changes no
// result: a one's-complement sum is zero only when every addend is.
//
// Every value is in the machine's byte order as a load of the packet's
// bytes reads it (binary.NativeEndian), so that fastRun swaps no
// bytes: a one's-complement sum comes out the same, byte-swapped, when its
// addends are byte-swapped (RFC 1071, 2.B), and so do its complement and
// its tests against 0 and 0xffff.
type fastRW struct {
	oa, na uint32 // IPv4 addresses
	op, np uint16
	ip, l4 uint16
}

func (x *xlats) init(max int) { x.n = max + max/16 + 1024 } // the size of conntrack's slab

// slab returns the copies, nil before the first binding.
func (x *xlats) slab() []xlat {
	if s := x.p.Load(); s != nil {
		return *s
	}
	return nil
}

// get returns the copy for slot, or nil.
func (x *xlats) get(slot uint32) *xlat {
	s := x.slab()
	if int(slot) >= len(s) {
		return nil
	}
	return &s[slot]
}

// record copies the tuples of slot and computes the rewrites' deltas,
// before its NAT bits are set.
func (x *xlats) record(t *conntrack.Table, slot uint32) {
	x.once.Do(func() {
		s := make([]xlat, x.n)
		x.p.Store(&s)
	})
	e := x.get(slot)
	if e == nil {
		return
	}
	t.CopyTuple(&e.tup[conntrack.DirOriginal], slot, conntrack.DirOriginal)
	t.CopyTuple(&e.tup[conntrack.DirReply], slot, conntrack.DirReply)
	e.record1()
}

// native16 is v, in network byte order, as a load of its two bytes in
// the machine's order reads them.
func native16(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// checksumOff is where the checksum of a transport header of protocol
// proto is, or 0 for a protocol fastRun does not take.
func checksumOff(proto uint8) uint8 {
	switch proto {
	case packet.ProtoTCP:
		return 16
	case packet.ProtoUDP:
		return 6
	}
	return 0
}

// record1 computes the deltas from the tuples.
func (e *xlat) record1() {
	e.coff = checksumOff(e.tup[0].Proto)
	for d := range 2 {
		for m := range 2 {
			oa, op, na, np := e.fields(conntrack.Dir(d), Manip(m))
			// As rewrite: an unchanged address or port adds nothing (not
			// its one's-complement zero, which would turn a checksum
			// field of 0xffff into 0).
			var ip, l4 uint32
			if n := alen(e.tup[0].Family); string(oa[:n]) != string(na[:n]) {
				for i := 0; i < n; i += 2 {
					ip += uint32(^binary.BigEndian.Uint16(oa[i:])) + uint32(binary.BigEndian.Uint16(na[i:]))
				}
			}
			if l4 = ip; op != np {
				l4 += uint32(^op) + uint32(np)
			}
			ne := binary.NativeEndian
			e.rw[d][m] = fastRW{
				oa: ne.Uint32(oa[:4]), na: ne.Uint32(na[:4]),
				op: native16(op), np: native16(np), ip: native16(fold(ip)), l4: native16(fold(l4)),
			}
		}
	}
}

// fields are the old and new address and port that manip m writes in a
// packet travelling in direction d: the packet is made to look like the
// inverse of the other direction's tuple (nf_nat_manip_pkt).
func (e *xlat) fields(d conntrack.Dir, m Manip) (oa *[16]byte, op uint16, na *[16]byte, np uint16) {
	cur, o := &e.tup[d&1], &e.tup[(d^1)&1]
	if m == ManipSrc {
		return &cur.Src, cur.SrcPort, &o.Dst, o.DstPort
	}
	return &cur.Dst, cur.DstPort, &o.Src, o.SrcPort
}

func alen(f packet.Family) int {
	if f == packet.FamilyIPv4 {
		return 4
	}
	return 16
}

// applyFolded is apply for a delta already folded to 16 bits: one fold
// is enough, as ^c + d is at most 0x1fffe.
func applyFolded(c, d uint16) uint16 {
	s := uint32(^c) + uint32(d)
	return ^uint16(s + s>>16)
}

func fold(s uint32) uint16 {
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	return uint16(s)
}
