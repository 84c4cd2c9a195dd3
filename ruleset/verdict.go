package ruleset

import "strings"

// VerdictKind is the kind of a verdict statement.
type VerdictKind uint8

const (
	VerdictAccept VerdictKind = iota
	VerdictDrop
	VerdictContinue
	VerdictReturn
	VerdictJump
	VerdictGoto
)

var verdictNames = [...]string{"accept", "drop", "continue", "return", "jump", "goto"}

func (k VerdictKind) String() string { return verdictNames[k] }

// Verdict ends a rule with a decision: accept, drop, continue, return,
// jump CHAIN, goto CHAIN. It is also the data of a verdict map's elements.
type Verdict struct {
	Kind  VerdictKind
	Chain string // jump and goto
	Pos   Pos
}

func (*Verdict) stmtNode() {}
func (*Verdict) exprNode() {}

func (v *Verdict) write(sb *strings.Builder) {
	sb.WriteString(v.Kind.String())
	if v.Kind == VerdictJump || v.Kind == VerdictGoto {
		sb.WriteString(" " + v.Chain)
	}
}

func (v *Verdict) eval(c *evalCtx) bool {
	switch v.Kind {
	case VerdictAccept:
		c.v = vAccept
	case VerdictDrop:
		c.v = vDrop
	case VerdictContinue:
		c.v = vContinue
	case VerdictReturn:
		c.v = vReturn
	case VerdictJump:
		c.v, c.target = vJump, v.Chain
	case VerdictGoto:
		c.v, c.target = vGoto, v.Chain
	}
	return false
}

// VMap looks the packet's key up in a verdict map and carries out the
// verdict found; without an element for the key the rule does not match.
type VMap struct {
	Key Expr // selector expression
	Map Expr // *SetExpr or *SetRef
}

func (*VMap) stmtNode() {}

func (m *VMap) write(sb *strings.Builder) {
	m.Key.write(sb)
	sb.WriteString(" vmap ")
	m.Map.write(sb)
}

func (m *VMap) eval(c *evalCtx) bool {
	n, ok := loadKey(m.Key, c, c.kbuf[:])
	if !ok {
		return false
	}
	var d *setData
	switch mm := m.Map.(type) {
	case *SetExpr:
		d = mm.compiled
	case *SetRef:
		s := c.table.set(mm.Name)
		if s == nil {
			return false
		}
		d = s.data()
	}
	e, ok := d.lookup(c.kbuf[:n], c.now)
	if !ok {
		return false
	}
	if v, ok := e.Data.(*Verdict); ok {
		return v.eval(c)
	}
	return false
}
