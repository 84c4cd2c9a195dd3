package ruleset

import (
	"github.com/nfgo/nfgo/packet"
)

// parseRule reads statements up to the end of the line.
func (p *parser) parseRule(fam packet.Family) *Rule {
	start := p.peek()
	r := &Rule{Pos: start.Pos}
	for !p.atTerminator() {
		if p.isWord("comment") && p.peekAt(1).Kind == tString {
			p.next()
			r.Comment = p.next().Text
			continue
		}
		st := p.peek()
		s := p.parseStmt(fam)
		if n := len(r.Stmts); n > 0 && isTerminal(r.Stmts[n-1]) {
			p.fail(st.Pos, "statement after %s has no effect", StmtString(r.Stmts[n-1]))
		}
		r.Stmts = append(r.Stmts, s)
	}
	if len(r.Stmts) == 0 {
		p.unexpected("statement")
	}
	addDependency(fam, r)
	return r
}

// addDependency completes r as nft's evaluation does, from the protocols
// its matches fix (protoCtx):
//
//   - A reject that nothing in r gives a protocol to gets the match it
//     needs in front of the rule: meta l4proto tcp for a tcp reset, and in
//     an inet table meta nfproto ipv4 or ipv6 for an icmp or icmpv6
//     reply. Without it the rule would drop packets it cannot answer (a
//     UDP packet with a TCP reset), which the kernel's rule does not match.
//   - In an inet table whose rule fixes the network, a plain reject is
//     that family's port unreachable, and a NAT address statement names
//     its family (dnat ip to), as nft lists them.
//   - A th port after tcp or udp is fixed is that protocol's port (tcp
//     flags syn th dport 80 lists as tcp flags syn tcp dport 80).
//
// What contradicts the rule's protocols is left for validation to refuse.
func addDependency(fam packet.Family, r *Rule) {
	c := newProtoCtx(fam)
	for _, s := range r.Stmts {
		switch s := s.(type) {
		case *Match:
			specializeTH(s.Left, c.l4)
		case *VMap:
			specializeTH(s.Key, c.l4)
		}
		if n, ok := s.(*NAT); ok && fam == packet.FamilyInet && n.Addr != nil && n.Family == 0 {
			n.Family = c.net // before its map's key is read, as checkProtocols
		}
		if c.step(s) != "" {
			return
		}
		switch s := s.(type) {
		case *Reject:
			if fam == packet.FamilyInet && s.plain && c.net != 0 {
				s.Kind, s.Code = RejectICMP, 3
				if c.net == packet.FamilyIPv6 {
					s.Kind, s.Code = RejectICMPv6, 4
				}
			}
			var dep *Match
			switch {
			case s.Kind == RejectTCPReset && c.l4 == 0 && specializeAllTH(r, protoTCP):
				// A th port is then a tcp port, and the tcp match the
				// dependency (tcp reset of ... th dport 22 lists as tcp
				// dport 22, as nft lists it).
				return
			case s.Kind == RejectTCPReset && c.l4 == 0:
				dep = constMatch(SelMetaL4proto, TypeInetProto, protoTCP)
			case s.Kind == RejectICMP && c.net == 0 && fam == packet.FamilyInet:
				dep = constMatch(SelMetaNfproto, TypeNFProto, uint8(packet.FamilyIPv4))
			case s.Kind == RejectICMPv6 && c.net == 0 && fam == packet.FamilyInet:
				dep = constMatch(SelMetaNfproto, TypeNFProto, uint8(packet.FamilyIPv6))
			default:
				return
			}
			r.Stmts = append([]Stmt{dep}, r.Stmts...)
			return
		}
	}
}

// specializeAllTH turns the th selectors of r's matches into those of
// transport l4 and reports whether there were any.
func specializeAllTH(r *Rule, l4 uint8) bool {
	found := false
	for _, s := range r.Stmts {
		switch s := s.(type) {
		case *Match:
			found = specializeTH(s.Left, l4) || found
		case *VMap:
			found = specializeTH(s.Key, l4) || found
		}
	}
	return found
}

