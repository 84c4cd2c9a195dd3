package ruleset

import (
	"sync"
	"sync/atomic"

	"github.com/nfgo/nfgo/packet"
)

// Live holds the ruleset in force. Readers (the workers) Load it without a
// lock, once per batch; writers are serialized, build the next ruleset off
// to the side and publish it with one atomic store, so that a packet is
// judged by the old ruleset or the new one, never a mix.
type Live struct {
	mu  sync.Mutex // serializes writers
	cur atomic.Pointer[Ruleset]
}

// NewLive starts with rs.
func NewLive(rs *Ruleset) *Live {
	l := &Live{}
	l.cur.Store(rs)
	return l
}

// Load returns the ruleset in force.
func (l *Live) Load() *Ruleset { return l.cur.Load() }

// Apply runs a transaction on the ruleset in force and publishes the
// result; on error nothing changes.
func (l *Live) Apply(cmds []Command) (*Ruleset, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	next, err := l.cur.Load().Apply(cmds)
	if err != nil {
		return nil, err
	}
	l.cur.Store(next)
	return next, nil
}

// UpdateElements applies element commands (add, create or delete element)
// to the sets of the ruleset in force without a new ruleset: each set's
// new elements are published with one atomic store, and the generation
// does not change. The batch is checked whole before any set changes.
func (l *Live) UpdateElements(cmds []Command) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	rs := l.cur.Load()
	now := rs.now()
	type change struct {
		set *Set
		d   *setData
	}
	var changes []change
	pending := map[*Set]*setData{}
	for i := range cmds {
		cmd := &cmds[i]
		if cmd.Obj != ObjElement {
			return errorf(cmd.Pos, "only element commands change sets in place; use Apply")
		}
		ti := tableAt(rs, cmd.Family, cmd.Table)
		if ti == nil {
			return wrapf(cmd.Pos, ErrNotFound, "table %s %s does not exist", familyName(cmd.Family), cmd.Table)
		}
		t := ti.t
		_, s := ti.setAt(cmd.Name)
		if s == nil {
			return wrapf(cmd.Pos, ErrNotFound, "set %s does not exist", cmd.Name)
		}
		if s.Flags&SetConstant != 0 {
			return errorf(cmd.Pos, "set %s is constant", s.Name)
		}
		elems, err := typedElems(cmd, s, t.Family)
		if err != nil {
			return err
		}
		prepared, err := prepareElems(s, elems, now)
		if err != nil {
			return errorf(cmd.Pos, "%v", err)
		}
		base := pending[s]
		if base == nil {
			base = s.data()
		}
		d, err := base.with(prepared, cmd.Op != CmdDelete, cmd.Op == CmdCreate, now)
		if err != nil {
			return &Error{Pos: cmd.Pos, Msg: "set " + s.Name + ": " + err.Error(), Err: unwrapOnce(err)}
		}
		if s.Size != 0 && uint32(len(d.elems)) > s.Size {
			return errorf(cmd.Pos, "set %s is full (size %d)", s.Name, s.Size)
		}
		if s.IsMap && s.Data.Type == TypeVerdict {
			// Verdicts must point at existing regular chains, and must not
			// make a loop: check on a trial transaction.
			trial := newTxn(rs)
			i, _ := trial.findTable(t.Family, t.Name)
			tt := trial.ownTable(i)
			j, _ := tt.ix.setAt(s.Name)
			ns := s.cloneDecl()
			ns.contents.Store(d)
			tt.ix.t.Sets[j] = ns
			trial.owned[ns] = true
			trial.finish()
			if err := trial.validate(); err != nil {
				return err
			}
		}
		pending[s] = d
		changes = append(changes, change{s, d})
	}
	for _, c := range changes {
		c.set.contents.Store(pending[c.set])
	}
	return nil
}

// tableAt is the index of a table of rs, or nil.
func tableAt(rs *Ruleset, fam packet.Family, name string) *tableIndex {
	for _, t := range rs.tables {
		if t.Family == fam && t.Name == name {
			return rs.index[t]
		}
	}
	return nil
}

func unwrapOnce(err error) error {
	if u, ok := err.(interface{ Unwrap() error }); ok {
		return u.Unwrap()
	}
	return nil
}
