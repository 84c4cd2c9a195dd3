package ruleset

import (
	"errors"
	"fmt"
	"slices"

	"github.com/nfgo/nfgo/packet"
)

// Apply runs a batch of commands as one transaction: on a copy of rs, then
// validated. It returns the new ruleset (generation+1), or an error naming
// the command and place at fault, and then nothing changed: rs itself is
// never modified.
//
// The copy shares with rs every table, chain and rule list the batch does
// not change (txn.go), and the validation and the compiled matchers cover
// what it changed and what depends on it, so that a small change to a big
// ruleset costs little. Rules that the batch does not touch carry over
// with their counters, limits and ct count state; a rule that is deleted
// and added again starts afresh. Sets the batch does not change are shared
// too, with their elements.
func (rs *Ruleset) Apply(cmds []Command) (*Ruleset, error) {
	tx := newTxn(rs)
	for i := range cmds {
		if err := tx.apply(&cmds[i]); err != nil {
			return nil, err
		}
	}
	tx.finish()
	if err := tx.validate(); err != nil {
		return nil, err
	}
	if err := tx.compile(); err != nil {
		return nil, err
	}
	tx.rs.gen = rs.gen + 1
	return tx.rs, nil
}

// table is the transaction's copy of the command's table.
func (tx *txn) table(cmd *Command) (*tableTx, error) {
	i, t := tx.findTable(cmd.Family, cmd.Table)
	if t == nil {
		return nil, wrapf(cmd.Pos, ErrNotFound, "table %s %s does not exist", familyName(cmd.Family), cmd.Table)
	}
	return tx.ownTable(i), nil
}

// chain is the command's table and the position of its chain.
func (tx *txn) chain(cmd *Command) (*tableTx, int, error) {
	tt, err := tx.table(cmd)
	if err != nil {
		return nil, -1, err
	}
	i, c := tt.chain(cmd.Name)
	if c == nil {
		return nil, -1, wrapf(cmd.Pos, ErrNotFound, "chain %s %s %s does not exist", familyName(cmd.Family), cmd.Table, cmd.Name)
	}
	return tt, i, nil
}

func (tx *txn) handle(t *Table) uint64 {
	t.nextHandle++
	return t.nextHandle
}

func (tx *txn) apply(cmd *Command) error {
	switch cmd.Obj {
	case ObjRuleset:
		kept := tx.rs.tables[:0:0]
		for _, t := range tx.rs.tables {
			if cmd.Family != packet.FamilyUnspec && t.Family != cmd.Family {
				kept = append(kept, t)
			}
		}
		tx.rs.tables = kept
		return nil
	case ObjTable:
		return tx.applyTable(cmd)
	case ObjChain:
		return tx.applyChain(cmd)
	case ObjRule:
		return tx.applyRule(cmd)
	case ObjSet:
		return tx.applySet(cmd)
	case ObjElement:
		return tx.applyElements(cmd)
	case ObjCounter:
		return tx.applyCounter(cmd)
	}
	return errorf(cmd.Pos, "unknown command")
}

