package ruleset

import (
	"strconv"

	"github.com/nfgo/nfgo/packet"
)

// Parsers of table and chain blocks.

func (p *parser) parseTableBody(t *Table) {
	for {
		p.skipTerminators()
		tk := p.peek()
		if tk.Kind == tRBrace || tk.Kind == tEOF {
			return
		}
		if tk.Kind != tWord {
			p.unexpected("chain, set, map, counter, comment or '}'")
		}
		switch tk.Text {
		case "chain":
			p.next()
			nt := p.name("chain name")
			c := &Chain{Name: nt.Text, Pos: nt.Pos}
			p.expect(tLBrace, "'{'")
			p.parseChainBody(c, t.Family)
			p.expect(tRBrace, "'}'")
			t.Chains = append(t.Chains, c)
		case "set", "map":
			p.next()
			nt := p.name("set name")
			s := &Set{Name: nt.Text, IsMap: tk.Text == "map", Pos: nt.Pos}
			p.expect(tLBrace, "'{'")
			p.parseSetBody(s)
			p.expect(tRBrace, "'}'")
			t.Sets = append(t.Sets, s)
		case "counter":
			p.next()
			nt := p.name("counter name")
			t.Counters = append(t.Counters, p.parseCounterBody(nt))
		case "comment":
			p.next()
			t.Comment = p.expect(tString, "comment string").Text
		case "flags":
			p.fail(tk.Pos, "table flags are not supported")
		default:
			p.unexpected("chain, set, map, counter, comment or '}'")
		}
		p.endStatement()
	}
}

var hookByName = map[string]Hook{
	"prerouting": HookPrerouting, "input": HookInput, "forward": HookForward,
	"output": HookOutput, "postrouting": HookPostrouting, "ingress": HookIngress,
}

func (p *parser) parseChainBody(c *Chain, fam packet.Family) {
	for {
		p.skipTerminators()
		tk := p.peek()
		if tk.Kind == tRBrace || tk.Kind == tEOF {
			return
		}
		switch {
		case tk.Kind == tWord && tk.Text == "type" && p.peekAt(1).Kind == tWord:
			p.next()
			p.parseBaseSpec(c, fam)
		case tk.Kind == tWord && tk.Text == "policy":
			p.next()
			if c.Base == nil {
				p.fail(tk.Pos, "policy is only valid in a base chain")
			}
			c.Base.Policy = p.policy()
			p.endStatement()
		case tk.Kind == tWord && tk.Text == "comment" && p.peekAt(1).Kind == tString &&
			(p.peekAt(2).Kind == tNewline || p.peekAt(2).Kind == tSemi || p.peekAt(2).Kind == tRBrace) && len(c.Rules) == 0:
			p.next()
			c.Comment = p.next().Text
			p.endStatement()
		default:
			c.Rules = append(c.Rules, p.parseRule(fam))
			p.endStatement()
		}
	}
}

func (p *parser) policy() Policy {
	t := p.expect(tWord, "accept or drop")
	switch t.Text {
	case "accept":
		return PolicyAccept
	case "drop":
		return PolicyDrop
	}
	p.fail(t.Pos, "syntax error, unexpected %s, expecting accept or drop", t.describe())
	return 0
}

func (p *parser) parseBaseSpec(c *Chain, fam packet.Family) {
	b := &BaseSpec{}
	tt := p.expect(tWord, "filter, nat or route")
	switch tt.Text {
	case "filter":
		b.Type = ChainFilter
	case "nat":
		b.Type = ChainNAT
	case "route":
		b.Type = ChainRoute
	default:
		p.fail(tt.Pos, "unknown chain type %s", tt.describe())
	}
	p.expectWord("hook")
	ht := p.expect(tWord, "hook name")
	h, ok := hookByName[ht.Text]
	if !ok {
		p.fail(ht.Pos, "unknown chain hook %s", ht.describe())
	}
	b.Hook = h
	if p.acceptWord("device") {
		b.Device = p.nameValue("device name")
	}
	p.expectWord("priority")
	b.Priority = p.priority(fam, h)
	p.endStatement()
	if p.acceptWord("policy") {
		b.Policy = p.policy()
		p.endStatement()
	}
	c.Base = b
}

// priority reads a number or a standard name with an optional offset.
func (p *parser) priority(fam packet.Family, h Hook) int {
	t := p.expect(tWord, "priority")
	if n, err := strconv.Atoi(t.Text); err == nil {
		if n < -1<<31 || n > 1<<31-1 {
			p.fail(t.Pos, "priority %s out of range", t.Text)
		}
		return n
	}
	base, found := 0, false
	for _, s := range stdPriorities {
		if s.name == t.Text {
			if !stdPriorityOK(s.val, fam, h) {
				p.fail(t.Pos, "'%s' is not a valid priority in this family and hook", t.Text)
			}
			base, found = s.val, true
		}
	}
	if !found {
		p.fail(t.Pos, "syntax error, unexpected %s, expecting priority", t.describe())
	}
	if p.isWord("+") || p.isWord("-") {
		sign := p.next().Text
		n, _ := p.number("priority offset", 31)
		if sign == "-" {
			return base - int(n)
		}
		return base + int(n)
	}
	return base
}
