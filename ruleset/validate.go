package ruleset

import (
	"strings"

	"github.com/nfgo/nfgo/packet"
)

// validate checks the whole ruleset after a transaction: base chains in
// families and hooks their type allows, references to chains, sets and
// counters that exist with the right types, no jump loops, nesting within
// the kernel's jump stack, and statements only where the kernel allows
// them (nft_chain_validate and the expressions' validate hooks).
func (rs *Ruleset) validate() error {
	for _, t := range rs.tables {
		ti := rs.index[t]
		for _, c := range t.Chains {
			if c.Base != nil {
				if err := validateBase(t, c); err != nil {
					return err
				}
			}
			for _, r := range c.Rules {
				for _, s := range r.Stmts {
					if err := validateStmt(ti, r, s); err != nil {
						return err
					}
				}
			}
		}
		for _, s := range t.Sets {
			if s.IsMap && s.Data.Type == TypeVerdict {
				for _, e := range s.data().elems {
					if v, ok := e.Data.(*Verdict); ok {
						if err := validateVerdict(ti, s.Pos, v); err != nil {
							return err
						}
					}
				}
			}
		}
		if err := checkGraph(ti); err != nil {
			return err
		}
	}
	return nil
}

func validateBase(t *Table, c *Chain) error {
	b := c.Base
	pos := c.Pos
	switch t.Family {
	case packet.FamilyNetdev:
		if b.Hook != HookIngress {
			return errorf(pos, "chain %s: hook %s is not valid in a netdev table; use ingress", c.Name, b.Hook)
		}
		if b.Device == "" {
			return errorf(pos, "chain %s: a netdev ingress chain needs a device", c.Name)
		}
		if b.Type != ChainFilter {
			return errorf(pos, "chain %s: type %s is not valid in a netdev table", c.Name, b.Type)
		}
		return nil
	default:
		if b.Hook == HookIngress {
			return errorf(pos, "chain %s: hook ingress is only supported in netdev tables", c.Name)
		}
		if b.Device != "" {
			return errorf(pos, "chain %s: device is only valid in netdev tables", c.Name)
		}
	}
	switch b.Type {
	case ChainNAT:
		if b.Hook == HookForward {
			return errorf(pos, "chain %s: type nat is not valid at hook forward", c.Name)
		}
	case ChainRoute:
		if b.Hook != HookOutput {
			return errorf(pos, "chain %s: type route is only valid at hook output", c.Name)
		}
	}
	return nil
}

func familyAllows(tf, need packet.Family) bool {
	return need == 0 || tf == packet.FamilyInet || tf == packet.FamilyNetdev || tf == need
}

// checkSelectors checks that the selectors of e fit the table's family.
func checkSelectors(t *Table, pos Pos, e Expr) error {
	switch e := e.(type) {
	case *Selector:
		if !familyAllows(t.Family, e.info().family) {
			return errorf(pos, "%s cannot be used in a table of family %s", ExprString(e), familyName(t.Family))
		}
	case *Concat:
		for _, p := range e.Parts {
			if err := checkSelectors(t, pos, p); err != nil {
				return err
			}
		}
	case *Bitwise:
		return checkSelectors(t, pos, e.X)
	case *MapLookup:
		return checkSelectors(t, pos, e.Key)
	}
	return nil
}

func validateVerdict(ti *tableIndex, pos Pos, v *Verdict) error {
	if v.Kind != VerdictJump && v.Kind != VerdictGoto {
		return nil
	}
	if v.Pos.Line != 0 {
		pos = v.Pos
	}
	c := ti.chains[v.Chain]
	if c == nil {
		return wrapf(pos, ErrNotFound, "%s to chain %s, which does not exist in table %s %s", v.Kind, v.Chain, familyName(ti.t.Family), ti.t.Name)
	}
	if c.Base != nil {
		return errorf(pos, "%s to base chain %s is not allowed", v.Kind, v.Chain)
	}
	return nil
}