func (tx *txn) applyTable(cmd *Command) error {
	i, t := tx.findTable(cmd.Family, cmd.Table)
	switch cmd.Op {
	case CmdDelete:
		if t == nil {
			return wrapf(cmd.Pos, ErrNotFound, "table %s %s does not exist", familyName(cmd.Family), cmd.Table)
		}
		tx.rs.tables = slices.Delete(slices.Clone(tx.rs.tables), i, i+1)
		return nil
	case CmdFlush:
		if t == nil {
			return wrapf(cmd.Pos, ErrNotFound, "table %s %s does not exist", familyName(cmd.Family), cmd.Table)
		}
		tt := tx.ownTable(i)
		for j, c := range tt.ix.t.Chains {
			if c != nil {
				tt.setRules(tt.ownChain(j), nil)
			}
		}
		return nil
	}
	if cmd.Family == packet.FamilyARP || cmd.Family == packet.FamilyBridge {
		return errorf(cmd.Pos, "family %s is not supported", familyName(cmd.Family))
	}
	spec := cmd.TableSpec
	var tt *tableTx
	if t == nil {
		tx.rs.shared.tableHandle++
		tt = tx.addTable(&Table{Family: cmd.Family, Name: cmd.Table, Handle: tx.rs.shared.tableHandle})
	} else if cmd.Op == CmdCreate {
		return wrapf(cmd.Pos, ErrExists, "table %s %s already exists", familyName(cmd.Family), cmd.Table)
	} else {
		tt = tx.ownTable(i)
	}
	if spec == nil {
		return nil
	}
	if spec.Comment != "" {
		tt.ix.t.Comment = spec.Comment
	}
	sub := Command{Op: CmdAdd, Family: cmd.Family, Table: cmd.Table}
	for _, c := range spec.Counters {
		sub.Obj, sub.Name, sub.Pos, sub.CounterSpec = ObjCounter, c.Name, c.Pos, c
		if err := tx.applyCounter(&sub); err != nil {
			return err
		}
	}
	for _, s := range spec.Sets {
		sub.Obj, sub.Name, sub.Pos, sub.SetSpec = ObjSet, s.Name, s.Pos, s
		if err := tx.applySet(&sub); err != nil {
			return err
		}
	}
	// Chains first, then their rules, so that a rule may jump to a chain
	// declared further down the block.
	for _, c := range spec.Chains {
		decl := *c
		decl.Rules = nil
		sub.Obj, sub.Name, sub.Pos, sub.ChainSpec = ObjChain, c.Name, c.Pos, &decl
		if err := tx.applyChain(&sub); err != nil {
			return err
		}
	}
	for _, c := range spec.Chains {
		if len(c.Rules) == 0 {
			continue
		}
		j, _ := tt.chain(c.Name)
		ch := tt.ownChain(j)
		rules := tt.mutableRules(ch, len(c.Rules))
		for _, r := range c.Rules {
			rules = append(rules, tx.newRule(tt.ix.t, r))
		}
		ch.Rules = rules
	}
	return nil
}

// newRule gives a parsed rule its handle; a rule is never shared between
// commands, so that its state is its own.
func (tx *txn) newRule(t *Table, r *Rule) *Rule {
	nr := *r
	nr.Handle = tx.handle(t)
	return &nr
}

func (tx *txn) applyChain(cmd *Command) error {
	tt, err := tx.table(cmd)
	if err != nil {
		return err
	}
	t := tt.ix.t
	i, c := tt.chain(cmd.Name)
	switch cmd.Op {
	case CmdDelete:
		if c == nil {
			return wrapf(cmd.Pos, ErrNotFound, "chain %s %s %s does not exist", familyName(cmd.Family), cmd.Table, cmd.Name)
		}
		if user := chainUser(tt.ix, cmd.Name); user != "" {
			// Checked now, as the kernel checks it (EBUSY): deleting
			// the rule that jumps here later in the batch is too late.
			return wrapf(cmd.Pos, ErrInUse, "chain %s is in use: %s jumps to it", cmd.Name, user)
		}
		tt.deleteChain(i)
		return nil
	case CmdFlush:
		if c == nil {
			return wrapf(cmd.Pos, ErrNotFound, "chain %s %s %s does not exist", familyName(cmd.Family), cmd.Table, cmd.Name)
		}
		tt.setRules(tt.ownChain(i), nil)
		return nil
	}
	spec := cmd.ChainSpec
	if c == nil {
		if len(cmd.Name) > 255 {
			return errorf(cmd.Pos, "chain name too long")
		}
		c = &Chain{Name: cmd.Name, Handle: tx.handle(t), Comment: spec.Comment, Pos: spec.Pos}
		if spec.Base != nil {
			b := *spec.Base
			c.Base = &b
		}
		tt.addChain(c)
	} else {
		if cmd.Op == CmdCreate {
			return wrapf(cmd.Pos, ErrExists, "chain %s %s %s already exists", familyName(cmd.Family), cmd.Table, cmd.Name)
		}
		if spec.Base != nil {
			if c.Base == nil {
				return errorf(spec.Pos, "chain %s exists and is not a base chain", cmd.Name)
			}
			b := *spec.Base
			b.Policy = c.Base.Policy
			if b != *c.Base {
				return errorf(spec.Pos, "chain %s exists with another type, hook or priority", cmd.Name)
			}
		}
		if spec.Base != nil && spec.Base.Policy != c.Base.Policy || spec.Comment != "" && spec.Comment != c.Comment || len(spec.Rules) > 0 {
			c = tt.ownChain(i)
			if spec.Base != nil {
				c.Base.Policy = spec.Base.Policy
			}
			if spec.Comment != "" {
				c.Comment = spec.Comment
			}
		}
	}
	if len(spec.Rules) > 0 {
		rules := tt.mutableRules(c, len(spec.Rules))
		for _, r := range spec.Rules {
			rules = append(rules, tx.newRule(t, r))
		}
		c.Rules = rules
	}
	return nil
}

