package ruleset

import (
	"strings"

	"github.com/nfgo/nfgo/packet"
)

// validate checks what a transaction changed, and what depends on it:
// base chains in families and hooks their type allows, references to
// chains, sets and counters that exist with the right types, no jump
// loops, nesting within the kernel's jump stack, and statements only where
// the kernel allows them (nft_chain_validate and the expressions' validate
// hooks). A table the transaction created, or in which it deleted a chain,
// set or counter that any rule may have referred to, is checked whole.
func (tx *txn) validate() error {
	for _, t := range tx.rs.tables {
		tt := tx.tables[t]
		switch {
		case tt == nil:
		case tt.full:
			if err := validateTable(tt.ix); err != nil {
				return err
			}
		default:
			if err := tx.validateChanges(tt); err != nil {
				return err
			}
		}
	}
	return nil
}

// validateTable checks a whole table.
func validateTable(ti *tableIndex) error {
	t := ti.t
	for _, c := range t.Chains {
		if c.Base != nil {
			if err := validateBase(t, c); err != nil {
				return err
			}
		}
		for _, r := range c.Rules {
			if err := checkProtocols(ti, r); err != nil {
				return err
			}
			for _, s := range r.Stmts {
				if err := validateStmt(ti, r, s); err != nil {
					return err
				}
			}
		}
	}
	for _, s := range t.Sets {
		if err := validateVerdictMap(ti, s); err != nil {
			return err
		}
	}
	return checkGraph(ti)
}

// validateChanges checks the rules a transaction added to a table whose
// names it only added to, the verdict maps it changed, and the table's
// jump graph when one of those can change it.
func (tx *txn) validateChanges(tt *tableTx) error {
	ti := tt.ix
	graph := false
	for _, c := range tt.live {
		prev := tt.chains[c]
		if prev == nil && c.Base != nil {
			if err := validateBase(ti.t, c); err != nil {
				return err
			}
			graph = true
		}
		var old []*Rule
		if prev != nil {
			old = prev.Rules
		}
		for _, r := range changedRules(old, c.Rules) {
			if err := checkProtocols(ti, r); err != nil {
				return err
			}
			for _, s := range r.Stmts {
				if err := validateStmt(ti, r, s); err != nil {
					return err
				}
				graph = graph || inGraph(s)
			}
		}
	}
	for _, s := range ti.t.Sets {
		if tx.owned[s] && s.IsMap && s.Data.Type == TypeVerdict {
			if err := validateVerdictMap(ti, s); err != nil {
				return err
			}
			graph = true
		}
	}
	if graph {
		return checkGraph(ti)
	}
	return nil
}

// changedRules is the part of rules that differs from old: everything
// between the longest common prefix and the longest common suffix.
func changedRules(old, rules []*Rule) []*Rule {
	n, m := len(old), len(rules)
	a := 0
	for a < n && a < m && old[a] == rules[a] {
		a++
	}
	b := 0
	for b < n-a && b < m-a && old[n-1-b] == rules[m-1-b] {
		b++
	}
	return rules[a : m-b]
}

// inGraph reports whether a statement is an edge of the jump graph or one
// that only some base chains allow: a rule holding one is checked with
// the graph of its table.
func inGraph(s Stmt) bool {
	switch s := s.(type) {
	case *Verdict:
		return s.Kind == VerdictJump || s.Kind == VerdictGoto
	case *VMap, *NAT, *Reject:
		return true
	}
	return false
}