// lookupSetRef checks a @name reference: it exists, is a set or a map as
// wanted, with key fields matching.
func lookupSetRef(ti *tableIndex, ref *SetRef, key []Field, wantMap bool) (*Set, error) {
	s := ti.sets[ref.Name]
	if s == nil {
		return nil, wrapf(ref.Pos, ErrNotFound, "set %s does not exist in table %s %s", ref.Name, familyName(ti.t.Family), ti.t.Name)
	}
	if s.IsMap != wantMap {
		if wantMap {
			return nil, errorf(ref.Pos, "@%s is a set, not a map", ref.Name)
		}
		return nil, errorf(ref.Pos, "@%s is a map, not a set", ref.Name)
	}
	if !sameFields(s.Key, key) {
		return nil, errorf(ref.Pos, "datatype mismatch: @%s has type %s, expression has type %s",
			ref.Name, keyTypeString(s.Key), keyTypeString(key))
	}
	return s, nil
}

func validateStmt(ti *tableIndex, r *Rule, s Stmt) error {
	t := ti.t
	switch s := s.(type) {
	case *Match:
		if err := checkSelectors(t, r.Pos, s.Left); err != nil {
			return err
		}
		if ref, ok := s.Right.(*SetRef); ok {
			if _, err := lookupSetRef(ti, ref, exprFields(s.Left), false); err != nil {
				return err
			}
		}
	case *VMap:
		if err := checkSelectors(t, r.Pos, s.Key); err != nil {
			return err
		}
		switch m := s.Map.(type) {
		case *SetRef:
			set, err := lookupSetRef(ti, m, exprFields(s.Key), true)
			if err != nil {
				return err
			}
			if set.Data.Type != TypeVerdict {
				return errorf(m.Pos, "@%s is not a verdict map", m.Name)
			}
		case *SetExpr:
			for _, e := range m.Elems {
				if err := validateVerdict(ti, r.Pos, e.Data.(*Verdict)); err != nil {
					return err
				}
			}
		}
	case *Verdict:
		return validateVerdict(ti, r.Pos, s)
	case *Counter:
		if s.Name != "" && ti.counters[s.Name] == nil {
			return wrapf(r.Pos, ErrNotFound, "counter %s does not exist in table %s %s", s.Name, familyName(t.Family), t.Name)
		}
	case *MetaSet:
		return validateValue(ti, r.Pos, s.Value, selInfos[s.Key].field)
	case *CTSet:
		return validateValue(ti, r.Pos, s.Value, selInfos[s.Key].field)
	case *NAT:
		if s.Addr != nil {
			want := TypeIPv4Addr
			switch {
			case s.Family == packet.FamilyIPv6, s.Family == 0 && t.Family == packet.FamilyIPv6:
				want = TypeIPv6Addr
			case s.Family == 0 && t.Family != packet.FamilyIPv4:
				if f := natAddrFields(ti, s.Addr); len(f) == 1 {
					want = f[0].Type
				}
			}
			if err := validateValue(ti, r.Pos, s.Addr, fieldOf(want)); err != nil {
				return err
			}
			if f := natAddrFields(ti, s.Addr); len(f) != 1 || f[0].Type != want {
				return errorf(r.Pos, "%s: address family does not match the table's", StmtString(s))
			}
		}
		if s.Port != nil {
			return validateValue(ti, r.Pos, s.Port, fieldOf(TypeInetService))
		}
	case *Reject:
		if t.Family == packet.FamilyIPv4 && s.Kind == RejectICMPv6 || t.Family == packet.FamilyIPv6 && s.Kind == RejectICMP {
			return errorf(r.Pos, "%s is not valid in a table of family %s", StmtString(s), familyName(t.Family))
		}
	}
	return nil
}

func natAddrFields(ti *tableIndex, e Expr) []Field {
	if m, ok := e.(*MapLookup); ok {
		switch mm := m.Map.(type) {
		case *SetExpr:
			if len(mm.Elems) > 0 {
				return exprFields(mm.Elems[0].Data)
			}
		case *SetRef:
			if s := ti.sets[mm.Name]; s != nil {
				return []Field{s.Data}
			}
		}
		return nil
	}
	return exprFields(e)
}

// validateValue checks the argument of a statement against the field it
// sets.
func validateValue(ti *tableIndex, pos Pos, e Expr, f Field) error {
	if err := checkSelectors(ti.t, pos, e); err != nil {
		return err
	}
	m, ok := e.(*MapLookup)
	if !ok {
		return nil
	}
	ref, ok := m.Map.(*SetRef)
	if !ok {
		return nil
	}
	s, err := lookupSetRef(ti, ref, exprFields(m.Key), true)
	if err != nil {
		return err
	}
	if s.Data.Type != f.Type && s.Data.Size != f.Size {
		return errorf(ref.Pos, "datatype mismatch: map @%s yields %s, expected %s", ref.Name, s.Data.Type, f.Type)
	}
	return nil
}