func (tx *txn) applyRule(cmd *Command) error {
	tt, i, err := tx.chain(cmd)
	if err != nil {
		return err
	}
	c := tt.ix.t.Chains[i]
	at := -1
	if cmd.Handle != 0 {
		var ok bool
		if at, ok = c.prog.position(c.Rules, cmd.Handle); !ok {
			at = slices.IndexFunc(c.Rules, func(r *Rule) bool { return r.Handle == cmd.Handle })
		}
		if at < 0 {
			return wrapf(cmd.Pos, ErrNotFound, "rule handle %d does not exist in chain %s", cmd.Handle, cmd.Name)
		}
	} else if cmd.Index != 0 {
		at = cmd.Index - 1
		if at >= len(c.Rules) {
			return wrapf(cmd.Pos, ErrNotFound, "rule index %d does not exist in chain %s", at, cmd.Name)
		}
	}
	if cmd.Op != CmdDelete {
		// The kernel checks what a rule refers to when the rule is added:
		// a chain, set or counter that a later command of the batch
		// creates does not exist yet, and one that the rule's removal
		// later in the batch would spare is still missing.
		for _, s := range cmd.Rule.Stmts {
			if err := validateStmt(tt.ix, cmd.Rule, s); err != nil {
				return err
			}
		}
	}
	c = tt.ownChain(i)
	switch cmd.Op {
	case CmdDelete:
		if !tt.ownRules[c] {
			tt.setRules(c, slices.Concat(c.Rules[:at:at], c.Rules[at+1:]))
		} else {
			c.Rules = slices.Delete(c.Rules, at, at+1)
		}
	case CmdReplace:
		nr := *cmd.Rule
		nr.Handle = cmd.Handle
		tt.mutableRules(c, 0)[at] = &nr
	case CmdInsert:
		if at < 0 {
			at = 0
		}
		c.Rules = slices.Insert(tt.mutableRules(c, 1), at, tx.newRule(tt.ix.t, cmd.Rule))
	default:
		if at < 0 {
			c.Rules = append(tt.mutableRules(c, 1), tx.newRule(tt.ix.t, cmd.Rule))
		} else {
			c.Rules = slices.Insert(tt.mutableRules(c, 1), at+1, tx.newRule(tt.ix.t, cmd.Rule))
		}
	}
	return nil
}

func sameFields(a, b []Field) bool { return slices.Equal(a, b) }

