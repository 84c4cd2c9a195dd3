package ruleset

import (
	"bytes"
	"strings"
)

// Op is the operator of a match.
type Op uint8

const (
	OpImplicit Op = iota // no operator written: equality, or for flags (x & v) != 0
	OpEq                 // ==
	OpNeq                // !=
	OpLt                 // <
	OpGt                 // >
	OpLe                 // <=
	OpGe                 // >=
	OpNeg                // ! (flags: (x & v) == 0)
)

var opNames = [...]string{"", "==", "!=", "<", ">", "<=", ">=", "!"}

func (o Op) String() string { return opNames[o] }

// Match compares what Left yields from the packet with Right: a value, a
// prefix, a range, a concatenation of them, an anonymous set or @set.
type Match struct {
	Left  Expr // *Selector, *Concat of selectors, *Bitwise
	Op    Op
	Right Expr

	lo, hi []byte   // compiled Right for a single value, prefix, range or concat
	set    *setData // compiled anonymous set
	fields []Field  // what Left yields
}

func (*Match) stmtNode() {}

func (m *Match) write(sb *strings.Builder) {
	fields := exprFields(m.Left)
	bitmask := len(fields) == 1 && fields[0].Type.IsBitmask()
	if bw, ok := m.Left.(*Bitwise); ok && bitmask && (m.Op == OpEq || m.Op == OpNeq) {
		if rc, ok := m.Right.(*Const); ok && !bytes.Equal(rc.B, bw.Mask.B) {
			// tcp flags syn / fin,syn,rst,ack
			bw.X.write(sb)
			sb.WriteByte(' ')
			if m.Op == OpNeq {
				sb.WriteString("!= ")
			}
			rc.write(sb)
			sb.WriteString(" / ")
			bw.Mask.write(sb)
			return
		}
	}
	if bw, ok := m.Left.(*Bitwise); ok {
		bw.X.write(sb)
		sb.WriteString(" & ")
		if bitmask && strings.Contains(ExprString(bw.Mask), ",") {
			sb.WriteString("(" + strings.ReplaceAll(ExprString(bw.Mask), ",", " | ") + ")")
		} else {
			bw.Mask.write(sb)
		}
		op := m.Op
		if op == OpImplicit {
			op = OpEq
		}
		sb.WriteString(" " + op.String() + " ")
		m.Right.write(sb)
		return
	}
	m.Left.write(sb)
	sb.WriteByte(' ')
	if m.Op != OpImplicit {
		sb.WriteString(m.Op.String() + " ")
	}
	m.Right.write(sb)
}

// exprFields is the list of fields an expression yields (one per part of
// a concatenation).
func exprFields(e Expr) []Field {
	switch e := e.(type) {
	case *Selector:
		return []Field{e.Field()}
	case *Bitwise:
		return exprFields(e.X)
	case *Concat:
		var fs []Field
		for _, p := range e.Parts {
			fs = append(fs, exprFields(p)...)
		}
		return fs
	case *Const:
		return []Field{e.Field}
	case *Prefix:
		return []Field{e.Base.Field}
	case *Range:
		return []Field{e.Lo.Field}
	}
	return nil
}

func keySize(fs []Field) int {
	n := 0
	for _, f := range fs {
		n += f.Size
	}
	return n
}

// loadKey evaluates a selector expression into dst and returns its length.
func loadKey(e Expr, c *evalCtx, dst []byte) (int, bool) {
	switch e := e.(type) {
	case *Selector:
		n := e.Field().Size
		return n, e.load(c.p, c.env, dst[:n])
	case *Bitwise:
		n, ok := loadKey(e.X, c, dst)
		if !ok {
			return 0, false
		}
		for i := range n {
			dst[i] &= e.Mask.B[i]
		}
		return n, true
	case *Concat:
		off := 0
		for _, p := range e.Parts {
			n, ok := loadKey(p, c, dst[off:])
			if !ok {
				return 0, false
			}
			off += n
		}
		return off, true
	}
	return 0, false
}

// compile prepares Right for evaluation.
func (m *Match) compile() {
	m.fields = exprFields(m.Left)
	switch r := m.Right.(type) {
	case *SetExpr:
		m.set = r.compiled
	case *SetRef:
	default:
		m.lo, m.hi = elemBounds(r)
	}
}

// elemBounds is the interval of keys a constant operand stands for, each
// part of a concatenation bounded by itself.
func elemBounds(e Expr) (lo, hi []byte) {
	switch e := e.(type) {
	case *Const:
		return e.bounds()
	case *Prefix:
		return e.bounds()
	case *Range:
		return e.Lo.B, e.Hi.B
	case *Concat:
		for _, p := range e.Parts {
			l, h := elemBounds(p)
			lo = append(lo, l...)
			hi = append(hi, h...)
		}
		return lo, hi
	}
	return nil, nil
}

func (m *Match) eval(c *evalCtx) bool {
	key := c.kbuf[:]
	n, ok := loadKey(m.Left, c, key)
	if !ok {
		return false
	}
	return m.test(c, key[:n])
}

// test compares a loaded key with Right. The compiler calls it with a nil
// context for constant operands (no named set, no interface name), to
// enumerate the values of one-byte fields.
func (m *Match) test(c *evalCtx, key []byte) bool {
	var hit bool
	switch r := m.Right.(type) {
	case *SetExpr:
		var now int64
		if c != nil {
			now = c.now
		}
		_, hit = m.set.lookup(key, now)
	case *SetRef:
		s := c.table.set(r.Name)
		if s == nil {
			return false
		}
		_, hit = s.data().lookup(key, c.now)
	case *Const:
		if r.Name != "" {
			// iif "lo": compare the interface's name.
			hit = c.env != nil && c.env.IfName(getUint32(key)) == r.Name
			break
		}
		if r.Field.Type.IsBitmask() && (m.Op == OpImplicit || m.Op == OpNeg) {
			any := false
			for i := range key {
				if key[i]&r.B[i] != 0 {
					any = true
				}
			}
			return any == (m.Op == OpImplicit)
		}
		hit = inBounds(key, m.lo, m.hi, m.fields)
	default:
		hit = inBounds(key, m.lo, m.hi, m.fields)
	}
	switch m.Op {
	case OpImplicit, OpEq:
		return hit
	case OpNeq:
		return !hit
	case OpLt:
		return bytes.Compare(key, m.lo) < 0
	case OpGt:
		return bytes.Compare(key, m.lo) > 0
	case OpLe:
		return bytes.Compare(key, m.lo) <= 0
	case OpGe:
		return bytes.Compare(key, m.lo) >= 0
	}
	return false
}

func getUint32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// inBounds checks each part of key against its interval.
func inBounds(key, lo, hi []byte, fields []Field) bool {
	if len(fields) <= 1 {
		return bytes.Compare(key, lo) >= 0 && bytes.Compare(key, hi) <= 0
	}
	off := 0
	for _, f := range fields {
		k, l, h := key[off:off+f.Size], lo[off:off+f.Size], hi[off:off+f.Size]
		if bytes.Compare(k, l) < 0 || bytes.Compare(k, h) > 0 {
			return false
		}
		off += f.Size
	}
	return true
}
