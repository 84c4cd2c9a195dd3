package ruleset

import (
	"strings"

	"github.com/nfgo/nfgo/packet"
)

// Parsers of the statements that are not matches.

func (p *parser) parseCounter() Stmt {
	p.next()
	if p.acceptWord("name") {
		return &Counter{Name: p.nameValue("counter name")}
	}
	var packets, bytes uint64
	for {
		switch {
		case p.acceptWord("packets"):
			packets, _ = p.number("packet count", 64)
			continue
		case p.acceptWord("bytes"):
			bytes, _ = p.number("byte count", 64)
			continue
		}
		break
	}
	return NewCounter(packets, bytes)
}

var logLevels = map[string]LogLevel{"emerg": 0, "alert": 1, "crit": 2, "err": 3, "warn": 4, "warning": 4,
	"notice": 5, "info": 6, "debug": 7, "audit": 8}

func (p *parser) parseLog() Stmt {
	p.next()
	l := &Log{Level: LogWarn}
	for {
		switch {
		case p.acceptWord("prefix"):
			t := p.peek()
			if t.Kind != tString && t.Kind != tWord {
				p.unexpected("log prefix")
			}
			p.next()
			if len(t.Text) > 127 || strings.ContainsAny(t.Text, "\"\n") {
				p.fail(t.Pos, "log prefix too long or malformed")
			}
			l.Prefix = t.Text
			continue
		case p.acceptWord("level"):
			t := p.expect(tWord, "log level")
			lv, ok := logLevels[t.Text]
			if !ok {
				p.fail(t.Pos, "invalid log level %s", t.describe())
			}
			l.Level = lv
			continue
		case p.isWord("group"), p.isWord("snaplen"), p.isWord("queue-threshold"), p.isWord("flags"):
			t := p.peek()
			p.fail(t.Pos, "log %s is not supported", t.Text)
		}
		return l
	}
}

var limitUnitNames = map[string]LimitUnit{"second": LimitSecond, "minute": LimitMinute, "hour": LimitHour,
	"day": LimitDay, "week": LimitWeek}

var byteUnits = map[string]uint64{"bytes": 1, "kbytes": 1024, "mbytes": 1024 * 1024}

func (p *parser) parseLimit() Stmt {
	p.next()
	p.expectWord("rate")
	l := &Limit{Over: p.acceptWord("over")}
	t := p.expect(tWord, "rate")
	if i := strings.IndexByte(t.Text, '/'); i > 0 {
		n, err := parseUint(t.Text[:i], 64)
		u, ok := limitUnitNames[t.Text[i+1:]]
		if err != nil || !ok || n == 0 {
			p.fail(t.Pos, "invalid limit rate %q", t.Text)
		}
		l.Rate, l.Unit = n, u
	} else {
		n, err := parseUint(t.Text, 64)
		if err != nil || n == 0 {
			p.fail(t.Pos, "invalid limit rate %q", t.Text)
		}
		ut := p.expect(tWord, "bytes, kbytes or mbytes")
		unit, period := ut.Text, ""
		if i := strings.IndexByte(unit, '/'); i > 0 {
			unit, period = unit[:i], unit[i+1:]
		} else {
			p.expect(tSlash, "'/'")
			period = p.expect(tWord, "second, minute, hour, day or week").Text
		}
		mult, ok := byteUnits[unit]
		u, ok2 := limitUnitNames[period]
		if !ok || !ok2 {
			p.fail(ut.Pos, "invalid limit rate unit %q", ut.Text)
		}
		l.Rate, l.Unit, l.Bytes = n*mult, u, true
	}
	if p.acceptWord("burst") {
		n, pos := p.number("burst", 32)
		if l.Bytes {
			ut := p.expect(tWord, "bytes, kbytes or mbytes")
			mult, ok := byteUnits[ut.Text]
			if !ok || n*mult > 1<<32-1 {
				p.fail(ut.Pos, "invalid burst unit %q", ut.Text)
			}
			n *= mult
		} else {
			p.acceptWord("packets")
			if n == 0 {
				p.fail(pos, "burst must be positive")
			}
		}
		l.Burst = uint32(n)
	}
	l.state = newLimitState(l, 0)
	return l
}