func (tx *txn) applySet(cmd *Command) error {
	tt, err := tx.table(cmd)
	if err != nil {
		return err
	}
	t := tt.ix.t
	i, s := tt.ix.setAt(cmd.Name)
	switch cmd.Op {
	case CmdDelete:
		if s == nil {
			return wrapf(cmd.Pos, ErrNotFound, "set %s does not exist", cmd.Name)
		}
		if user := setUser(t, cmd.Name); user != "" {
			return wrapf(cmd.Pos, ErrInUse, "set %s is in use by a rule of chain %s", cmd.Name, user)
		}
		t.Sets = slices.Delete(t.Sets, i, i+1)
		tt.reindexSets()
		tt.full = true
		return nil
	case CmdFlush:
		if s == nil {
			return wrapf(cmd.Pos, ErrNotFound, "set %s does not exist", cmd.Name)
		}
		s = tx.ownSet(t, i)
		d, _ := buildSetData(s.Key, nil, s.Flags&SetInterval != 0, tx.now)
		s.contents.Store(d)
		return nil
	}
	spec := cmd.SetSpec
	if s != nil {
		if cmd.Op == CmdCreate {
			return wrapf(cmd.Pos, ErrExists, "set %s already exists", cmd.Name)
		}
		if s.IsMap != spec.IsMap || !sameFields(s.Key, spec.Key) || s.Data != spec.Data || s.Flags != spec.Flags {
			return wrapf(spec.Pos, ErrExists, "set %s exists with another declaration", cmd.Name)
		}
		return tx.changeElems(cmd.Pos, t, i, spec.Elems, true, false, true)
	}
	if spec.IsMap && spec.Data.Type == TypeInvalid {
		return errorf(spec.Pos, "map %s has no data type", spec.Name)
	}
	ns := &Set{Name: spec.Name, Handle: tx.handle(t), Key: spec.Key, IsMap: spec.IsMap, Data: spec.Data,
		Flags: spec.Flags, Timeout: spec.Timeout, Size: spec.Size, PolicyMemory: spec.PolicyMemory, Comment: spec.Comment, Pos: spec.Pos}
	empty, _ := buildSetData(ns.Key, nil, ns.Flags&SetInterval != 0, tx.now)
	ns.contents.Store(empty)
	tt.names(ixSets)[ns.Name] = len(t.Sets)
	t.Sets = append(t.Sets, ns)
	tx.owned[ns] = true
	return tx.changeElems(cmd.Pos, t, len(t.Sets)-1, spec.Elems, true, false, true)
}

// ownSet makes the table's set number i this transaction's own copy; the
// table must be the transaction's.
func (tx *txn) ownSet(t *Table, i int) *Set {
	s := t.Sets[i]
	if tx.owned[s] {
		return s
	}
	ns := s.cloneDecl()
	ns.contents.Store(s.data())
	t.Sets[i] = ns
	tx.owned[ns] = true
	return ns
}

func (s *Set) cloneDecl() *Set {
	return &Set{Name: s.Name, Handle: s.Handle, Key: s.Key, IsMap: s.IsMap, Data: s.Data, Flags: s.Flags,
		Timeout: s.Timeout, Size: s.Size, PolicyMemory: s.PolicyMemory, Comment: s.Comment, Pos: s.Pos}
}

func (tx *txn) changeElems(pos Pos, t *Table, i int, elems []*Elem, add, create, initial bool) error {
	if len(elems) == 0 {
		return nil
	}
	s := t.Sets[i]
	if s.Flags&SetConstant != 0 && !initial {
		return errorf(pos, "set %s is constant", s.Name)
	}
	prepared, err := prepareElems(s, elems, tx.now)
	if err != nil {
		return &Error{Pos: pos, Msg: err.Error(), Err: errors.Unwrap(err)}
	}
	s = tx.ownSet(t, i)
	d, err := s.data().with(prepared, add, create, tx.now)
	if err != nil {
		return &Error{Pos: pos, Msg: "set " + s.Name + ": " + err.Error(), Err: errors.Unwrap(err)}
	}
	if s.Size != 0 && uint32(len(d.elems)) > s.Size {
		return errorf(pos, "set %s is full (size %d)", s.Name, s.Size)
	}
	s.contents.Store(d)
	return nil
}

// prepareElems checks parsed elements against the set and stamps their
// expiry times.
func prepareElems(s *Set, elems []*Elem, now int64) ([]*Elem, error) {
	out := make([]*Elem, 0, len(elems))
	for _, e := range elems {
		if e.Timeout != 0 || e.Expires != 0 {
			if s.Flags&SetTimeout == 0 {
				return nil, fmt.Errorf("set %s does not have the timeout flag", s.Name)
			}
		}
		ne := *e
		timeout := ne.Timeout
		if timeout == 0 {
			timeout = s.Timeout
		}
		switch {
		case ne.Expires != 0:
			ne.expires = now + int64(ne.Expires)
		case timeout != 0:
			ne.expires = now + int64(timeout)
		}
		ne.Expires = 0
		out = append(out, &ne)
	}
	return out, nil
}

