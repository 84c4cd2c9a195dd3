package ruleset

import (
	"bytes"
	"encoding/binary"
	"slices"
)

// The compiler sees a rule's leading matches (the match statements before
// its first other statement) as a union of boxes: each box holds one
// interval of 32-bit values per dimension, a dimension being 32 bits (a
// chunk) of what a selector yields. The classifier finds the first rule
// whose box holds the packet; the evaluator then runs that rule. A match
// the boxes describe exactly is not evaluated again; one they only bound
// (a named set, whose elements change while packets flow; limit; an
// interface named by a string) is "maybe": the boxes hold at least every
// packet it matches, and the evaluator decides.

// dimKey is one dimension: chunk number chunk of selector sel.
type dimKey struct {
	sel   SelKey
	chunk uint8
}

// cons bounds one dimension.
type cons struct {
	dim    dimKey
	lo, hi uint32
}

// box is a conjunction of bounds, at most one per dimension, sorted by
// dimension; dimensions it does not name are unbounded.
type box []cons

// shape is what the classifier knows of a rule.
type shape struct {
	boxes   []box    // empty: the rule never matches
	need    []SelKey // selectors that must load for the rule to match
	exact   bool     // the boxes are exactly the leading matches
	nmatch  int      // number of leading match statements
	mutates bool     // the rule changes what selectors read (mark, ct mark, notrack)
}

const (
	maxAlts  = 64  // boxes one match may expand to before it is bounded
	maxBoxes = 256 // boxes a rule may expand to
)

// dimWidth is the number of significant bits of a selector's chunks.
func dimWidth(sel SelKey) uint8 {
	switch selInfos[sel].field.Size {
	case 1:
		return 8
	case 2:
		return 16
	}
	return 32
}

func dimMax(sel SelKey) uint32 {
	w := dimWidth(sel)
	if w == 32 {
		return ^uint32(0)
	}
	return 1<<w - 1
}

func chunks(sel SelKey) int { return max(1, selInfos[sel].field.Size/4) }

// chunkValue is chunk i of a selector's value b.
func chunkValue(b []byte, size, i int) uint32 {
	switch size {
	case 1:
		return uint32(b[0])
	case 2:
		return uint32(binary.BigEndian.Uint16(b))
	}
	return binary.BigEndian.Uint32(b[4*i:])
}

// canonical maps tcp and udp ports to th ports plus a transport protocol:
// `tcp dport 22` is `meta l4proto tcp th dport 22`. Both need a transport
// header at the same place, and th takes any protocol tcp and udp are.
func canonical(sel SelKey) (SelKey, uint8) {
	switch sel {
	case SelTCPSport:
		return SelTHSport, protoTCP
	case SelTCPDport:
		return SelTHDport, protoTCP
	case SelUDPSport:
		return SelTHSport, protoUDP
	case SelUDPDport:
		return SelTHDport, protoUDP
	}
	return sel, 0
}

// ruleShape analyzes a rule.
func ruleShape(r *Rule) shape {
	sh := shape{boxes: []box{nil}, exact: true}
	for _, s := range r.Stmts {
		switch s.(type) {
		case *MetaSet, *CTSet, *Notrack:
			sh.mutates = true
		}
	}
	for _, s := range r.Stmts {
		m, ok := s.(*Match)
		if !ok {
			break
		}
		sh.nmatch++
		alts, need, exact := matchShape(m)
		sh.need = append(sh.need, need...)
		if !exact {
			sh.exact = false
		}
		if len(alts) > maxAlts || len(alts)*len(sh.boxes) > maxBoxes {
			alts = []box{boundAll(alts)}
			sh.exact = false
		}
		sh.boxes = crossBoxes(sh.boxes, alts)
		if len(sh.boxes) == 0 {
			break
		}
	}
	slices.Sort(sh.need)
	sh.need = slices.Compact(sh.need)
	return sh
}

// crossBoxes is the intersection of two unions of boxes.
func crossBoxes(a, b []box) []box {
	var out []box
	for _, x := range a {
		for _, y := range b {
			if z, ok := intersect(x, y); ok {
				out = append(out, z)
			}
		}
	}
	return out
}

func intersect(x, y box) (box, bool) {
	out := make(box, 0, len(x)+len(y))
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case j == len(y) || i < len(x) && dimLess(x[i].dim, y[j].dim):
			out = append(out, x[i])
			i++
		case i == len(x) || dimLess(y[j].dim, x[i].dim):
			out = append(out, y[j])
			j++
		default:
			c := cons{x[i].dim, max(x[i].lo, y[j].lo), min(x[i].hi, y[j].hi)}
			if c.lo > c.hi {
				return nil, false
			}
			out = append(out, c)
			i++
			j++
		}
	}
	return out, true
}

func dimLess(a, b dimKey) bool { return a.sel < b.sel || a.sel == b.sel && a.chunk < b.chunk }

