package ruleset

import (
	"errors"
	"fmt"
	"slices"

	"github.com/nfgo/nfgo/packet"
)

// Apply runs a batch of commands as one transaction: on a copy of rs, then
// validated as a whole. It returns the new ruleset (generation+1), or an
// error naming the command and place at fault, and then nothing changed:
// rs itself is never modified.
//
// Rules that the batch does not touch are shared with rs, so their
// counters, limits and ct count state carry over to the new ruleset; a
// rule that is deleted and added again starts afresh. Sets the batch does
// not change are shared too, with their elements.
func (rs *Ruleset) Apply(cmds []Command) (*Ruleset, error) {
	next := rs.clone()
	tx := &txn{rs: next, now: rs.now(), owned: map[*Set]bool{}, ownedT: map[*Table]bool{}}
	for i := range cmds {
		if err := tx.apply(&cmds[i]); err != nil {
			return nil, err
		}
	}
	next.reindex()
	if err := next.validate(); err != nil {
		return nil, err
	}
	if err := next.compileChains(); err != nil {
		return nil, err
	}
	next.gen = rs.gen + 1
	return next, nil
}

// clone copies the tables and chains of rs, sharing rules, sets and
// counters.
func (rs *Ruleset) clone() *Ruleset {
	next := &Ruleset{opts: rs.opts, shared: rs.shared, gen: rs.gen}
	for _, t := range rs.tables {
		nt := *t
		nt.Chains = make([]*Chain, len(t.Chains))
		for i, c := range t.Chains {
			nc := *c
			nc.Rules = slices.Clone(c.Rules)
			if c.Base != nil {
				b := *c.Base
				nc.Base = &b
			}
			nt.Chains[i] = &nc
		}
		nt.Sets = slices.Clone(t.Sets)
		nt.Counters = slices.Clone(t.Counters)
		next.tables = append(next.tables, &nt)
	}
	return next
}

type txn struct {
	rs     *Ruleset
	now    int64
	owned  map[*Set]bool // sets copied by this transaction, free to change
	ownedT map[*Table]bool
}

func (tx *txn) findTable(fam packet.Family, name string) (int, *Table) {
	for i, t := range tx.rs.tables {
		if t.Family == fam && t.Name == name {
			return i, t
		}
	}
	return -1, nil
}

func (tx *txn) table(cmd *Command) (*Table, error) {
	_, t := tx.findTable(cmd.Family, cmd.Table)
	if t == nil {
		return nil, wrapf(cmd.Pos, ErrNotFound, "table %s %s does not exist", familyName(cmd.Family), cmd.Table)
	}
	return t, nil
}

func findChain(t *Table, name string) (int, *Chain) {
	for i, c := range t.Chains {
		if c.Name == name {
			return i, c
		}
	}
	return -1, nil
}

func findSet(t *Table, name string) (int, *Set) {
	for i, s := range t.Sets {
		if s.Name == name {
			return i, s
		}
	}
	return -1, nil
}

func (tx *txn) chain(cmd *Command) (*Table, *Chain, error) {
	t, err := tx.table(cmd)
	if err != nil {
		return nil, nil, err
	}
	_, c := findChain(t, cmd.Name)
	if c == nil {
		return nil, nil, wrapf(cmd.Pos, ErrNotFound, "chain %s %s %s does not exist", familyName(cmd.Family), cmd.Table, cmd.Name)
	}
	return t, c, nil
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
		for _, c := range t.Chains {
			c.Rules = nil
		}
		return nil
	}
	if cmd.Family == packet.FamilyARP || cmd.Family == packet.FamilyBridge {
		return errorf(cmd.Pos, "family %s is not supported", familyName(cmd.Family))
	}
	spec := cmd.TableSpec
	if t == nil {
		tx.rs.shared.tableHandle++
		t = &Table{Family: cmd.Family, Name: cmd.Table, Handle: tx.rs.shared.tableHandle}
		tx.rs.tables = append(tx.rs.tables, t)
	} else if cmd.Op == CmdCreate {
		return wrapf(cmd.Pos, ErrExists, "table %s %s already exists", familyName(cmd.Family), cmd.Table)
	}
	if spec == nil {
		return nil
	}
	if spec.Comment != "" {
		t.Comment = spec.Comment
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
		_, ch := findChain(t, c.Name)
		for _, r := range c.Rules {
			ch.Rules = append(ch.Rules, tx.newRule(t, r))
		}
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
	t, err := tx.table(cmd)
	if err != nil {
		return err
	}
	i, c := findChain(t, cmd.Name)
	switch cmd.Op {
	case CmdDelete:
		if c == nil {
			return wrapf(cmd.Pos, ErrNotFound, "chain %s %s %s does not exist", familyName(cmd.Family), cmd.Table, cmd.Name)
		}
		t.Chains = slices.Delete(t.Chains, i, i+1)
		return nil
	case CmdFlush:
		if c == nil {
			return wrapf(cmd.Pos, ErrNotFound, "chain %s %s %s does not exist", familyName(cmd.Family), cmd.Table, cmd.Name)
		}
		c.Rules = nil
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
		t.Chains = append(t.Chains, c)
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
			c.Base.Policy = spec.Base.Policy
		}
		if spec.Comment != "" {
			c.Comment = spec.Comment
		}
	}
	for _, r := range spec.Rules {
		c.Rules = append(c.Rules, tx.newRule(t, r))
	}
	return nil
}

