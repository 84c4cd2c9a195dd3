package ruleset

import "slices"

// ruleOrder is what a compiled chain knows of each of its rules by
// position: its handle, and its priority and ID in the classifier. It is
// kept in chunks of at most orderChunkLen entries, pointer-free, so that a
// change of a few rules copies the chunks it touches and shares the
// others with the previous matcher, and a rule is found by its handle
// without reading the rules themselves.
type ruleOrder struct {
	chunks []orderChunk
	n      int
}

type orderChunk struct {
	e      []orderEntry
	lo, hi uint64 // the smallest and largest handle in e
}

type orderEntry struct {
	handle   uint64
	prio, id uint32
}

const orderChunkLen = 512

func newRuleOrder(e []orderEntry) ruleOrder {
	var o ruleOrder
	o.chunks = appendChunks(nil, e)
	o.n = len(e)
	return o
}

// appendChunks cuts e into chunks, which share e's array.
func appendChunks(out []orderChunk, e []orderEntry) []orderChunk {
	for len(e) > 0 {
		k := min(len(e), orderChunkLen)
		c := orderChunk{e: e[:k:k], lo: ^uint64(0)}
		for _, x := range c.e {
			c.lo, c.hi = min(c.lo, x.handle), max(c.hi, x.handle)
		}
		out = append(out, c)
		e = e[k:]
	}
	return out
}

// at is the entry at position i.
func (o *ruleOrder) at(i int) orderEntry {
	for _, c := range o.chunks {
		if i < len(c.e) {
			return c.e[i]
		}
		i -= len(c.e)
	}
	panic("ruleOrder: position out of range")
}

// find is the position of the rule with handle h, or -1.
func (o *ruleOrder) find(h uint64) int {
	base := 0
	for _, c := range o.chunks {
		if c.lo <= h && h <= c.hi {
			for j, x := range c.e {
				if x.handle == h {
					return base + j
				}
			}
		}
		base += len(c.e)
	}
	return -1
}

// splice returns the order with the entries at [a, a+del) replaced by
// add; o does not change. Only the chunks the range touches are copied.
func (o *ruleOrder) splice(a, del int, add []orderEntry) ruleOrder {
	// The chunks [first, last) hold positions [a, a+del), and at least
	// the chunk position a falls in.
	first, start := 0, 0
	for first < len(o.chunks)-1 && start+len(o.chunks[first].e) <= a {
		start += len(o.chunks[first].e)
		first++
	}
	last, end := first, start
	for last < len(o.chunks) && (last == first || end < a+del) {
		end += len(o.chunks[last].e)
		last++
	}
	var mid []orderEntry
	for _, c := range o.chunks[first:last] {
		mid = append(mid, c.e...)
	}
	mid = slices.Concat(mid[:a-start], add, mid[a+del-start:])
	out := ruleOrder{n: o.n - del + len(add)}
	out.chunks = make([]orderChunk, 0, len(o.chunks)+len(mid)/orderChunkLen+1)
	out.chunks = append(out.chunks, o.chunks[:first]...)
	out.chunks = appendChunks(out.chunks, mid)
	out.chunks = append(out.chunks, o.chunks[last:]...)
	return out
}