// specializeTH turns the th selectors of e into those of transport l4,
// when it is tcp or udp, and reports whether it changed one.
func specializeTH(e Expr, l4 uint8) bool {
	switch e := e.(type) {
	case *Selector:
		old := e.Key
		switch {
		case e.Key == SelTHSport && l4 == protoTCP:
			e.Key = SelTCPSport
		case e.Key == SelTHDport && l4 == protoTCP:
			e.Key = SelTCPDport
		case e.Key == SelTHSport && l4 == protoUDP:
			e.Key = SelUDPSport
		case e.Key == SelTHDport && l4 == protoUDP:
			e.Key = SelUDPDport
		}
		return e.Key != old
	case *Concat:
		changed := false
		for _, p := range e.Parts {
			changed = specializeTH(p, l4) || changed
		}
		return changed
	case *Bitwise:
		return specializeTH(e.X, l4)
	}
	return false
}

// constMatch is the match of a one-byte selector with one value.
func constMatch(key SelKey, t Type, v uint8) *Match {
	m := &Match{Left: &Selector{Key: key}, Op: OpImplicit, Right: &Const{Field: fieldOf(t), B: []byte{v}}}
	m.compile()
	return m
}

func isTerminal(s Stmt) bool {
	switch s.(type) {
	case *Verdict, *Reject, *NAT, *Queue:
		return true
	}
	return false
}

func (p *parser) parseStmt(fam packet.Family) Stmt {
	t := p.peek()
	if t.Kind != tWord {
		p.unexpected("statement")
	}
	switch t.Text {
	case "accept", "drop", "continue", "return", "jump", "goto":
		return p.parseVerdictWord()
	case "counter":
		return p.parseCounter()
	case "log":
		return p.parseLog()
	case "limit":
		return p.parseLimit()
	case "reject":
		return p.parseReject(fam)
	case "snat", "dnat", "masquerade", "redirect":
		return p.parseNAT(fam)
	case "queue":
		return p.parseQueue()
	case "notrack":
		p.next()
		return &Notrack{}
	case "ct":
		if p.peekAt(1).Kind == tWord && p.peekAt(1).Text == "count" {
			p.next()
			p.next()
			l := &ConnLimit{Over: p.acceptWord("over"), state: &connLimitState{conns: map[uint32]uint64{}}}
			n, _ := p.number("connection count", 32)
			l.Count = uint32(n)
			return l
		}
	}
	left := p.parseSelectorExpr()
	if p.isWord("set") {
		st := p.next()
		sel, ok := left.(*Selector)
		if !ok || sel.Key != SelMetaMark && sel.Key != SelCTMark {
			p.fail(st.Pos, "%s cannot be set; meta mark and ct mark can", ExprString(left))
		}
		v := p.parseValueExpr(sel.Field())
		if sel.Key == SelMetaMark {
			return &MetaSet{Key: sel.Key, Value: v}
		}
		return &CTSet{Key: sel.Key, Value: v}
	}
	if p.acceptWord("vmap") {
		fields := exprFields(left)
		return &VMap{Key: left, Map: p.parseMapOperand(fields, fieldOf(TypeVerdict))}
	}
	return p.parseMatch(left)
}

// parseVerdictWord reads a verdict, or returns nil if there is none.
func (p *parser) parseVerdictWord() *Verdict {
	t := p.peek()
	if t.Kind != tWord {
		return nil
	}
	kinds := map[string]VerdictKind{"accept": VerdictAccept, "drop": VerdictDrop, "continue": VerdictContinue,
		"return": VerdictReturn, "jump": VerdictJump, "goto": VerdictGoto}
	k, ok := kinds[t.Text]
	if !ok {
		return nil
	}
	p.next()
	v := &Verdict{Kind: k, Pos: t.Pos}
	if k == VerdictJump || k == VerdictGoto {
		v.Chain = p.name("chain name").Text
	}
	return v
}

