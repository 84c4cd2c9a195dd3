package ruleset

import (
	"bytes"
	"strconv"
	"strings"
)

// Expr is an expression of a rule: something that yields a value from the
// packet (a *Selector, a *Concat of selectors, a *Bitwise mask of one, a
// *MapLookup) or a constant operand (*Const, *Prefix, *Range, *SetExpr,
// *SetRef, *Concat of constants, and *Verdict as the data of a verdict map).
// The set of kinds is closed.
type Expr interface {
	write(sb *strings.Builder)
	exprNode()
}

// ExprString prints an expression as nft does.
func ExprString(e Expr) string {
	var sb strings.Builder
	e.write(&sb)
	return sb.String()
}

// Const is one value of a field's type, big-endian in B.
type Const struct {
	Field Field
	B     []byte
	// Wildcard: an ifname that matches every name starting with B ("eth*").
	Wildcard bool
	// Name is an interface named by a string in an iface_index match
	// (`iif "lo"`); it is resolved when the packet is evaluated.
	Name string
}

func (*Const) exprNode() {}

func (c *Const) write(sb *strings.Builder) { c.writeNumeric(sb, false) }

func (c *Const) writeNumeric(sb *strings.Builder, numeric bool) {
	switch {
	case c.Field.Type == TypeIfindex && c.Name != "":
		sb.WriteString(`"` + c.Name + `"`)
	case c.Field.Type == TypeIfname:
		name := string(bytes.TrimRight(c.B, "\x00"))
		if strings.HasSuffix(name, "*") {
			name = name[:len(name)-1] + `\*`
		}
		if c.Wildcard {
			name += "*"
		}
		sb.WriteString(`"` + name + `"`)
	default:
		formatValue(sb, c.Field, c.B, numeric)
	}
}

// bounds is the interval of keys the constant stands for.
func (c *Const) bounds() (lo, hi []byte) {
	if !c.Wildcard {
		return c.B, c.B
	}
	lo = append([]byte(nil), c.B...)
	hi = append([]byte(nil), c.B...)
	n := len(bytes.TrimRight(c.B, "\x00"))
	for i := n; i < len(hi); i++ {
		hi[i] = 0xff
	}
	return lo, hi
}

// Prefix is an address (or mark) with a prefix length: 10.0.0.0/8.
type Prefix struct {
	Base *Const
	Len  int
}

func (*Prefix) exprNode() {}

func (p *Prefix) write(sb *strings.Builder) {
	p.Base.write(sb)
	sb.WriteString("/" + strconv.Itoa(p.Len))
}

func (p *Prefix) bounds() (lo, hi []byte) {
	lo = append([]byte(nil), p.Base.B...)
	hi = append([]byte(nil), p.Base.B...)
	for i := range lo {
		bit := i * 8
		for j := 0; j < 8; j++ {
			if bit+j >= p.Len {
				m := byte(0x80 >> j)
				lo[i] &^= m
				hi[i] |= m
			}
		}
	}
	return lo, hi
}

// Range is an inclusive interval: 1024-65535.
type Range struct {
	Lo, Hi *Const
}

func (*Range) exprNode() {}

func (r *Range) write(sb *strings.Builder) {
	r.Lo.writeNumeric(sb, true)
	sb.WriteByte('-')
	r.Hi.writeNumeric(sb, true)
}

// Concat joins values or selectors: ip saddr . tcp dport, 10.0.0.1 . 22.
type Concat struct {
	Parts []Expr
}

func (*Concat) exprNode() {}

func (c *Concat) write(sb *strings.Builder) {
	for i, p := range c.Parts {
		if i > 0 {
			sb.WriteString(" . ")
		}
		p.write(sb)
	}
}

// Bitwise is a selector under a mask: tcp flags & (syn | ack).
type Bitwise struct {
	X    Expr // a *Selector
	Mask *Const
}

func (*Bitwise) exprNode() {}

func (b *Bitwise) write(sb *strings.Builder) {
	b.X.write(sb)
	sb.WriteString(" & ")
	b.Mask.write(sb)
}

// Elem is one element of a set or map: a key (a *Const, *Prefix, *Range
// or a *Concat of them), for maps the data, and an optional timeout.
type Elem struct {
	Key     Expr
	Data    Expr // *Const or *Verdict; nil in a set
	Timeout Duration
	Expires Duration // printed only; set from Timeout when added
	Comment string

	expires int64 // unix nanoseconds when the element goes away; 0: never
}

func (e *Elem) write(sb *strings.Builder, now int64) {
	writeInSet(sb, e.Key)
	if e.Timeout != 0 {
		sb.WriteString(" timeout " + e.Timeout.String())
	}
	if e.expires != 0 {
		left := e.expires - now
		if left < 0 {
			left = 0
		}
		sb.WriteString(" expires " + Duration(left).String())
	}
	if e.Comment != "" {
		sb.WriteString(` comment "` + e.Comment + `"`)
	}
	if e.Data != nil {
		sb.WriteString(" : ")
		writeInSet(sb, e.Data)
	}
}

// writeInSet writes x, the key or data of a set element. A value of
// several flags prints as nft prints it there, a | b: in a rule's match
// it is a,b, but in braces a comma ends the element.
func writeInSet(sb *strings.Builder, x Expr) {
	switch x := x.(type) {
	case *Const:
		if x.Field.Type.IsBitmask() {
			var fb strings.Builder
			x.write(&fb)
			sb.WriteString(strings.ReplaceAll(fb.String(), ",", " | "))
			return
		}
	case *Concat:
		for i, p := range x.Parts {
			if i > 0 {
				sb.WriteString(" . ")
			}
			writeInSet(sb, p)
		}
		return
	}
	x.write(sb)
}

// SetExpr is an anonymous set or map written in a rule: { 22, 80 }.
type SetExpr struct {
	Elems []*Elem

	compiled *setData // built by the parser; immutable
}

func (*SetExpr) exprNode() {}

func (s *SetExpr) write(sb *strings.Builder) {
	sb.WriteString("{ ")
	for i, e := range s.Elems {
		if i > 0 {
			sb.WriteString(", ")
		}
		e.write(sb, 0)
	}
	sb.WriteString(" }")
}

// SetRef names a set or map of the rule's table: @blocklist.
type SetRef struct {
	Name string
	Pos  Pos
}

func (*SetRef) exprNode() {}

func (s *SetRef) write(sb *strings.Builder) { sb.WriteString("@" + s.Name) }

// MapLookup looks a key up in a map and yields the data:
// ip saddr map { 10.0.0.1 : 0x1 }.
type MapLookup struct {
	Key Expr
	Map Expr // *SetExpr or *SetRef
}

func (*MapLookup) exprNode() {}

func (m *MapLookup) write(sb *strings.Builder) {
	m.Key.write(sb)
	sb.WriteString(" map ")
	m.Map.write(sb)
}
