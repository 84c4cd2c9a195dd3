package lint

import (
	"bytes"
	"strings"

	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/ruleset"
)

// rule is what the analysis knows of one rule.
type rule struct {
	r        *ruleset.Rule
	dims     map[string][]atom // conditions by dimension; a superset of what the rule matches
	explicit []atom            // the conditions written in the rule (not implied by the table or selectors)
	// exact: dims is exactly what the rule matches (no limit, quota or
	// unknown statement): it can hide later rules.
	exact bool
	// terminal: when it matches, the packet's walk through this chain
	// ends (accept, drop, reject, queue, nat, goto, return).
	terminal bool
	// mutates: the packet may leave it changed (meta mark set, ct mark
	// set, notrack, or a chain jumped to that does so).
	mutates       bool
	contradiction string // the dimension whose conditions exclude every packet
}

// implied conditions: the protocols a selector needs.
var (
	l4Dim = "meta l4proto"
	nfDim = "meta nfproto"
)

func byteSet(vals ...byte) set {
	var s set
	for _, v := range vals {
		s = append(s, ival{[]byte{v}, []byte{v}})
	}
	return s.normalize()
}

func impliedAtom(dim string, vals ...byte) atom {
	return atom{kind: atomSet, text: "(implied) " + dim, set: byteSet(vals...), width: 1, max: []byte{0xff}}
}

// protoAtoms are what a selector's protocol implies ("tcp dport": meta
// l4proto tcp).
func protoAtoms(sel string) map[string]atom {
	word, _, _ := strings.Cut(sel, " ")
	out := map[string]atom{}
	switch word {
	case "tcp":
		out[l4Dim] = impliedAtom(l4Dim, packet.ProtoTCP)
	case "udp":
		out[l4Dim] = impliedAtom(l4Dim, packet.ProtoUDP)
	case "th":
		out[l4Dim] = impliedAtom(l4Dim, 6, 17, 33, 132, 136)
	case "icmp":
		out[l4Dim] = impliedAtom(l4Dim, packet.ProtoICMP)
		out[nfDim] = impliedAtom(nfDim, uint8(packet.FamilyIPv4))
	case "icmpv6":
		out[l4Dim] = impliedAtom(l4Dim, packet.ProtoICMPv6)
		out[nfDim] = impliedAtom(nfDim, uint8(packet.FamilyIPv6))
	case "ip":
		out[nfDim] = impliedAtom(nfDim, uint8(packet.FamilyIPv4))
	case "ip6":
		out[nfDim] = impliedAtom(nfDim, uint8(packet.FamilyIPv6))
	}
	return out
}

// selectors lists the selectors an expression reads.
func selectors(e ruleset.Expr) []*ruleset.Selector {
	switch e := e.(type) {
	case *ruleset.Selector:
		return []*ruleset.Selector{e}
	case *ruleset.Bitwise:
		return selectors(e.X)
	case *ruleset.Concat:
		var out []*ruleset.Selector
		for _, p := range e.Parts {
			out = append(out, selectors(p)...)
		}
		return out
	}
	return nil
}

// analyse reads one rule of table t.
func analyse(t *table, r *ruleset.Rule, mutating map[string]bool) *rule {
	ri := &rule{r: r, dims: map[string][]atom{}, exact: true}
	add := func(dim string, a atom, explicit bool) {
		ri.dims[dim] = append(ri.dims[dim], a)
		if explicit {
			ri.explicit = append(ri.explicit, a)
		}
	}
	switch t.fam {
	case packet.FamilyIPv4, packet.FamilyIPv6:
		add(nfDim, impliedAtom(nfDim, uint8(t.fam)), false)
	}
	implied := func(e ruleset.Expr) {
		for _, s := range selectors(e) {
			for dim, a := range protoAtoms(ruleset.ExprString(s)) {
				add(dim, a, false)
			}
		}
	}
	for _, s := range r.Stmts {
		switch s := s.(type) {
		case *ruleset.Match:
			add(ruleset.ExprString(s.Left), matchAtom(t, s), true)
			implied(s.Left)
		case *ruleset.Counter, *ruleset.Log:
		case *ruleset.Limit, *ruleset.ConnLimit:
			ri.exact = false
		case *ruleset.MetaSet, *ruleset.CTSet, *ruleset.Notrack:
			ri.mutates = true
		case *ruleset.Verdict:
			switch s.Kind {
			case ruleset.VerdictAccept, ruleset.VerdictDrop, ruleset.VerdictReturn:
				ri.terminal = true
			case ruleset.VerdictGoto:
				ri.terminal = true
				ri.mutates = ri.mutates || chainMutates(t, s.Chain, mutating, map[string]bool{})
			case ruleset.VerdictJump:
				ri.mutates = ri.mutates || chainMutates(t, s.Chain, mutating, map[string]bool{})
			}
		case *ruleset.Reject, *ruleset.Queue, *ruleset.NAT:
			ri.terminal = true
		case *ruleset.VMap:
			// It matches only keys in the map: for hiding, unknown.
			ri.exact = false
			implied(s.Key)
			for _, tg := range vmapTargets(t, r, s) {
				ri.mutates = ri.mutates || chainMutates(t, tg.chain, mutating, map[string]bool{})
			}
		default:
			ri.exact, ri.mutates = false, true
		}
	}
	for dim, as := range ri.dims {
		if empty(as) {
			ri.contradiction = "`" + dim + "`"
		}
	}
	return ri
}

