package ruleset

import (
	"encoding/binary"
	"strings"

	"github.com/nfgo/nfgo/conntrack"
)

const ctInfoUntracked = conntrack.InfoUntracked

// MetaSet sets packet metadata: meta mark set VALUE.
type MetaSet struct {
	Key   SelKey // SelMetaMark
	Value Expr   // *Const, *Selector or *MapLookup
}

func (*MetaSet) stmtNode() {}

func (m *MetaSet) write(sb *strings.Builder) {
	sb.WriteString("meta " + selInfos[m.Key].name + " set ")
	m.Value.write(sb)
}

func (m *MetaSet) eval(c *evalCtx) bool {
	b, ok := evalValue(m.Value, c)
	if !ok {
		return false
	}
	c.p.Mark = binary.BigEndian.Uint32(b)
	return true
}

// CTSet sets a field of the packet's connection: ct mark set VALUE.
type CTSet struct {
	Key   SelKey // SelCTMark
	Value Expr
}

func (*CTSet) stmtNode() {}

func (m *CTSet) write(sb *strings.Builder) {
	sb.WriteString("ct " + selInfos[m.Key].name + " set ")
	m.Value.write(sb)
}

func (m *CTSet) eval(c *evalCtx) bool {
	if c.p.CT == 0 || c.env == nil {
		return true // as nft_ct_set_eval: nothing to set without an entry
	}
	b, ok := evalValue(m.Value, c)
	if !ok {
		return false
	}
	c.env.SetCTMark(c.p.CT, binary.BigEndian.Uint32(b))
	return true
}

// evalValue computes the value of a statement's argument.
func evalValue(e Expr, c *evalCtx) ([]byte, bool) {
	switch e := e.(type) {
	case *Const:
		return e.B, true
	case *Selector:
		n := e.Field().Size
		if !e.load(c.p, c.env, c.vbuf[:n]) {
			return nil, false
		}
		return c.vbuf[:n], true
	case *MapLookup:
		el, ok := mapLookup(e, c)
		if !ok {
			return nil, false
		}
		if d, ok := el.Data.(*Const); ok {
			return d.B, true
		}
	}
	return nil, false
}

func mapLookup(m *MapLookup, c *evalCtx) (*Elem, bool) {
	n, ok := loadKey(m.Key, c, c.kbuf[:])
	if !ok {
		return nil, false
	}
	var d *setData
	switch mm := m.Map.(type) {
	case *SetExpr:
		d = mm.compiled
	case *SetRef:
		s := c.table.set(mm.Name)
		if s == nil {
			return nil, false
		}
		d = s.data()
	}
	return d.lookup(c.kbuf[:n], c.now)
}