func (tx *txn) applyRule(cmd *Command) error {
	t, c, err := tx.chain(cmd)
	if err != nil {
		return err
	}
	at := -1
	if cmd.Handle != 0 {
		for i, r := range c.Rules {
			if r.Handle == cmd.Handle {
				at = i
			}
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
	switch cmd.Op {
	case CmdDelete:
		c.Rules = slices.Delete(c.Rules, at, at+1)
	case CmdReplace:
		nr := *cmd.Rule
		nr.Handle = cmd.Handle
		c.Rules[at] = &nr
	case CmdInsert:
		if at < 0 {
			at = 0
		}
		c.Rules = slices.Insert(c.Rules, at, tx.newRule(t, cmd.Rule))
	default:
		if at < 0 {
			c.Rules = append(c.Rules, tx.newRule(t, cmd.Rule))
		} else {
			c.Rules = slices.Insert(c.Rules, at+1, tx.newRule(t, cmd.Rule))
		}
	}
	return nil
}

func sameFields(a, b []Field) bool { return slices.Equal(a, b) }

func (tx *txn) applySet(cmd *Command) error {
	t, err := tx.table(cmd)
	if err != nil {
		return err
	}
	i, s := findSet(t, cmd.Name)
	switch cmd.Op {
	case CmdDelete:
		if s == nil {
			return wrapf(cmd.Pos, ErrNotFound, "set %s does not exist", cmd.Name)
		}
		t.Sets = slices.Delete(t.Sets, i, i+1)
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
		Flags: spec.Flags, Timeout: spec.Timeout, Size: spec.Size, Comment: spec.Comment, Pos: spec.Pos}
	empty, _ := buildSetData(ns.Key, nil, ns.Flags&SetInterval != 0, tx.now)
	ns.contents.Store(empty)
	t.Sets = append(t.Sets, ns)
	tx.owned[ns] = true
	return tx.changeElems(cmd.Pos, t, len(t.Sets)-1, spec.Elems, true, false, true)
}

// ownSet makes the table's set number i this transaction's own copy.
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
		Timeout: s.Timeout, Size: s.Size, Comment: s.Comment, Pos: s.Pos}
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
	t, err := tx.table(cmd)
	if err != nil {
		return err
	}
	i, s := findSet(t, cmd.Name)
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
		elems, err := parseRawElems(raw, s)
		if err != nil {
			return nil, err
		}
		out = append(out, elems...)
	}
	return out, nil
}

func parseRawElems(raw *rawElems, s *Set) (elems []*Elem, err error) {
	p := &parser{toks: raw.toks, defines: map[string][]token{}}
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
	t, err := tx.table(cmd)
	if err != nil {
		return err
	}
	idx := -1
	for i, c := range t.Counters {
		if c.Name == cmd.Name {
			idx = i
		}
	}
	switch cmd.Op {
	case CmdDelete:
		if idx < 0 {
			return wrapf(cmd.Pos, ErrNotFound, "counter %s does not exist", cmd.Name)
		}
		t.Counters = slices.Delete(t.Counters, idx, idx+1)
		return nil
	}
	if idx >= 0 {
		if cmd.Op == CmdCreate {
			return wrapf(cmd.Pos, ErrExists, "counter %s already exists", cmd.Name)
		}
		return nil
	}
	spec := cmd.CounterSpec
	nc := &NamedCounter{Name: spec.Name, Handle: tx.handle(t), Comment: spec.Comment, Pos: spec.Pos,
		state: newCounterState(spec.Packets(), spec.Bytes())}
	t.Counters = append(t.Counters, nc)
	return nil
}