func (p *parser) parseReject(fam packet.Family) Stmt {
	p.next()
	r := &Reject{Kind: RejectICMPx, Code: ICMPxPortUnreach}
	if !p.acceptWord("with") {
		r.plain = true
		return r
	}
	t := p.expect(tWord, "icmp, icmpv6, icmpx or tcp")
	var f Field
	switch t.Text {
	case "tcp":
		p.expectWord("reset")
		return &Reject{Kind: RejectTCPReset}
	case "icmp":
		r.Kind, f = RejectICMP, fieldOf(TypeICMPCode)
	case "icmpv6":
		r.Kind, f = RejectICMPv6, fieldOf(TypeICMPv6Code)
	case "icmpx":
		if fam != packet.FamilyInet {
			p.fail(t.Pos, "abstracted ICMP unreachable not supported")
		}
		r.Kind, f = RejectICMPx, fieldOf(TypeICMPxCode)
	default:
		p.fail(t.Pos, "syntax error, unexpected %s, expecting icmp, icmpv6, icmpx or tcp", t.describe())
	}
	p.acceptWord("type")
	ct := p.expect(tWord, "reject code")
	c, err := parseValue(f, ct.Text, false)
	if err != nil {
		p.fail(ct.Pos, "%v", err)
	}
	r.Code = c.B[0]
	if r.Kind == RejectICMP && r.Code == 3 && fam == packet.FamilyIPv4 || r.Kind == RejectICMPv6 && r.Code == 4 && fam == packet.FamilyIPv6 {
		// Port unreachable in the table's own family is the plain
		// reject, and lists as it, as nft lists it; in an inet table it
		// stays what it says.
		r.Kind, r.Code = RejectICMPx, ICMPxPortUnreach
	}
	return r
}

func (p *parser) parseQueue() Stmt {
	p.next()
	q := &Queue{}
	for {
		switch {
		case p.acceptWord("num"), p.acceptWord("to"):
			t := p.expect(tWord, "queue number")
			lo, hi, ok := strings.Cut(t.Text, "-")
			a, err1 := parseUint(lo, 16)
			b, err2 := a, error(nil)
			if ok {
				b, err2 = parseUint(hi, 16)
			}
			if err1 != nil || err2 != nil || b < a {
				p.fail(t.Pos, "invalid queue number %q", t.Text)
			}
			q.Num, q.NumHi = uint16(a), uint16(b)
			continue
		case p.acceptWord("bypass"):
			q.Bypass = true
			continue
		case p.acceptWord("fanout"):
			q.Fanout = true
			continue
		case p.acceptWord("flags"):
			for {
				t := p.expect(tWord, "bypass or fanout")
				switch t.Text {
				case "bypass":
					q.Bypass = true
				case "fanout":
					q.Fanout = true
				default:
					p.fail(t.Pos, "syntax error, unexpected %s, expecting bypass or fanout", t.describe())
				}
				if !p.accept(tComma) {
					break
				}
			}
			continue
		}
		return q
	}
}

var natKinds = map[string]NATKind{"snat": NATSNAT, "dnat": NATDNAT, "masquerade": NATMasquerade, "redirect": NATRedirect}

func (p *parser) parseNAT(fam packet.Family) Stmt {
	kt := p.next()
	n := &NAT{Kind: natKinds[kt.Text]}
	addrOK := n.Kind == NATSNAT || n.Kind == NATDNAT
	if addrOK && (p.isWord("ip") || p.isWord("ip6")) && p.peekAt(1).Kind == tWord && p.peekAt(1).Text == "to" {
		// In an ip or ip6 table only the table's family is valid, and it
		// is dropped, as nft drops it; the rule's check of protocols
		// (checkProtocols) refuses the other.
		if p.next().Text == "ip" {
			n.Family = packet.FamilyIPv4
		} else {
			n.Family = packet.FamilyIPv6
		}
		if n.Family == fam {
			n.Family = 0
		}
	}
	if p.acceptWord("to") {
		p.parseNATTarget(n, fam, addrOK)
	} else if addrOK {
		p.unexpected("'to'")
	}
	p.natFlags(n)
	return n
}