// boundAll is the smallest box holding every box of u: a dimension that
// one of them leaves unbounded is unbounded.
func boundAll(u []box) box {
	if len(u) == 0 {
		return nil
	}
	out := slices.Clone(u[0])
	for _, b := range u[1:] {
		kept := out[:0]
		for _, c := range out {
			i := slices.IndexFunc(b, func(x cons) bool { return x.dim == c.dim })
			if i < 0 {
				continue
			}
			kept = append(kept, cons{c.dim, min(c.lo, b[i].lo), max(c.hi, b[i].hi)})
		}
		out = kept
	}
	return out
}

// leftPart is one selector of a match's left side.
type leftPart struct {
	sel   SelKey // canonical
	orig  SelKey
	l4    uint8 // transport protocol the canonical form adds, or 0
	mask  []byte
	field Field
}

func leftParts(e Expr) ([]leftPart, bool) {
	switch e := e.(type) {
	case *Selector:
		sel, l4 := canonical(e.Key)
		return []leftPart{{sel: sel, orig: e.Key, l4: l4, field: e.Field()}}, true
	case *Bitwise:
		s, ok := e.X.(*Selector)
		if !ok {
			return nil, false
		}
		sel, l4 := canonical(s.Key)
		return []leftPart{{sel: sel, orig: s.Key, l4: l4, mask: e.Mask.B, field: s.Field()}}, true
	case *Concat:
		var out []leftPart
		for _, p := range e.Parts {
			s, ok := p.(*Selector)
			if !ok {
				return nil, false
			}
			sel, l4 := canonical(s.Key)
			out = append(out, leftPart{sel: sel, orig: s.Key, l4: l4, field: s.Field()})
		}
		return out, true
	}
	return nil, false
}

// matchShape describes one match as a union of boxes, the selectors it
// needs, and whether the boxes are exact.
func matchShape(m *Match) (alts []box, need []SelKey, exact bool) {
	parts, ok := leftParts(m.Left)
	if !ok {
		return []box{nil}, nil, false
	}
	var l4 box // what the canonical forms add to every box
	for _, p := range parts {
		need = append(need, p.sel)
		if p.l4 != 0 {
			need = append(need, SelMetaL4proto)
			l4 = append(l4, cons{dimKey{SelMetaL4proto, 0}, uint32(p.l4), uint32(p.l4)})
		}
	}
	slices.SortFunc(l4, func(a, b cons) int { return int(a.dim.sel) - int(b.dim.sel) })
	if len(l4) > 1 && l4[0].lo != l4[1].lo {
		return nil, need, true // tcp and udp ports at once: never
	}
	if len(l4) > 1 {
		l4 = l4[:1]
	}
	alts, exact = valueShape(m, parts)
	if len(l4) > 0 {
		alts = crossBoxes(alts, []box{l4})
	}
	return alts, need, exact
}

// valueShape describes what the match's right side admits.
func valueShape(m *Match, parts []leftPart) ([]box, bool) {
	maybe := []box{nil}
	if r, ok := m.Right.(*Const); ok && r.Name != "" {
		return maybe, false
	}
	if _, ok := m.Right.(*SetExpr); ok {
		if m.set == nil {
			return maybe, false
		}
		for _, e := range m.set.elems {
			if e.expires != 0 {
				return maybe, false
			}
		}
	}
	if _, ok := m.Right.(*SetRef); ok {
		return maybe, false
	}
	if len(parts) == 1 {
		p := parts[0]
		if c, ok := m.Right.(*Const); ok && p.field.Size == 1 && p.mask == nil && !c.Field.Type.IsBitmask() &&
			(m.Op == OpImplicit || m.Op == OpEq) {
			// The common case, without trying all 256 values.
			return []box{{{dimKey{p.sel, 0}, uint32(c.B[0]), uint32(c.B[0])}}}, true
		}
		if p.field.Size == 1 || p.orig == SelCTState {
			return enumShape(m, p), true
		}
		if p.mask != nil {
			return maybe, false
		}
		return intervalShape(m, p)
	}
	for _, p := range parts {
		if p.mask != nil {
			return maybe, false
		}
	}
	if m.Op != OpImplicit && m.Op != OpEq {
		return maybe, false
	}
	var elems [][2][]byte
	switch m.Right.(type) {
	case *Concat:
		elems = append(elems, [2][]byte{m.lo, m.hi})
	case *SetExpr:
		for _, e := range m.set.elems {
			lo, hi := elemBounds(e.Key)
			elems = append(elems, [2][]byte{lo, hi})
		}
	default:
		return maybe, false
	}
	exact := true
	var out []box
	for _, el := range elems {
		alts := []box{nil}
		off := 0
		for _, p := range parts {
			n := p.field.Size
			b, ex := byteBox(p.sel, el[0][off:off+n], el[1][off:off+n])
			exact = exact && ex
			alts = crossBoxes(alts, []box{b})
			off += n
		}
		out = append(out, alts...)
	}
	return out, exact
}