// chainMutates reports whether the chain, or a chain it jumps to, may
// change packets. Unknown chains and loops count as changing them.
func chainMutates(t *table, name string, cache map[string]bool, visiting map[string]bool) bool {
	if v, ok := cache[name]; ok {
		return v
	}
	c := t.chains[name]
	if c == nil || visiting[name] {
		return true
	}
	visiting[name] = true
	m := false
	for _, r := range c.Rules {
		for _, s := range r.Stmts {
			switch s := s.(type) {
			case *ruleset.Match, *ruleset.Counter, *ruleset.Log, *ruleset.Limit, *ruleset.ConnLimit,
				*ruleset.Reject, *ruleset.Queue, *ruleset.NAT:
			case *ruleset.Verdict:
				if s.Kind == ruleset.VerdictJump || s.Kind == ruleset.VerdictGoto {
					m = m || chainMutates(t, s.Chain, cache, visiting)
				}
			case *ruleset.VMap:
				for _, tg := range vmapTargets(t, r, s) {
					m = m || chainMutates(t, tg.chain, cache, visiting)
				}
			default:
				m = true
			}
		}
	}
	cache[name] = m
	return m
}

// matchAtom turns a match into its condition on its dimension.
func matchAtom(t *table, m *ruleset.Match) atom {
	text := ruleset.StmtString(m)
	opaque := atom{kind: atomOpaque, text: text}
	var fields []ruleset.Field
	for _, s := range selectors(m.Left) {
		fields = append(fields, s.Field())
	}
	if len(fields) == 0 {
		return opaque
	}
	f := fields[0]
	a := atom{kind: atomSet, text: text, width: f.Size, max: maxValue(f.Size, f.Bits)}
	if c, ok := m.Right.(*ruleset.Const); ok && c.Name != "" {
		return opaque
	}
	if c, ok := m.Right.(*ruleset.Const); ok && len(fields) == 1 && f.Type.IsBitmask() &&
		(m.Op == ruleset.OpImplicit || m.Op == ruleset.OpNeg) {
		neg := m.Op == ruleset.OpNeg
		if f.Type == ruleset.TypeCTState {
			// A packet has exactly one ct state: the mask test picks
			// states from the five.
			for _, st := range []uint32{1, 2, 4, 8, 64} {
				v := []byte{byte(st >> 24), byte(st >> 16), byte(st >> 8), byte(st)}
				if maskHit(v, c.B) != neg {
					a.set = append(a.set, ival{v, v})
				}
			}
			a.set = a.set.normalize()
			return a
		}
		return atom{kind: atomMask, text: text, mask: c.B, neg: neg, width: f.Size}
	}
	right := m.Right
	if ref, ok := right.(*ruleset.SetRef); ok {
		s := t.sets[ref.Name]
		if s == nil || s.IsMap || s.Flags&ruleset.SetConstant == 0 {
			return opaque // its elements can change while packets flow
		}
		right = &ruleset.SetExpr{Elems: s.Elems}
	}
	switch m.Op {
	case ruleset.OpImplicit, ruleset.OpEq, ruleset.OpNeq:
		if len(fields) > 1 {
			if m.Op == ruleset.OpNeq {
				return opaque
			}
			boxes, ok := boxesOf(right, len(fields))
			if !ok {
				return opaque
			}
			return atom{kind: atomBoxes, text: text, boxes: boxes}
		}
		vals, ok := valuesOf(right)
		if !ok {
			return opaque
		}
		a.set = vals.normalize()
		if m.Op == ruleset.OpNeq {
			a.set = a.set.complement(a.width, a.max)
		}
		return a
	case ruleset.OpLt, ruleset.OpGt, ruleset.OpLe, ruleset.OpGe:
		c, ok := right.(*ruleset.Const)
		if !ok || len(fields) > 1 || len(c.B) != a.width {
			return opaque
		}
		lo, hi := zero(a.width), a.max
		var in bool
		switch m.Op {
		case ruleset.OpLt:
			hi, in = dec(c.B)
		case ruleset.OpLe:
			hi, in = c.B, true
		case ruleset.OpGt:
			lo, in = inc(c.B)
		case ruleset.OpGe:
			lo, in = c.B, true
		}
		if in && bytes.Compare(lo, hi) <= 0 {
			a.set = set{{lo, hi}}
		}
		return a
	}
	return opaque
}