func (tx *txn) applyElements(cmd *Command) error {
	tt, err := tx.table(cmd)
	if err != nil {
		return err
	}
	t := tt.ix.t
	i, s := tt.ix.setAt(cmd.Name)
	if s == nil {
		return wrapf(cmd.Pos, ErrNotFound, "set %s does not exist", cmd.Name)
	}
	elems, err := typedElems(cmd, s, t.Family)
	if err != nil {
		return err
	}
	return tx.changeElems(cmd.Pos, t, i, elems, cmd.Op != CmdDelete, cmd.Op == CmdCreate, false)
}

// typedElems parses an element command's elements with the set's types.
func typedElems(cmd *Command, s *Set, fam packet.Family) ([]*Elem, error) {
	var out []*Elem
	for _, e := range cmd.Elems {
		raw, ok := e.Key.(*rawElems)
		if !ok {
			out = append(out, e)
			continue
		}
		elems, err := parseRawElems(raw, s, cmd.Op == CmdDelete)
		if err != nil {
			return nil, err
		}
		out = append(out, elems...)
	}
	return out, nil
}

func parseRawElems(raw *rawElems, s *Set, keysOnly bool) (elems []*Elem, err error) {
	p := &parser{toks: raw.toks, defines: map[string][]token{}, keysOnly: keysOnly}
	defer func() {
		if r := recover(); r != nil {
			pe, ok := r.(perr)
			if !ok {
				panic(r)
			}
			err = pe.err
		}
	}()
	elems = p.parseElems(s.Key, s.IsMap, s.Data, true)
	return elems, nil
}

func (tx *txn) applyCounter(cmd *Command) error {
	tt, err := tx.table(cmd)
	if err != nil {
		return err
	}
	t := tt.ix.t
	idx, ok := tt.ix.counters[cmd.Name]
	switch cmd.Op {
	case CmdDelete:
		if !ok {
			return wrapf(cmd.Pos, ErrNotFound, "counter %s does not exist", cmd.Name)
		}
		t.Counters = slices.Delete(t.Counters, idx, idx+1)
		tt.reindexCounters()
		tt.full = true
		return nil
	}
	if ok {
		if cmd.Op == CmdCreate {
			return wrapf(cmd.Pos, ErrExists, "counter %s already exists", cmd.Name)
		}
		return nil
	}
	spec := cmd.CounterSpec
	nc := &NamedCounter{Name: spec.Name, Handle: tx.handle(t), Comment: spec.Comment, Pos: spec.Pos,
		state: newCounterState(spec.Packets(), spec.Bytes())}
	tt.names(ixCounters)[nc.Name] = len(t.Counters)
	t.Counters = append(t.Counters, nc)
	return nil
}

// chainUser names what in table ti jumps or goes to chain name at this
// point of the transaction (a chain, or a verdict map's element), or "".
func chainUser(ti *tableIndex, name string) string {
	for _, c := range ti.t.Chains {
		if c == nil || c.Name == name {
			continue // deleted earlier in this transaction, or the chain itself
		}
		found := false
		forEdges(ti, c, func(v *Verdict, _ Pos) { found = found || v.Chain == name })
		if found {
			return "chain " + c.Name
		}
	}
	for _, s := range ti.t.Sets {
		if !s.IsMap || s.Data.Type != TypeVerdict || s.data() == nil {
			continue
		}
		for _, e := range s.data().elems {
			if v, ok := e.Data.(*Verdict); ok && v.Chain == name {
				return "map " + s.Name
			}
		}
	}
	return ""
}

// setUser names a chain of t with a rule that refers to set name, or "".
func setUser(t *Table, name string) string {
	ref := func(e Expr) bool {
		switch e := e.(type) {
		case *SetRef:
			return e.Name == name
		case *MapLookup:
			r, ok := e.Map.(*SetRef)
			return ok && r.Name == name
		}
		return false
	}
	for _, c := range t.Chains {
		if c == nil {
			continue
		}
		for _, r := range c.Rules {
			for _, s := range r.Stmts {
				var used bool
				switch s := s.(type) {
				case *Match:
					used = ref(s.Right)
				case *VMap:
					used = ref(s.Map)
				case *MetaSet:
					used = ref(s.Value)
				case *CTSet:
					used = ref(s.Value)
				case *NAT:
					used = ref(s.Addr) || ref(s.Port)
				}
				if used {
					return c.Name
				}
			}
		}
	}
	return ""
}
