package conntrack

import "sync/atomic"

// The index maps a tuple to its entry. It is an array of buckets, a power of
// two of them, one 64-byte cache line each: seven words and an overflow
// count. A word is
//
//	tag (high 32 bits of the hash) << 32 | slot << 1 | direction
//
// and zero when free (slot 0 is never used). A tuple's home bucket is its
// hash modulo the bucket count; when the home bucket is full, the word goes
// to the next bucket with room (linear probing), and every bucket passed on
// the way counts one more overflow. A lookup scans the home bucket and goes
// on to the next one only while the current bucket's overflow count is not
// zero, so a miss costs one cache line in the common case, and a hit one
// cache line plus the entry.
//
// Words never move. Writers change them with CAS (a word can be wanted by
// two inserters whose home buckets differ), and an insert bumps the
// overflow counts before it places its word, a delete clears its word before
// it lowers them, so a reader never stops early. Writers of the same tuple
// serialise on the lock stripe of its home bucket (lockFor), which makes the
// check for a clash and the insert one step.
const bucketWords = 7

type bucket struct {
	w   [bucketWords]atomic.Uint64
	ovf atomic.Uint64
}

// match returns a bit per word whose tag is tag, without a branch per word.
func (bk *bucket) match(tag uint64) uint32 {
	var m uint32
	for j := range bk.w {
		var hit uint32
		if bk.w[j].Load()>>32 == tag {
			hit = 1
		}
		m |= hit << j
	}
	return m
}

// pick returns the last word whose tag is that of hash h, or some other
// word when none has it, without a branch per word: a branch on which word
// matches would be mispredicted half the time, and each misprediction
// would wait for the bucket's cache miss, holding back the next lookups.
func (bk *bucket) pick(h uint64) uint64 {
	w0, w1, w2, w3 := bk.w[0].Load(), bk.w[1].Load(), bk.w[2].Load(), bk.w[3].Load()
	w4, w5, c := bk.w[4].Load(), bk.w[5].Load(), bk.w[6].Load()
	if (w0^h)>>32 == 0 {
		c = w0
	}
	if (w1^h)>>32 == 0 {
		c = w1
	}
	if (w2^h)>>32 == 0 {
		c = w2
	}
	if (w3^h)>>32 == 0 {
		c = w3
	}
	if (w4^h)>>32 == 0 {
		c = w4
	}
	if (w5^h)>>32 == 0 {
		c = w5
	}
	return c
}

type index struct {
	buckets []bucket
	mask    uint64
}

func newIndex(words int) index {
	// Aim at a load of at most 5 words in 7 when every slot is used.
	n := uint64(1)
	for n*5 < uint64(words) {
		n <<= 1
	}
	return index{buckets: make([]bucket, n), mask: n - 1}
}

func word(h uint64, slot uint32, d Dir) uint64 {
	return h&^0xffffffff | uint64(slot)<<1 | uint64(d)
}

// insert places the word of (slot, d) for hash h. The caller holds the lock
// stripe of h. It fails only if every bucket is full, which the sizing
// prevents.
func (x *index) insert(h uint64, slot uint32, d Dir) bool {
	w := word(h, slot, d)
	b := h & x.mask
	for range len(x.buckets) {
		bk := &x.buckets[b]
		for i := range bk.w {
			if bk.w[i].Load() == 0 && bk.w[i].CompareAndSwap(0, w) {
				return true
			}
		}
		bk.ovf.Add(1)
		b = (b + 1) & x.mask
	}
	return false
}

// remove clears the word of (slot, d) for hash h. The caller holds the lock
// stripe of h.
func (x *index) remove(h uint64, slot uint32, d Dir) bool {
	w := word(h, slot, d)
	home := h & x.mask
	b := home
	for range len(x.buckets) {
		bk := &x.buckets[b]
		for i := range bk.w {
			if bk.w[i].Load() == w {
				bk.w[i].Store(0)
				for c := home; c != b; c = (c + 1) & x.mask {
					x.buckets[c].ovf.Add(^uint64(0))
				}
				return true
			}
		}
		if bk.ovf.Load() == 0 {
			return false
		}
		b = (b + 1) & x.mask
	}
	return false
}