// valuesOf is the values a constant operand of one field stands for.
func valuesOf(e ruleset.Expr) (set, bool) {
	switch e := e.(type) {
	case *ruleset.Const:
		lo, hi := constBounds(e)
		return set{{lo, hi}}, true
	case *ruleset.Prefix:
		lo, hi := prefixBounds(e)
		return set{{lo, hi}}, true
	case *ruleset.Range:
		return set{{e.Lo.B, e.Hi.B}}, true
	case *ruleset.SetExpr:
		var out set
		for _, el := range e.Elems {
			s, ok := valuesOf(el.Key)
			if !ok {
				return nil, false
			}
			out = append(out, s...)
		}
		return out, true
	}
	return nil, false
}

// boxesOf is the boxes a concatenated operand stands for.
func boxesOf(e ruleset.Expr, parts int) ([]box, bool) {
	switch e := e.(type) {
	case *ruleset.Concat:
		if len(e.Parts) != parts {
			return nil, false
		}
		var b box
		for _, p := range e.Parts {
			s, ok := valuesOf(p)
			if !ok || len(s) != 1 {
				return nil, false
			}
			b = append(b, s[0])
		}
		return []box{b}, true
	case *ruleset.SetExpr:
		var out []box
		for _, el := range e.Elems {
			bs, ok := boxesOf(el.Key, parts)
			if !ok {
				return nil, false
			}
			out = append(out, bs...)
		}
		return out, true
	}
	return nil, false
}

// constBounds is the interval of a constant: itself, or every name with
// its prefix for an interface wildcard ("eth*").
func constBounds(c *ruleset.Const) (lo, hi []byte) {
	if !c.Wildcard {
		return c.B, c.B
	}
	lo = append([]byte(nil), c.B...)
	hi = append([]byte(nil), c.B...)
	for i := len(bytes.TrimRight(c.B, "\x00")); i < len(hi); i++ {
		hi[i] = 0xff
	}
	return lo, hi
}

func prefixBounds(p *ruleset.Prefix) (lo, hi []byte) {
	lo = append([]byte(nil), p.Base.B...)
	hi = append([]byte(nil), p.Base.B...)
	for i := range lo {
		for j := 0; j < 8; j++ {
			if i*8+j >= p.Len {
				m := byte(0x80 >> j)
				lo[i] &^= m
				hi[i] |= m
			}
		}
	}
	return lo, hi
}

// target is a chain a rule jumps or goes to.
type target struct {
	chain string
	kind  string
	pos   ruleset.Pos
}

func targets(t *table, c *ruleset.Chain) []target {
	var out []target
	for _, r := range c.Rules {
		for _, s := range r.Stmts {
			switch s := s.(type) {
			case *ruleset.Verdict:
				if s.Kind == ruleset.VerdictJump || s.Kind == ruleset.VerdictGoto {
					pos := s.Pos
					if pos.Line == 0 {
						pos = r.Pos
					}
					out = append(out, target{s.Chain, s.Kind.String(), pos})
				}
			case *ruleset.VMap:
				out = append(out, vmapTargets(t, r, s)...)
			}
		}
	}
	return out
}

func vmapTargets(t *table, r *ruleset.Rule, m *ruleset.VMap) []target {
	var elems []*ruleset.Elem
	switch mm := m.Map.(type) {
	case *ruleset.SetExpr:
		elems = mm.Elems
	case *ruleset.SetRef:
		if s := t.sets[mm.Name]; s != nil {
			elems = s.Elems
		}
	}
	var out []target
	for _, e := range elems {
		if v, ok := e.Data.(*ruleset.Verdict); ok && (v.Kind == ruleset.VerdictJump || v.Kind == ruleset.VerdictGoto) {
			pos := v.Pos
			if pos.Line == 0 {
				pos = r.Pos
			}
			out = append(out, target{v.Chain, v.Kind.String(), pos})
		}
	}
	return out
}

func setRefs(r *ruleset.Rule) []*ruleset.SetRef {
	var out []*ruleset.SetRef
	for _, s := range r.Stmts {
		switch s := s.(type) {
		case *ruleset.Match:
			if ref, ok := s.Right.(*ruleset.SetRef); ok {
				out = append(out, ref)
			}
		case *ruleset.VMap:
			if ref, ok := s.Map.(*ruleset.SetRef); ok {
				out = append(out, ref)
			}
		}
	}
	return out
}