func validateVerdictMap(ti *tableIndex, s *Set) error {
	if !s.IsMap || s.Data.Type != TypeVerdict {
		return nil
	}
	for _, e := range s.data().elems {
		if v, ok := e.Data.(*Verdict); ok {
			if err := validateVerdict(ti, s.Pos, v); err != nil {
				return err
			}
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
		if b.Priority <= -200 {
			// NAT needs the connection conntrack finds at -200
			// (nft_chain_parse_hook refuses it: EOPNOTSUPP).
			return errorf(pos, "chain %s: a nat chain's priority must be above conntrack's (-200), not %d", c.Name, b.Priority)
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
		if e.Key == SelMetaNfproto && t.Family != packet.FamilyInet {
			return errorf(pos, "meta nfproto is only useful in the inet family")
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
	c := ti.chain(v.Chain)
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
	s := ti.set(ref.Name)
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
		if s.Name != "" && ti.counter(s.Name) == nil {
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

// checkProtocols follows the network and transport protocols that the
// matches of r fix (protoCtx) and refuses what contradicts them, with
// nft's messages: matches on two protocols no packet is at once (tcp dport
// 22 udp dport 53; ip saddr and ip6 daddr in an inet table), a reject of
// the other family's ICMP, a tcp reset of what is not TCP, a NAT to a port
// with no transport protocol fixed, a NAT address of the other family, and
// in an inet table a NAT address whose family nothing fixes.
func checkProtocols(ti *tableIndex, r *Rule) error {
	t := ti.t
	c := newProtoCtx(t.Family)
	for _, s := range r.Stmts {
		// A NAT statement's family is settled before its map's key is
		// read: dnat to ip saddr map @m in an inet table names no family.
		if n, ok := s.(*NAT); ok && n.Addr != nil {
			switch {
			case n.Family != 0 && c.net != 0 && n.Family != c.net:
				return errorf(r.Pos, "conflicting protocols specified: %s vs. %s. You must specify ip or ip6 family in nat statement",
					familyName(c.net), familyName(n.Family))
			case n.Family == 0 && c.net == 0:
				return errorf(r.Pos, "ip or ip6 must be specified with address for inet tables.")
			case n.Family == 0 && t.Family == packet.FamilyInet:
				want := TypeIPv4Addr
				if c.net == packet.FamilyIPv6 {
					want = TypeIPv6Addr
				}
				if f := natAddrFields(ti, n.Addr); len(f) == 1 && f[0].Type != want {
					return errorf(r.Pos, "%s: the address is not of family %s, which the rule's matches fix", StmtString(n), familyName(c.net))
				}
			}
		}
		if msg := c.step(s); msg != "" {
			return errorf(r.Pos, "%s", msg)
		}
	}
	return nil
}

// protoCtx is what the statements of a rule have fixed so far of its
// network and transport protocols, followed statement by statement as
// nft's evaluation follows them.
//
// A match fixes a protocol when its selector reads that protocol's header
// (tcp dport fixes tcp, ip saddr fixes ip; th fixes nothing; an ICMP
// header fixes the network only when nothing has), or when it is meta
// l4proto, ip protocol or ip6 nexthdr (the transport) or meta nfproto
// (the network) equal to one value. Such a match may contradict what was
// fixed before: tcp dport 22 meta l4proto udp is taken, as nft takes it,
// but any transport header matched after it is then a conflict.
type protoCtx struct {
	net          packet.Family // 0: not fixed
	l4           uint8         // 0: not fixed
	l4Name       string
	contradicted bool // a match fixed another transport than the one fixed before

	// transport: a match has fixed some transport protocol, which nft
	// requires before a NAT statement maps ports. A transport header
	// read by a match counts (readL4), and so does meta l4proto, ip
	// protocol or ip6 nexthdr equal to a value, a range or an anonymous
	// set (not a named one); so does the key of the NAT's own address map
	// (dnat to tcp dport map { 22 : ADDR }:8080), not a port map's.
	transport bool
	readL4    bool // reads met a transport header
}

// newProtoCtx is the context at the start of a rule of a table of family
// fam: an ip or ip6 table fixes the network.
func newProtoCtx(fam packet.Family) protoCtx {
	var c protoCtx
	if fam == packet.FamilyIPv4 || fam == packet.FamilyIPv6 {
		c.net = fam
	}
	return c
}

// step follows statement s. It returns nft's message when s contradicts
// what is fixed, else "".
func (c *protoCtx) step(s Stmt) string {
	switch s := s.(type) {
	case *Match:
		c.readL4 = false
		if msg := c.reads(s.Left); msg != "" {
			return msg
		}
		c.transport = c.transport || c.readL4
		sel, ok := s.Left.(*Selector)
		if !ok || s.Op != OpImplicit && s.Op != OpEq {
			return ""
		}
		_, named := s.Right.(*SetRef)
		v, one := s.Right.(*Const)
		one = one && len(v.B) == 1
		switch sel.Key {
		case SelMetaL4proto, SelIPProtocol, SelIP6Nexthdr:
			c.transport = c.transport || !named
			if one {
				c.contradicted = c.contradicted || c.l4 != 0 && c.l4 != v.B[0]
				c.l4, c.l4Name = v.B[0], ExprString(v)
			}
		case SelMetaNfproto:
			if !one {
				break
			}
			if f := packet.Family(v.B[0]); f == packet.FamilyIPv4 || f == packet.FamilyIPv6 {
				c.net = f
			}
		}
	case *VMap:
		return c.reads(s.Key)
	case *MetaSet:
		return c.readsValue(s.Value)
	case *CTSet:
		return c.readsValue(s.Value)
	case *Reject:
		switch {
		case s.Kind == RejectTCPReset && c.l4 != 0 && c.l4 != protoTCP:
			return "you cannot use tcp reset with this protocol"
		case s.Kind == RejectICMP && c.net == packet.FamilyIPv6, s.Kind == RejectICMPv6 && c.net == packet.FamilyIPv4:
			return "conflicting protocols specified: ip vs ip6"
		}
	case *NAT:
		if m, ok := s.Addr.(*MapLookup); ok {
			c.readL4 = false
			if msg := c.reads(m.Key); msg != "" {
				return msg
			}
			c.transport = c.transport || c.readL4
		}
		if s.Port != nil && !c.transport {
			return StmtString(s) + ": transport protocol mapping is only valid after transport protocol match"
		}
		if m, ok := s.Port.(*MapLookup); ok {
			return c.reads(m.Key)
		}
	}
	return ""
}

// readsValue follows the headers that the value of a statement reads: a
// selector (meta mark set ct mark) or a map's key (meta mark set ip saddr
// map @marks).
func (c *protoCtx) readsValue(v Expr) string {
	if m, ok := v.(*MapLookup); ok {
		return c.reads(m.Key)
	}
	return c.reads(v)
}

// reads follows the headers that e reads.
func (c *protoCtx) reads(e Expr) string {
	switch e := e.(type) {
	case *Selector:
		info := e.info()
		if f := info.family; f == packet.FamilyIPv4 || f == packet.FamilyIPv6 {
			switch {
			case info.l4 == protoICMP || info.l4 == protoICMPv6:
				// An ICMP header fixes the network only when nothing
				// has fixed it or the transport: ip6 daddr ::1 icmp type
				// echo-request and meta l4proto icmp icmp code 0 are taken
				// with any network, as nft takes them.
				if c.net == 0 && c.l4 != info.l4 {
					c.net = f
				}
			case c.net != 0 && c.net != f:
				return "conflicting protocols specified: " + familyName(c.net) + " vs. " + familyName(f)
			default:
				c.net = f
			}
		}
		if info.l4 != 0 && info.l4 != protoTH {
			c.readL4 = true
			if c.l4 != 0 && (c.l4 != info.l4 || c.contradicted) {
				return "conflicting protocols specified: " + c.l4Name + " vs. " + info.proto
			}
			c.l4, c.l4Name = info.l4, info.proto
		}
	case *Concat:
		for _, p := range e.Parts {
			if msg := c.reads(p); msg != "" {
				return msg
			}
		}
	case *Bitwise:
		return c.reads(e.X)
	}
	return ""
}

func natAddrFields(ti *tableIndex, e Expr) []Field {
	if m, ok := e.(*MapLookup); ok {
		switch mm := m.Map.(type) {
		case *SetExpr:
			if len(mm.Elems) > 0 {
				return exprFields(mm.Elems[0].Data)
			}
		case *SetRef:
			if s := ti.set(mm.Name); s != nil {
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

// chainEdges are the jumps and gotos of a chain's rules and of the verdict
// maps they use, in order.
func chainEdges(ti *tableIndex, c *Chain, out []edge) []edge {
	forEdges(ti, c, func(v *Verdict, pos Pos) {
		if v.Pos.Line != 0 {
			pos = v.Pos
		}
		out = append(out, edge{v.Chain, pos})
	})
	return out
}

// forEdges calls f with each jump or goto of a chain, and the position of
// its rule.
func forEdges(ti *tableIndex, c *Chain, f func(v *Verdict, rule Pos)) {
	for _, r := range c.Rules {
		for _, s := range r.Stmts {
			switch s := s.(type) {
			case *Verdict:
				if s.Kind == VerdictJump || s.Kind == VerdictGoto {
					f(s, r.Pos)
				}
			case *VMap:
				var elems []*Elem
				switch m := s.Map.(type) {
				case *SetExpr:
					elems = m.Elems
				case *SetRef:
					if set := ti.set(m.Name); set != nil {
						elems = set.data().elems
					}
				}
				for _, e := range elems {
					if v, ok := e.Data.(*Verdict); ok && (v.Kind == VerdictJump || v.Kind == VerdictGoto) {
						f(v, r.Pos)
					}
				}
			}
		}
	}
}

// jumpGraph is a table's jumps and gotos between existing chains, by
// position in the table: chain i's edges are to[off[i]:off[i+1]].
type jumpGraph struct {
	off []int32
	to  []int32
}

func newJumpGraph(ti *tableIndex) *jumpGraph {
	chains := ti.t.Chains
	g := &jumpGraph{off: make([]int32, 1, len(chains)+1), to: make([]int32, 0, len(chains))}
	for _, c := range chains {
		forEdges(ti, c, func(v *Verdict, _ Pos) {
			if i, ok := ti.chains[v.Chain]; ok {
				g.to = append(g.to, int32(i))
			}
		})
		g.off = append(g.off, int32(len(g.to)))
	}
	return g
}

// edgePos is the position of edge k of chain c of the graph.
func (g *jumpGraph) edgePos(ti *tableIndex, c int32, k int32) Pos {
	var pos Pos
	i := g.off[c]
	for _, e := range chainEdges(ti, ti.t.Chains[c], nil) {
		if _, ok := ti.chains[e.to]; ok {
			if i == k {
				pos = e.pos
			}
			i++
		}
	}
	return pos
}

// checkGraph refuses jump loops, nesting deeper than the jump stack, and
// statements in chains whose base chains do not allow them.
func checkGraph(ti *tableIndex) error {
	const (
		white = iota
		grey
		black
	)
	chains := ti.t.Chains
	g := newJumpGraph(ti)
	color := make([]uint8, len(chains))
	depth := make([]int32, len(chains)) // longest jump path below a chain
	var path []int32
	var visit func(c int32) error
	visit = func(c int32) error {
		color[c] = grey
		path = append(path, c)
		d := int32(0)
		for k := g.off[c]; k < g.off[c+1]; k++ {
			next := g.to[k]
			switch color[next] {
			case grey:
				i := 0
				for path[i] != next {
					i++
				}
				var loop []string
				for _, p := range path[i:] {
					loop = append(loop, chains[p].Name)
				}
				loop = append(loop, chains[next].Name)
				return wrapf(g.edgePos(ti, c, k), ErrLoop, "chain loop: %s", strings.Join(loop, " -> "))
			case white:
				if err := visit(next); err != nil {
					return err
				}
			}
			d = max(d, depth[next]+1)
		}
		depth[c] = d
		if d >= maxJumpDepth {
			return errorf(chains[c].Pos, "chain %s: jumps nested deeper than %d chains", chains[c].Name, maxJumpDepth)
		}
		path = path[:len(path)-1]
		color[c] = black
		return nil
	}
	for i := range chains {
		if color[i] == white {
			if err := visit(int32(i)); err != nil {
				return err
			}
		}
	}
	// Statements that only some base chains allow, checked in every chain
	// a base chain reaches.
	seen := make([]int32, len(chains)) // 1 + the base chain that last reached it
	var queue []int32
	for b, c := range chains {
		if c.Base == nil {
			continue
		}
		queue = append(queue[:0], int32(b))
		for qi := 0; qi < len(queue); qi++ {
			ch := queue[qi]
			if seen[ch] == int32(b)+1 {
				continue
			}
			seen[ch] = int32(b) + 1
			if err := checkPlacement(ti.t, c.Base, chains[ch]); err != nil {
				return err
			}
			queue = append(queue, g.to[g.off[ch]:g.off[ch+1]]...)
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
				// The hooks of nft_nat_validate and nft_masq_validate.
				where := "prerouting or output"
				switch s.Kind {
				case NATSNAT:
					ok = ok && (b.Hook == HookPostrouting || b.Hook == HookInput)
					where = "postrouting or input"
				case NATMasquerade:
					ok = ok && b.Hook == HookPostrouting
					where = "postrouting"
				default:
					ok = ok && (b.Hook == HookPrerouting || b.Hook == HookOutput)
				}
				if !ok {
					return errorf(r.Pos, "%s is only valid in nat chains at %s (reached from chain %s at %s)",
						s.Kind, where, ch.Name, b.Hook)
				}
			case *Reject:
				if b.Hook == HookPostrouting {
					return errorf(r.Pos, "reject is not valid at hook postrouting")
				}
			}
		}
	}
	return nil
}
