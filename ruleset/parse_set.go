package ruleset

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

func (p *parser) parseSetBody(s *Set) {
	for {
		p.skipTerminators()
		tk := p.peek()
		if tk.Kind == tRBrace || tk.Kind == tEOF {
			break
		}
		if tk.Kind != tWord {
			p.unexpected("type, flags, timeout, size, comment, elements or '}'")
		}
		p.next()
		switch tk.Text {
		case "type":
			s.Key = p.typeList()
			if s.IsMap {
				p.expect(tColon, "':'")
				dt := p.expect(tWord, "data type")
				t, ok := typeByName(dt.Text)
				if !ok {
					p.fail(dt.Pos, "unknown datatype %s", dt.Text)
				}
				s.Data = fieldOf(t)
			}
		case "typeof":
			key := p.parseSelectorExpr()
			s.Key = exprFields(key)
			for _, f := range s.Key {
				if f.Type == TypeInteger || f.Type == TypeIfindex {
					p.fail(tk.Pos, "typeof %s: integer keys are not supported; use a named type", ExprString(key))
				}
			}
			if s.IsMap {
				p.expect(tColon, "':'")
				if p.isWord("verdict") {
					p.next()
					s.Data = fieldOf(TypeVerdict)
				} else {
					d := exprFields(p.parseSelectorExpr())
					if len(d) != 1 || d[0].Type == TypeInteger {
						p.fail(tk.Pos, "unsupported map data type")
					}
					s.Data = d[0]
				}
			}
		case "flags":
			for {
				ft := p.expect(tWord, "set flag")
				switch ft.Text {
				case "constant":
					s.Flags |= SetConstant
				case "interval":
					s.Flags |= SetInterval
				case "timeout":
					s.Flags |= SetTimeout
				case "dynamic":
				default:
					p.fail(ft.Pos, "syntax error, unexpected %s, expecting constant, interval, timeout or dynamic", ft.describe())
				}
				if !p.accept(tComma) {
					break
				}
			}
		case "timeout":
			s.Timeout = p.duration()
			s.Flags |= SetTimeout
		case "gc-interval":
			p.duration()
		case "size":
			n, _ := p.number("set size", 32)
			s.Size = uint32(n)
		case "comment":
			s.Comment = p.expect(tString, "comment string").Text
		case "policy":
			pt := p.expect(tWord, "performance or memory")
			if pt.Text != "performance" && pt.Text != "memory" {
				p.fail(pt.Pos, "syntax error, unexpected %s, expecting performance or memory", pt.describe())
			}
			s.PolicyMemory = pt.Text == "memory"
		case "auto-merge":
		case "elements":
			if s.Key == nil {
				p.fail(tk.Pos, "set %s: type must be declared before elements", s.Name)
			}
			p.expect(tAssign, "'='")
			s.Elems = append(s.Elems, p.parseElems(s.Key, s.IsMap, s.Data, true)...)
		default:
			p.fail(tk.Pos, "syntax error, unexpected %s, expecting type, flags, timeout, size, comment, elements or '}'", tk.describe())
		}
		p.endStatement()
	}
	if s.Key == nil {
		p.fail(s.Pos, "set %s has no type", s.Name)
	}
	if s.Flags&SetConstant != 0 && s.Flags&SetTimeout != 0 {
		// The kernel refuses it (EOPNOTSUPP): a constant set's
		// elements cannot time out.
		p.fail(s.Pos, "set %s: flags constant and timeout cannot go together", s.Name)
	}
}

func (p *parser) typeList() []Field {
	var fs []Field
	for {
		t := p.expect(tWord, "data type")
		typ, ok := typeByName(t.Text)
		if !ok || typ == TypeVerdict {
			p.fail(t.Pos, "unknown datatype %s", t.Text)
		}
		fs = append(fs, fieldOf(typ))
		if !p.accept(tDot) {
			return fs
		}
	}
}

func (p *parser) duration() Duration {
	t := p.expect(tWord, "time")
	d, err := parseDuration(t.Text)
	if err != nil {
		p.fail(t.Pos, "%v", err)
	}
	return d
}

// parseElems reads { elem, elem, ... } of a set or map with these types.
// named says the elements may carry timeouts.
func (p *parser) parseElems(fields []Field, isMap bool, data Field, named bool) []*Elem {
	lb := p.expect(tLBrace, "'{'")
	var out []*Elem
	for {
		p.skipNewlines()
		if p.accept(tRBrace) {
			break
		}
		if p.peek().Kind == tLBrace {
			out = append(out, p.parseElems(fields, isMap, data, named)...)
		} else {
			out = append(out, p.parseElem(fields, isMap, data, named))
		}
		p.skipNewlines()
		if p.accept(tComma) {
			continue
		}
		if p.peek().Kind != tRBrace {
			p.unexpected("',' or '}'")
		}
	}
	if len(out) == 0 && !named {
		p.fail(lb.Pos, "syntax error, empty set")
	}
	return out
}

func (p *parser) parseElem(fields []Field, isMap bool, data Field, named bool) *Elem {
	start := p.peek()
	e := &Elem{Key: elemPrefixes(p.parseKey(fields, isMap))}
	for {
		switch {
		case p.isWord("timeout") && named:
			p.next()
			e.Timeout = p.duration()
			continue
		case p.isWord("expires") && named:
			p.next()
			e.Expires = p.duration()
			continue
		case p.isWord("comment") && named:
			p.next()
			e.Comment = p.expect(tString, "comment string").Text
			continue
		}
		break
	}
	if isMap && p.keysOnly && p.peek().Kind != tColon {
		return e
	}
	if isMap {
		p.expect(tColon, "':'")
		if data.Type == TypeVerdict {
			v := p.parseVerdictWord()
			if v == nil {
				p.unexpected("verdict")
			}
			e.Data = v
		} else {
			e.Data = p.parseAtom(data, false)
		}
	} else if p.peek().Kind == tColon {
		p.fail(start.Pos, "syntax error, a set element has no data; use a map")
	}
	return e
}