// enumShape decides a match on a one-byte field, or on ct state (whose
// value is always a single bit, conntrack.CTInfo.StateBit), by trying
// every value the field can have.
func enumShape(m *Match, p leftPart) []box {
	var vals []uint32
	key := make([]byte, p.field.Size)
	try := func(v uint32) {
		if len(key) == 1 {
			key[0] = byte(v)
		} else {
			binary.BigEndian.PutUint32(key, v)
		}
		for i := range p.mask {
			key[i] &= p.mask[i]
		}
		if m.test(nil, key) {
			vals = append(vals, v)
		}
	}
	if p.orig == SelCTState {
		for i := range 32 {
			try(1 << i)
		}
	} else {
		for v := range uint32(256) {
			try(v)
		}
	}
	var out []box
	for i := 0; i < len(vals); {
		j := i
		for j+1 < len(vals) && vals[j+1] == vals[j]+1 {
			j++
		}
		out = append(out, box{{dimKey{p.sel, 0}, vals[i], vals[j]}})
		i = j + 1
	}
	return out
}

// intervalShape describes a match of a wider field by its byte intervals.
func intervalShape(m *Match, p leftPart) ([]box, bool) {
	maybe := []box{nil}
	size := p.field.Size
	zero, ones := make([]byte, size), bytes.Repeat([]byte{0xff}, size)
	var ivs [][2][]byte
	switch r := m.Right.(type) {
	case *SetExpr:
		for _, e := range m.set.elems {
			lo, hi := elemBounds(e.Key)
			ivs = append(ivs, [2][]byte{lo, hi})
		}
	case *Const:
		if r.Field.Type.IsBitmask() && (m.Op == OpImplicit || m.Op == OpNeg) {
			return maybe, false
		}
		ivs = append(ivs, [2][]byte{m.lo, m.hi})
	case *Prefix, *Range:
		ivs = append(ivs, [2][]byte{m.lo, m.hi})
	default:
		return maybe, false
	}
	switch m.Op {
	case OpImplicit, OpEq:
	case OpNeq:
		ivs = complement(ivs, zero, ones)
	case OpLt, OpLe, OpGt, OpGe:
		lo := m.lo
		switch m.Op {
		case OpLt:
			if bytes.Equal(lo, zero) {
				return nil, true
			}
			ivs = [][2][]byte{{zero, addOne(lo, -1)}}
		case OpLe:
			ivs = [][2][]byte{{zero, lo}}
		case OpGt:
			if bytes.Equal(lo, ones) {
				return nil, true
			}
			ivs = [][2][]byte{{addOne(lo, 1), ones}}
		case OpGe:
			ivs = [][2][]byte{{lo, ones}}
		}
	default:
		return maybe, false
	}
	exact := true
	out := make([]box, 0, len(ivs))
	for _, iv := range ivs {
		b, ex := byteBox(p.sel, iv[0], iv[1])
		exact = exact && ex
		out = append(out, b)
	}
	return out, exact
}

// complement is what sorted, disjoint intervals leave of [zero, ones].
func complement(ivs [][2][]byte, zero, ones []byte) [][2][]byte {
	slices.SortFunc(ivs, func(a, b [2][]byte) int { return bytes.Compare(a[0], b[0]) })
	var out [][2][]byte
	next := zero
	for _, iv := range ivs {
		if next != nil && bytes.Compare(iv[0], next) > 0 {
			out = append(out, [2][]byte{next, addOne(iv[0], -1)})
		}
		if bytes.Equal(iv[1], ones) {
			next = nil
			continue
		}
		if n := addOne(iv[1], 1); next == nil || bytes.Compare(n, next) > 0 {
			next = n
		}
	}
	if next != nil {
		out = append(out, [2][]byte{next, ones})
	}
	return out
}

// addOne adds d (1 or -1) to a big-endian number, which must not wrap.
func addOne(b []byte, d int) []byte {
	out := slices.Clone(b)
	for i := len(out) - 1; i >= 0; i-- {
		if d > 0 {
			out[i]++
			if out[i] != 0 {
				break
			}
		} else {
			out[i]--
			if out[i] != 0xff {
				break
			}
		}
	}
	return out
}

// byteBox is the box of [lo, hi] over a selector's value, chunk by chunk:
// chunks before the first that differs are fixed, that one is bounded,
// the rest are free. It is exact when the rest of lo is all zeros and the
// rest of hi all ones; otherwise it holds the interval and more.
func byteBox(sel SelKey, lo, hi []byte) (box, bool) {
	size := len(lo)
	n := chunks(sel)
	var b box
	for i := 0; i < n; i++ {
		l, h := chunkValue(lo, size, i), chunkValue(hi, size, i)
		if l == h {
			b = append(b, cons{dimKey{sel, uint8(i)}, l, h})
			continue
		}
		if l != 0 || h != dimMax(sel) {
			b = append(b, cons{dimKey{sel, uint8(i)}, l, h})
		}
		rest := 4 * (i + 1)
		exact := rest >= size || (allBytes(lo[rest:], 0) && allBytes(hi[rest:], 0xff))
		return b, exact
	}
	return b, true
}

func allBytes(b []byte, v byte) bool {
	for _, x := range b {
		if x != v {
			return false
		}
	}
	return true
}
