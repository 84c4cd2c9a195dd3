package nat

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/nfgo/nfgo/conntrack"
)

// bySource finds a connection from a given client address and port that
// has a source binding, so that the client's next connection can reuse its
// translation (the kernel's nf_nat_bysource hash and find_appropriate_src).
//
// It is a cache, not an index: a pointer-free array of buckets of slots,
// written with atomic stores and read without locks. Nothing removes a
// slot when its connection ends; a reader checks that the slot still holds
// a live source-bound connection of that client before using it, and a
// writer overwrites dead slots first. A miss only means a new mapping is
// chosen instead of an existing one reused.
type bySource struct {
	b    []bsBucket
	mask uint64
}

const bsWays = 4

// A word is slot<<32 | gen<<16 | tag: the tag is 16 bits of the client's
// hash, so that a lookup reads only the entries of (probably) its own
// client, and gen the low 16 bits of the slot's conntrack generation
// (Table.Gen) when it was noted, so that a slot reused since is passed over
// without reading its entry, a cache miss.
type bsBucket [bsWays]atomic.Uint64

func bsWord(slot, gen uint32, tag uint64) uint64 {
	return uint64(slot)<<32 | uint64(uint16(gen))<<16 | tag&0xffff
}

// current reports whether word w still names the entry its slot held when
// it was noted.
func (n *NAT) current(w uint64) bool {
	return uint16(w>>16) == uint16(n.t.Gen(uint32(w>>32)))
}

func (b *bySource) init(size int) {
	n := 64
	for n < size {
		n <<= 1
	}
	b.b = make([]bsBucket, n)
	b.mask = uint64(n - 1)
}

// srcKey is the client end of the connection whose reply tuple is r0: its
// address and port (or ICMP id).
func srcKey(r0 *conntrack.Tuple) uint16 {
	if k := key(r0, ManipSrc); k != nil {
		return *k
	}
	return 0
}

func (b *bySource) bucket(n *NAT, r0 *conntrack.Tuple) (*bsBucket, uint64) {
	h := mix(n.seed ^ binary.LittleEndian.Uint64(r0.Dst[:8]) ^ uint64(r0.Proto)<<56)
	h = mix(h ^ binary.LittleEndian.Uint64(r0.Dst[8:]) ^ uint64(srcKey(r0))<<32 ^ uint64(r0.Zone))
	return &b.b[h&b.mask], h >> 32
}

// live reports whether slot holds a connection with a source binding
// whose client end is r0's; it returns its reply tuple. The caller is
// inside its worker's conntrack read section (between Track and Quiesce),
// so a confirmed entry's slot is not reused under it.
func (n *NAT) live(slot uint32, r0 *conntrack.Tuple) (conntrack.Tuple, bool) {
	st := n.t.Status(slot)
	if st&(conntrack.StatusConfirmed|conntrack.StatusDying|conntrack.StatusSrcNATDone) !=
		conntrack.StatusConfirmed|conntrack.StatusSrcNATDone {
		return conntrack.Tuple{}, false
	}
	var o conntrack.Tuple
	n.t.CopyTuple(&o, slot, conntrack.DirOriginal)
	if o.Proto != r0.Proto || o.Family != r0.Family || o.Zone != r0.Zone || o.Src != r0.Dst {
		return conntrack.Tuple{}, false
	}
	rr := n.t.Tuple(slot, conntrack.DirReply)
	if k := key(&rr, ManipSrc); k != nil && o.SrcPort != srcKey(r0) {
		return conntrack.Tuple{}, false
	}
	return rr, true
}

// find returns r0 with its source mapped as another connection of the same
// client is, if that fits range rg. bk and tag are r0's (bucket).
func (b *bySource) find(n *NAT, bk *bsBucket, tag uint64, r0 *conntrack.Tuple, rg *natRange) (conntrack.Tuple, bool) {
	for i := range bk {
		w := bk[i].Load()
		if w == 0 || w&0xffff != tag&0xffff || !n.current(w) {
			continue
		}
		rr, ok := n.live(uint32(w>>32), r0)
		if !ok {
			continue
		}
		c := *r0
		c.Dst = rr.Dst
		if k := key(&c, ManipSrc); k != nil {
			*k = *key(&rr, ManipSrc)
		}
		if rg.inRange(&c) {
			return c, true
		}
	}
	return conntrack.Tuple{}, false
}

// add records that slot, whose reply tuple was r0 before its source
// binding, is a connection of r0's client; bk and tag are r0's (bucket).
func (b *bySource) add(n *NAT, bk *bsBucket, tag uint64, slot uint32) {
	way := int(slot % bsWays)
	for i := range bk {
		w := bk[i].Load()
		s := uint32(w >> 32)
		if w == 0 || s == slot || !n.current(w) {
			way = i // free, this slot's, or a reused slot's
			break
		}
		if n.t.Status(s)&(conntrack.StatusConfirmed|conntrack.StatusDying) != conntrack.StatusConfirmed {
			way = i // a dead or not yet confirmed connection's
		}
	}
	bk[way].Store(bsWord(slot, n.t.Gen(slot), tag))
}