// parseKey reads one value of the key's type; a concatenation for
// several fields: 10.0.0.1 . 22.
func (p *parser) parseKey(fields []Field, splitColon bool) Expr {
	if len(fields) == 1 {
		return p.parseAtom(fields[0], splitColon)
	}
	c := &Concat{}
	for i, f := range fields {
		if i > 0 {
			p.expect(tDot, "'.'")
		}
		c.Parts = append(c.Parts, p.parseAtom(f, splitColon && i == len(fields)-1))
	}
	return c
}

// splitWord replaces the current word token with the word up to byte i,
// a ':' and the rest: "22:accept" becomes 22 : accept.
func (p *parser) splitWord(i int) {
	t := p.toks[p.i]
	left := token{Kind: tWord, Text: t.Text[:i], Pos: t.Pos}
	colon := token{Kind: tColon, Pos: Pos{t.Pos.File, t.Pos.Line, t.Pos.Col + i}}
	parts := []token{left, colon}
	if i == 0 {
		parts = parts[1:]
	}
	if rest := t.Text[i+1:]; rest != "" {
		parts = append(parts, token{Kind: tWord, Text: rest, Pos: Pos{t.Pos.File, t.Pos.Line, t.Pos.Col + i + 1}})
	}
	tail := append(parts, p.toks[p.i+1:]...)
	p.toks = append(p.toks[:p.i], tail...)
}

// parseAtom reads one constant of field f: a value, a prefix, a range,
// or for flags several joined by '|'.
func (p *parser) parseAtom(f Field, splitColon bool) Expr {
	t := p.peek()
	if t.Kind == tWord && splitColon && f.Type != TypeIPv6Addr {
		if i := strings.IndexByte(t.Text, ':'); i > 0 {
			p.splitWord(i)
			t = p.peek()
		}
	}
	switch t.Kind {
	case tString:
		p.next()
		c, err := parseValue(f, t.Text, true)
		if err != nil {
			p.fail(t.Pos, "%v", err)
		}
		return c
	case tWord:
	default:
		p.unexpected(f.Type.String() + " value")
	}
	p.next()
	e, err := atomFromWord(f, t.Text)
	if err != nil {
		p.fail(t.Pos, "%v", err)
	}
	if c, ok := e.(*Const); ok && f.Type.IsBitmask() {
		for p.accept(tPipe) {
			nt := p.expect(tWord, f.Type.String()+" value")
			c2, err := parseValue(f, nt.Text, false)
			if err != nil {
				p.fail(nt.Pos, "%v", err)
			}
			for i := range c.B {
				c.B[i] |= c2.B[i]
			}
		}
	}
	return e
}

// atomFromWord reads a value, a prefix (a/len) or a range (a-b).
func atomFromWord(f Field, text string) (Expr, error) {
	c, err := parseValue(f, text, false)
	if err == nil {
		return c, nil
	}
	if i := strings.LastIndexByte(text, '/'); i > 0 && (f.Type == TypeIPv4Addr || f.Type == TypeIPv6Addr || f.Type == TypeMark) {
		base, err2 := parseValue(f, text[:i], false)
		if err2 != nil {
			return nil, err2
		}
		n, err2 := strconv.Atoi(text[i+1:])
		if err2 != nil || n < 0 || n > f.Size*8 {
			return nil, fmt.Errorf("invalid prefix length %q", text[i+1:])
		}
		pf := &Prefix{Base: base, Len: n}
		lo, _ := pf.bounds()
		base.B = lo
		return pf, nil
	}
	for i := 1; i < len(text)-1; i++ {
		if text[i] != '-' {
			continue
		}
		lo, err1 := parseValue(f, text[:i], false)
		hi, err2 := parseValue(f, text[i+1:], false)
		if err1 != nil || err2 != nil || lo.Wildcard || hi.Wildcard || lo.Name != "" || hi.Name != "" {
			continue
		}
		if bytes.Compare(lo.B, hi.B) > 0 {
			return nil, fmt.Errorf("invalid range %s: start is above end", text)
		}
		// A match keeps its range as written (nft lists ip saddr
		// 10.0.0.0-10.0.0.255 so); elements and NAT addresses turn an
		// exact prefix into one (elemPrefixes, rangeOrPrefix).
		return &Range{Lo: lo, Hi: hi}, nil
	}
	return nil, err
}

// elemPrefixes is an element's key with each range that is exactly a
// prefix (or one value) turned into it, as nft lists set elements.
func elemPrefixes(e Expr) Expr {
	switch e := e.(type) {
	case *Range:
		return rangeOrPrefix(e.Lo, e.Hi)
	case *Concat:
		for i, p := range e.Parts {
			e.Parts[i] = elemPrefixes(p)
		}
	}
	return e
}

// rangeOrPrefix turns an address or mark range that is exactly a prefix
// into the prefix (or the value, for a range of one), as nft prints it.
func rangeOrPrefix(lo, hi *Const) Expr {
	if lo.Field.Type != TypeIPv4Addr && lo.Field.Type != TypeIPv6Addr && lo.Field.Type != TypeMark {
		return &Range{Lo: lo, Hi: hi}
	}
	for n := 0; n <= len(lo.B)*8; n++ {
		pf := &Prefix{Base: lo, Len: n}
		l, h := pf.bounds()
		if bytes.Equal(l, lo.B) && bytes.Equal(h, hi.B) {
			if n == len(lo.B)*8 {
				return lo
			}
			return pf
		}
	}
	return &Range{Lo: lo, Hi: hi}
}