// edge is a jump or goto from one chain to another.
type edge struct {
	to  string
	pos Pos
}

func chainEdges(ti *tableIndex, c *Chain) []edge {
	var out []edge
	add := func(v *Verdict, pos Pos) {
		if v.Kind == VerdictJump || v.Kind == VerdictGoto {
			if v.Pos.Line != 0 {
				pos = v.Pos
			}
			out = append(out, edge{v.Chain, pos})
		}
	}
	for _, r := range c.Rules {
		for _, s := range r.Stmts {
			switch s := s.(type) {
			case *Verdict:
				add(s, r.Pos)
			case *VMap:
				var elems []*Elem
				switch m := s.Map.(type) {
				case *SetExpr:
					elems = m.Elems
				case *SetRef:
					if set := ti.sets[m.Name]; set != nil {
						elems = set.data().elems
					}
				}
				for _, e := range elems {
					if v, ok := e.Data.(*Verdict); ok {
						add(v, r.Pos)
					}
				}
			}
		}
	}
	return out
}

// checkGraph refuses jump loops, nesting deeper than the jump stack, and
// statements in chains whose base chains do not allow them.
func checkGraph(ti *tableIndex) error {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	depth := map[string]int{} // longest jump path below a chain
	var path []string
	var visit func(c *Chain) error
	visit = func(c *Chain) error {
		color[c.Name] = grey
		path = append(path, c.Name)
		d := 0
		for _, e := range chainEdges(ti, c) {
			next := ti.chains[e.to]
			if next == nil {
				continue
			}
			switch color[next.Name] {
			case grey:
				i := 0
				for path[i] != next.Name {
					i++
				}
				loop := append(append([]string(nil), path[i:]...), next.Name)
				return wrapf(e.pos, ErrLoop, "chain loop: %s", strings.Join(loop, " -> "))
			case white:
				if err := visit(next); err != nil {
					return err
				}
			}
			d = max(d, depth[next.Name]+1)
		}
		depth[c.Name] = d
		if d >= maxJumpDepth {
			return errorf(c.Pos, "chain %s: jumps nested deeper than %d chains", c.Name, maxJumpDepth)
		}
		path = path[:len(path)-1]
		color[c.Name] = black
		return nil
	}
	for _, c := range ti.t.Chains {
		if color[c.Name] == white {
			if err := visit(c); err != nil {
				return err
			}
		}
	}
	// Statements that only some base chains allow, checked in every chain
	// a base chain reaches.
	for _, c := range ti.t.Chains {
		if c.Base == nil {
			continue
		}
		seen := map[string]bool{}
		queue := []*Chain{c}
		for len(queue) > 0 {
			ch := queue[0]
			queue = queue[1:]
			if seen[ch.Name] {
				continue
			}
			seen[ch.Name] = true
			if err := checkPlacement(ti.t, c.Base, ch); err != nil {
				return err
			}
			for _, e := range chainEdges(ti, ch) {
				if n := ti.chains[e.to]; n != nil {
					queue = append(queue, n)
				}
			}
		}
	}
	return nil
}

func checkPlacement(t *Table, b *BaseSpec, ch *Chain) error {
	for _, r := range ch.Rules {
		for _, s := range r.Stmts {
			switch s := s.(type) {
			case *NAT:
				ok := b.Type == ChainNAT
				switch s.Kind {
				case NATSNAT, NATMasquerade:
					ok = ok && (b.Hook == HookPostrouting || b.Hook == HookInput)
				default:
					ok = ok && (b.Hook == HookPrerouting || b.Hook == HookOutput)
				}
				if !ok {
					where := "postrouting or input"
					if s.Kind == NATDNAT || s.Kind == NATRedirect {
						where = "prerouting or output"
					}
					return errorf(r.Pos, "%s is only valid in nat chains at %s (reached from chain %s at %s)",
						s.Kind, where, ch.Name, b.Hook)
				}
			case *Reject:
				if b.Hook == HookPostrouting {
					return errorf(r.Pos, "reject is not valid at hook postrouting")
				}
			case *Notrack:
				if b.Hook != HookPrerouting && b.Hook != HookOutput {
					return errorf(r.Pos, "notrack is only valid at hooks prerouting and output")
				}
			}
		}
	}
	return nil
}