var selectorProtos = map[string]bool{"ip": true, "ip6": true, "tcp": true, "udp": true, "th": true,
	"icmp": true, "icmpv6": true, "ct": true, "meta": true, "fib": true,
	"iifname": true, "oifname": true, "iif": true, "oif": true, "mark": true, "pkttype": true}

func (p *parser) parseSelector() *Selector {
	t := p.peek()
	if t.Kind != tWord || !selectorProtos[t.Text] {
		p.unexpected("statement or expression")
	}
	p.next()
	var key SelKey
	switch t.Text {
	case "iifname", "oifname", "iif", "oif", "mark", "pkttype":
		key = lookupSel("meta", t.Text)
	case "fib":
		w := p.expect(tWord, "daddr or saddr")
		if w.Text != "daddr" && w.Text != "saddr" {
			p.fail(w.Pos, "syntax error, unexpected %s, expecting daddr or saddr", w.describe())
		}
		p.expectWord("type")
		key = lookupSel("fib", w.Text+" type")
	default:
		f := p.peek()
		if f.Kind != tWord {
			p.unexpected(t.Text + " field")
		}
		key = lookupSel(t.Text, f.Text)
		if key == SelInvalid {
			p.fail(f.Pos, "syntax error, unexpected %s, expecting %s field", f.describe(), t.Text)
		}
		p.next()
	}
	return &Selector{Key: key}
}

// parseSelectorExpr reads a selector, a concatenation of them, or one
// under a mask.
func (p *parser) parseSelectorExpr() Expr {
	first := p.parseSelector()
	var e Expr = first
	if p.peek().Kind == tDot {
		c := &Concat{Parts: []Expr{first}}
		for p.accept(tDot) {
			c.Parts = append(c.Parts, p.parseSelector())
		}
		if keySize(exprFields(c)) > 64 {
			p.fail(p.peek().Pos, "concatenation too long")
		}
		e = c
	}
	if p.peek().Kind == tAmp || p.isWord("and") {
		if _, ok := e.(*Selector); !ok {
			p.fail(p.peek().Pos, "a mask applies to one selector")
		}
		p.next()
		f := first.Field()
		var m Expr
		if p.accept(tLParen) {
			m = p.parseAtom(f, false)
			p.expect(tRParen, "')'")
		} else {
			m = p.parseAtom(f, false)
		}
		mc, ok := m.(*Const)
		if !ok || mc.Wildcard || mc.Name != "" {
			p.fail(p.peek().Pos, "a mask must be a value")
		}
		e = &Bitwise{X: first, Mask: mc}
	}
	return e
}

var opWords = map[string]Op{"eq": OpEq, "ne": OpNeq, "lt": OpLt, "gt": OpGt, "le": OpLe, "ge": OpGe}