func (p *parser) natAddrField(n *NAT, fam packet.Family, text string) Field {
	switch {
	case n.Family == packet.FamilyIPv6 || n.Family == 0 && fam == packet.FamilyIPv6:
		return fieldOf(TypeIPv6Addr)
	case n.Family == packet.FamilyIPv4 || n.Family == 0 && fam == packet.FamilyIPv4:
		return fieldOf(TypeIPv4Addr)
	}
	if strings.Count(text, ":") >= 2 {
		return fieldOf(TypeIPv6Addr)
	}
	return fieldOf(TypeIPv4Addr)
}

func (p *parser) parseNATTarget(n *NAT, fam packet.Family, addrOK bool) {
	port := fieldOf(TypeInetService)
	t := p.peek()
	switch {
	case t.Kind == tColon || t.Kind == tWord && strings.HasPrefix(t.Text, ":"):
		if t.Kind == tWord {
			p.splitWord(0)
		}
		p.next()
		n.Port = p.natPort(port)
		return
	case !addrOK:
		p.unexpected("':port'")
	case t.Kind == tLBrack:
		p.next()
		f := fieldOf(TypeIPv6Addr)
		lo := p.parseAtom(f, false)
		p.expect(tRBrack, "']'")
		n.Addr = lo
		if p.isWord("-") {
			p.next()
			p.expect(tLBrack, "'['")
			hi, _ := p.parseAtom(f, false).(*Const)
			loc, _ := lo.(*Const)
			if hi == nil || loc == nil {
				p.fail(t.Pos, "invalid address range")
			}
			p.expect(tRBrack, "']'")
			n.Addr = rangeOrPrefix(loc, hi)
		}
		// "]:80" lexes as "]" and the word ":80".
		if t := p.peek(); t.Kind == tWord && strings.HasPrefix(t.Text, ":") {
			p.splitWord(0)
		}
		if p.accept(tColon) {
			n.Port = p.natPort(port)
		}
		return
	case t.Kind == tWord && selectorProtos[t.Text]:
		key := p.parseSelectorExpr()
		p.expectWord("map")
		n.Addr = &MapLookup{Key: key, Map: p.parseMapOperand(exprFields(key), p.natAddrField(n, fam, ""))}
		// "@m:80" lexes as "@m" and the word ":80".
		if t := p.peek(); t.Kind == tWord && strings.HasPrefix(t.Text, ":") {
			p.splitWord(0)
		}
		if p.accept(tColon) {
			n.Port = p.natPort(port)
		}
		return
	}
	if t.Kind != tWord {
		p.unexpected("address")
	}
	f := p.natAddrField(n, fam, t.Text)
	if f.Type == TypeIPv4Addr {
		if i := strings.IndexByte(t.Text, ':'); i > 0 {
			p.splitWord(i)
		}
	}
	n.Addr = elemPrefixes(p.parseAtom(f, false)) // a prefix, as nft lists it
	if _, ok := n.Addr.(*Const); ok && n.Addr.(*Const).Wildcard {
		p.fail(t.Pos, "invalid address")
	}
	if p.accept(tColon) {
		n.Port = p.natPort(port)
	}
}

func (p *parser) natPort(f Field) Expr {
	t := p.peek()
	if t.Kind == tWord && selectorProtos[t.Text] {
		key := p.parseSelectorExpr()
		p.expectWord("map")
		return &MapLookup{Key: key, Map: p.parseMapOperand(exprFields(key), f)}
	}
	e := p.parseAtom(f, false)
	return e
}

func (p *parser) natFlags(n *NAT) {
	names := map[string]NATFlags{"random": NATRandom, "fully-random": NATFullyRandom, "persistent": NATPersistent}
	t := p.peek()
	if t.Kind != tWord || names[t.Text] == 0 {
		return
	}
	for {
		t := p.expect(tWord, "random, fully-random or persistent")
		fl, ok := names[t.Text]
		if !ok {
			p.fail(t.Pos, "syntax error, unexpected %s, expecting random, fully-random or persistent", t.describe())
		}
		n.Flags |= fl
		if !p.accept(tComma) {
			return
		}
	}
}
