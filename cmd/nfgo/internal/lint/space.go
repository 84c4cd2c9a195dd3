package lint

import (
	"bytes"
	"sort"
)

// The values a match allows, per dimension (what its left side reads). A
// value is a big-endian byte string of the field's size, as the ruleset
// keeps them, so intervals compare with bytes.Compare.

// ival is an inclusive interval of values.
type ival struct{ lo, hi []byte }

// set is a union of intervals of one field, kept sorted and merged.
type set []ival

// box is one interval per part of a concatenation.
type box []ival

// atomKind says how an atom describes its values.
type atomKind uint8

const (
	atomSet    atomKind = iota // a union of intervals of one field
	atomBoxes                  // a union of boxes of a concatenation
	atomMask                   // (x & mask) != 0, or == 0 when neg
	atomOpaque                 // known only by its text: equal text, equal values
)

// atom is one match's condition on one dimension.
type atom struct {
	kind  atomKind
	text  string // the match as written, for identity and messages
	set   set
	boxes []box
	mask  []byte
	neg   bool
	width int    // bytes per value (atomSet, atomMask)
	max   []byte // the largest value of the field (atomSet)
}

func maxValue(size, bits int) []byte {
	b := bytes.Repeat([]byte{0xff}, size)
	if bits > 0 && bits < size*8 {
		clear(b)
		for i := 0; i < bits; i++ {
			byteIdx := size - 1 - i/8
			b[byteIdx] |= 1 << (i % 8)
		}
	}
	return b
}

func zero(n int) []byte { return make([]byte, n) }

// inc returns v+1 and false on overflow.
func inc(v []byte) ([]byte, bool) {
	out := append([]byte(nil), v...)
	for i := len(out) - 1; i >= 0; i-- {
		out[i]++
		if out[i] != 0 {
			return out, true
		}
	}
	return out, false
}

// dec returns v-1 and false on underflow.
func dec(v []byte) ([]byte, bool) {
	out := append([]byte(nil), v...)
	for i := len(out) - 1; i >= 0; i-- {
		out[i]--
		if out[i] != 0xff {
			return out, true
		}
	}
	return out, false
}

// normalize sorts and merges a set's intervals (adjacent ones too).
func (s set) normalize() set {
	if len(s) == 0 {
		return s
	}
	s = append(set(nil), s...)
	sort.Slice(s, func(i, j int) bool { return bytes.Compare(s[i].lo, s[j].lo) < 0 })
	out := set{s[0]}
	for _, iv := range s[1:] {
		last := &out[len(out)-1]
		next, ok := inc(last.hi)
		if bytes.Compare(iv.lo, last.hi) <= 0 || ok && bytes.Equal(iv.lo, next) {
			if bytes.Compare(iv.hi, last.hi) > 0 {
				last.hi = iv.hi
			}
			continue
		}
		out = append(out, iv)
	}
	return out
}

// intersect is the values in both sets.
func (s set) intersect(t set) set {
	var out set
	for _, a := range s {
		for _, b := range t {
			lo, hi := a.lo, a.hi
			if bytes.Compare(b.lo, lo) > 0 {
				lo = b.lo
			}
			if bytes.Compare(b.hi, hi) < 0 {
				hi = b.hi
			}
			if bytes.Compare(lo, hi) <= 0 {
				out = append(out, ival{lo, hi})
			}
		}
	}
	return out.normalize()
}

// complement is the values of [0, max] not in s.
func (s set) complement(width int, max []byte) set {
	var out set
	next := zero(width)
	more := true
	for _, iv := range s.normalize() {
		if bytes.Compare(iv.lo, next) > 0 {
			hi, _ := dec(iv.lo)
			out = append(out, ival{next, hi})
		}
		next, more = inc(iv.hi)
		if !more {
			break
		}
	}
	if more && bytes.Compare(next, max) <= 0 {
		out = append(out, ival{next, max})
	}
	return out
}

// within reports whether every value of s is in t (both normalized).
func (s set) within(t set) bool {
	for _, a := range s {
		ok := false
		for _, b := range t {
			if bytes.Compare(b.lo, a.lo) <= 0 && bytes.Compare(a.hi, b.hi) <= 0 {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// points lists the values of s if there are at most limit of them.
func (s set) points(limit int) ([][]byte, bool) {
	var out [][]byte
	for _, iv := range s {
		v := iv.lo
		for {
			if len(out) == limit {
				return nil, false
			}
			out = append(out, v)
			if bytes.Equal(v, iv.hi) {
				break
			}
			v, _ = inc(v)
		}
	}
	return out, true
}

func (b box) within(o box) bool {
	for i := range b {
		if bytes.Compare(o[i].lo, b[i].lo) > 0 || bytes.Compare(b[i].hi, o[i].hi) > 0 {
			return false
		}
	}
	return true
}

func maskHit(v, mask []byte) bool {
	for i := range v {
		if v[i]&mask[i] != 0 {
			return true
		}
	}
	return false
}

// subsetOf reports whether mask bits of m are all in o's.
func maskSubset(m, o []byte) bool {
	for i := range m {
		if m[i]&^o[i] != 0 {
			return false
		}
	}
	return true
}

// implies reports whether a packet that satisfies every atom of bs (one
// dimension's conditions of a rule) surely satisfies a. False means "not
// shown", never "no".
func implies(bs []atom, a atom) bool {
	for _, b := range bs {
		if b.text == a.text {
			return true
		}
	}
	switch a.kind {
	case atomSet:
		vals := set{{zero(a.width), a.max}}
		for _, b := range bs {
			if b.kind == atomSet && b.width == a.width {
				vals = vals.intersect(b.set)
			}
		}
		return vals.within(a.set)
	case atomBoxes:
		for _, b := range bs {
			if b.kind != atomBoxes || len(b.boxes) == 0 {
				continue
			}
			all := true
			for _, bb := range b.boxes {
				in := false
				for _, ab := range a.boxes {
					if len(ab) == len(bb) && bb.within(ab) {
						in = true
						break
					}
				}
				all = all && in
			}
			if all {
				return true
			}
		}
	case atomMask:
		for _, b := range bs {
			if b.kind == atomMask && b.neg == a.neg && len(b.mask) == len(a.mask) {
				if !a.neg && maskSubset(b.mask, a.mask) || a.neg && maskSubset(a.mask, b.mask) {
					return true
				}
			}
		}
		// A few exact values, each of which passes the mask test.
		vals := set{{zero(a.width), maxValue(a.width, 0)}}
		bounded := false
		for _, b := range bs {
			if b.kind == atomSet && b.width == a.width {
				vals = vals.intersect(b.set)
				bounded = true
			}
		}
		if !bounded {
			return false
		}
		pts, ok := vals.points(1024)
		if !ok {
			return false
		}
		for _, v := range pts {
			if maskHit(v, a.mask) == a.neg {
				return false
			}
		}
		return true
	}
	return false
}

// empty reports whether the atoms of one dimension exclude every value.
func empty(bs []atom) bool {
	var vals set
	have := false
	for _, b := range bs {
		if b.kind != atomSet {
			continue
		}
		if !have {
			vals, have = b.set, true
			continue
		}
		vals = vals.intersect(b.set)
	}
	return have && len(vals) == 0
}
