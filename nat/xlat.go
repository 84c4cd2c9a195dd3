package nat

import (
	"sync"
	"sync/atomic"

	"github.com/nfgo/nfgo/conntrack"
)

// xlats keeps, per conntrack slot, a copy of the two tuples of a NATed
// connection, written when it is bound (before it is confirmed, while the
// entry is private to its worker) and read by Do for every later packet.
//
// It exists for speed: conntrack.Table.Tuple returns the 40-byte tuple by
// value, and the compiler copies it twice through the stack with
// overlapping 16-byte moves, whose reads then wait for store forwarding to
// fail, about 8 ns per packet. Reading through a pointer into this slab
// costs nothing of the sort. The copy is valid whenever the entry's status
// has a NAT bit: the bits are set (atomically) after the copy is written,
// the tuples do not change once the entry is confirmed, and conntrack does
// not reuse a slot while a worker that may carry it is in its read section.
//
// Slots beyond the slab, if conntrack ever hands them out, take the
// Table.Tuple path. The slab is pointer-free (the GC does not scan it) and
// is allocated on the first binding, 80 bytes per slot.
type xlats struct {
	p    atomic.Pointer[[]xlat]
	once sync.Once
	n    int
}

type xlat [2]conntrack.Tuple // indexed by conntrack.Dir

func (x *xlats) init(max int) { x.n = max + max/16 + 1024 } // the size of conntrack's slab

// get returns the copy for slot, or nil.
func (x *xlats) get(slot uint32) *xlat {
	s := x.p.Load()
	if s == nil || int(slot) >= len(*s) {
		return nil
	}
	return &(*s)[slot]
}

// record copies the tuples of slot, before its NAT bits are set.
func (x *xlats) record(t *conntrack.Table, slot uint32) {
	x.once.Do(func() {
		s := make([]xlat, x.n)
		x.p.Store(&s)
	})
	if e := x.get(slot); e != nil {
		e[conntrack.DirOriginal] = t.Tuple(slot, conntrack.DirOriginal)
		e[conntrack.DirReply] = t.Tuple(slot, conntrack.DirReply)
	}
}