func (p *parser) parseMatch(left Expr) Stmt {
	fields := exprFields(left)
	bitmask := len(fields) == 1 && fields[0].Type.IsBitmask()
	op := OpImplicit
	opTok := p.peek()
	switch opTok.Kind {
	case tEqEq:
		op = OpEq
	case tNeq:
		op = OpNeq
	case tLt:
		op = OpLt
	case tGt:
		op = OpGt
	case tLe:
		op = OpLe
	case tGe:
		op = OpGe
	case tBang:
		op = OpNeg
	case tWord:
		if o, ok := opWords[opTok.Text]; ok {
			op = o
		}
	}
	if op != OpImplicit {
		p.next()
	}
	if op == OpNeg && !bitmask {
		p.fail(opTok.Pos, "'!' applies to flags only")
	}
	if p.atTerminator() {
		p.unexpected(fields[0].Type.String() + " value")
	}
	m := &Match{Left: left, Op: op}
	rt := p.peek()
	switch rt.Kind {
	case tLBrace:
		m.Right = p.parseAnonSet(fields, false, Field{})
	case tAt:
		p.next()
		m.Right = &SetRef{Name: rt.Text, Pos: rt.Pos}
	default:
		m.Right = p.parseKey(fields, false)
		if c, ok := m.Right.(*Const); ok && bitmask {
			p.flagList(c)
			if p.accept(tSlash) {
				sel, isSel := left.(*Selector)
				if !isSel {
					p.fail(rt.Pos, "a mask applies to one selector")
				}
				mask, _ := p.parseAtom(fields[0], false).(*Const)
				if mask == nil {
					p.fail(rt.Pos, "a mask must be a value")
				}
				p.flagList(mask)
				m.Left = &Bitwise{X: sel, Mask: mask}
				if m.Op == OpImplicit {
					m.Op = OpEq
				}
			}
		}
	}
	switch m.Right.(type) {
	case *SetExpr, *SetRef, *Prefix, *Range, *Concat:
		if op != OpImplicit && op != OpEq && op != OpNeq {
			p.fail(opTok.Pos, "operator %s needs a single value", op)
		}
	case *Const:
		if c := m.Right.(*Const); (c.Wildcard || c.Name != "") && op != OpImplicit && op != OpEq && op != OpNeq {
			p.fail(opTok.Pos, "operator %s needs a number", op)
		}
	}
	if bw, ok := m.Left.(*Bitwise); ok {
		if rc, ok := m.Right.(*Const); ok && isZero(rc.B) && bitmask && (m.Op == OpEq || m.Op == OpNeq || m.Op == OpImplicit) {
			// tcp flags & syn != 0 is tcp flags syn; == 0 is tcp flags ! syn
			neg := m.Op != OpNeq // implicit is ==
			m = &Match{Left: bw.X, Op: OpImplicit, Right: bw.Mask}
			if neg {
				m.Op = OpNeg
			}
		} else if m.Op == OpImplicit {
			m.Op = OpEq
		}
	}
	if !bitmask && m.Op == OpEq {
		if _, ok := m.Left.(*Bitwise); !ok {
			m.Op = OpImplicit
		}
	}
	m.compile()
	return m
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// flagList ORs a comma-separated list of flags into c: established,related.
func (p *parser) flagList(c *Const) {
	for p.peek().Kind == tComma {
		p.next()
		t := p.expect(tWord, c.Field.Type.String()+" value")
		c2, err := parseValue(c.Field, t.Text, false)
		if err != nil {
			p.fail(t.Pos, "%v", err)
		}
		for i := range c.B {
			c.B[i] |= c2.B[i]
		}
	}
}

// parseAnonSet reads { ... } in a rule and indexes it.
func (p *parser) parseAnonSet(fields []Field, isMap bool, data Field) *SetExpr {
	lb := p.peek()
	s := &SetExpr{Elems: p.parseElems(fields, isMap, data, false)}
	d, err := buildSetData(fields, s.Elems, true, 0)
	if err != nil {
		p.fail(lb.Pos, "%v", err)
	}
	s.compiled = d
	s.Elems = d.elems
	return s
}

// parseMapOperand reads the map of a vmap or a map lookup.
func (p *parser) parseMapOperand(fields []Field, data Field) Expr {
	t := p.peek()
	switch t.Kind {
	case tLBrace:
		return p.parseAnonSet(fields, true, data)
	case tAt:
		p.next()
		return &SetRef{Name: t.Text, Pos: t.Pos}
	}
	p.unexpected("'{' or @map")
	return nil
}

// parseValueExpr reads the argument of a set statement: a value, a
// selector, or a map lookup.
func (p *parser) parseValueExpr(f Field) Expr {
	t := p.peek()
	if t.Kind == tWord && selectorProtos[t.Text] {
		key := p.parseSelectorExpr()
		if p.acceptWord("map") {
			return &MapLookup{Key: key, Map: p.parseMapOperand(exprFields(key), f)}
		}
		kf := exprFields(key)
		if len(kf) != 1 || kf[0].Size != f.Size {
			p.fail(t.Pos, "datatype mismatch: %s is %s, expected %s", ExprString(key), kf[0].Type, f.Type)
		}
		return key
	}
	c, ok := p.parseAtom(f, false).(*Const)
	if !ok || c.Wildcard || c.Name != "" {
		p.fail(t.Pos, "expected a single %s value", f.Type)
	}
	return c
}
