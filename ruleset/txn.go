package ruleset

import (
	"maps"
	"slices"
	"sort"

	"github.com/nfgo/nfgo/packet"
)

// A transaction works on a copy of the ruleset that shares everything it
// does not change with the ruleset it started from: a table is copied when
// a command first touches it (its slices of chains, sets and counters, not
// what they point at), a chain when a command first changes it, and a
// chain's rule list when a rule is first added or removed. What was copied
// is what the commit validates (with what depends on it) and compiles, so
// that a transaction costs what it changes, not the size of the ruleset.

type txn struct {
	prev   *Ruleset
	rs     *Ruleset // the next ruleset, being built
	now    int64
	tables map[*Table]*tableTx // by the transaction's own copy
	owned  map[*Set]bool       // sets copied by this transaction, free to change
}

// tableTx is a table this transaction copied, and what it changed in it.
type tableTx struct {
	ix   *tableIndex // over the copy; its maps are shared until owned
	prev *Table      // nil for a table this transaction created
	// full asks for the whole table to be validated: it is new, or a
	// chain, set or counter was deleted, which rules anywhere in the
	// table may have referred to.
	full    bool
	compact bool    // Chains holds nil in the place of deleted chains
	ownMaps [3]bool // by ixChains, ixSets, ixCounters: the index's map is the transaction's own

	chains   map[*Chain]*Chain // copied or created chains: copy to previous version (nil when new)
	ownRules map[*Chain]bool   // chains whose Rules array is this transaction's
	live     []*Chain          // after finish: those of chains still in the table, in order
}

const (
	ixChains = iota
	ixSets
	ixCounters
)

func newTxn(rs *Ruleset) *txn {
	next := &Ruleset{opts: rs.opts, shared: rs.shared, gen: rs.gen, tables: slices.Clone(rs.tables)}
	return &txn{prev: rs, rs: next, now: rs.now(), tables: map[*Table]*tableTx{}, owned: map[*Set]bool{}}
}

// findTable is the position and table of a family and name (-1, nil when
// there is none). Rulesets have few tables.
func (tx *txn) findTable(fam packet.Family, name string) (int, *Table) {
	for i, t := range tx.rs.tables {
		if t.Family == fam && t.Name == name {
			return i, t
		}
	}
	return -1, nil
}

// ownTable makes the table at position i of the next ruleset this
// transaction's copy.
func (tx *txn) ownTable(i int) *tableTx {
	t := tx.rs.tables[i]
	if tt := tx.tables[t]; tt != nil {
		return tt
	}
	nt := *t
	nt.Chains = slices.Clone(t.Chains)
	nt.Sets = slices.Clone(t.Sets)
	nt.Counters = slices.Clone(t.Counters)
	old := tx.prev.index[t]
	tt := &tableTx{prev: t, chains: map[*Chain]*Chain{}, ownRules: map[*Chain]bool{},
		ix: &tableIndex{t: &nt, chains: old.chains, sets: old.sets, counters: old.counters}}
	tx.rs.tables[i] = &nt
	tx.tables[&nt] = tt
	return tt
}

// addTable creates an empty table.
func (tx *txn) addTable(t *Table) *tableTx {
	tt := &tableTx{full: true, chains: map[*Chain]*Chain{}, ownRules: map[*Chain]bool{},
		ix: &tableIndex{t: t, chains: map[string]int{}, sets: map[string]int{}, counters: map[string]int{}}}
	tt.ownMaps = [3]bool{true, true, true}
	tx.rs.tables = append(tx.rs.tables, t)
	tx.tables[t] = tt
	return tt
}

// names returns one of the table's name indexes, copied first if it is
// still shared with the previous ruleset.
func (tt *tableTx) names(which int) map[string]int {
	var m *map[string]int
	switch which {
	case ixChains:
		m = &tt.ix.chains
	case ixSets:
		m = &tt.ix.sets
	default:
		m = &tt.ix.counters
	}
	if !tt.ownMaps[which] {
		*m = maps.Clone(*m)
		tt.ownMaps[which] = true
	}
	return *m
}

// chain is the chain of that name and its position, or -1, nil.
func (tt *tableTx) chain(name string) (int, *Chain) {
	if i, ok := tt.ix.chains[name]; ok {
		return i, tt.ix.t.Chains[i]
	}
	return -1, nil
}

// ownChain makes the chain at position i this transaction's copy. Its
// rules are still shared: change them through mutableRules.
func (tt *tableTx) ownChain(i int) *Chain {
	c := tt.ix.t.Chains[i]
	if _, ok := tt.chains[c]; ok {
		return c
	}
	nc := *c
	if c.Base != nil {
		b := *c.Base
		nc.Base = &b
	}
	tt.ix.t.Chains[i] = &nc
	tt.chains[&nc] = c
	return &nc
}

// addChain appends a new chain.
func (tt *tableTx) addChain(c *Chain) {
	t := tt.ix.t
	tt.names(ixChains)[c.Name] = len(t.Chains)
	t.Chains = append(t.Chains, c)
	tt.chains[c] = nil
	tt.ownRules[c] = true
}

// deleteChain removes the chain at position i; the hole is closed when
// the transaction finishes, so that positions stay valid until then.
func (tt *tableTx) deleteChain(i int) {
	t := tt.ix.t
	delete(tt.names(ixChains), t.Chains[i].Name)
	t.Chains[i] = nil
	tt.compact, tt.full = true, true
}

// setRules replaces an owned chain's rules with a list of its own.
func (tt *tableTx) setRules(c *Chain, rules []*Rule) {
	c.Rules = rules
	tt.ownRules[c] = true
}

// mutableRules returns the rules of an owned chain in an array this
// transaction may change, with room for extra more.
func (tt *tableTx) mutableRules(c *Chain, extra int) []*Rule {
	if !tt.ownRules[c] {
		c.Rules = append(make([]*Rule, 0, len(c.Rules)+extra), c.Rules...)
		tt.ownRules[c] = true
	}
	return c.Rules
}

// reindexSets rebuilds the set positions after a deletion.
func (tt *tableTx) reindexSets() {
	m := make(map[string]int, len(tt.ix.t.Sets))
	for i, s := range tt.ix.t.Sets {
		m[s.Name] = i
	}
	tt.ix.sets, tt.ownMaps[ixSets] = m, true
}

func (tt *tableTx) reindexCounters() {
	m := make(map[string]int, len(tt.ix.t.Counters))
	for i, c := range tt.ix.t.Counters {
		m[c.Name] = i
	}
	tt.ix.counters, tt.ownMaps[ixCounters] = m, true
}

// finish closes the holes deleted chains left, gives the next ruleset its
// indexes, and lists the chains the transaction changed.
func (tx *txn) finish() {
	next := tx.rs
	next.index = make(map[*Table]*tableIndex, len(next.tables))
	for _, t := range next.tables {
		tt := tx.tables[t]
		if tt == nil {
			next.index[t] = tx.prev.index[t]
			continue
		}
		if tt.compact {
			t.Chains = slices.DeleteFunc(t.Chains, func(c *Chain) bool { return c == nil })
			m := make(map[string]int, len(t.Chains))
			for i, c := range t.Chains {
				m[c.Name] = i
			}
			tt.ix.chains, tt.ownMaps[ixChains] = m, true
		}
		next.index[t] = tt.ix
		tt.live = tt.liveChains()
	}
	next.base = tx.baseChains()
}

// liveChains are the chains the transaction copied or created that are
// still in the table, in the table's order.
func (tt *tableTx) liveChains() []*Chain {
	t := tt.ix.t
	if len(tt.chains) > len(t.Chains)/8 {
		var out []*Chain
		for _, c := range t.Chains {
			if _, ok := tt.chains[c]; ok {
				out = append(out, c)
			}
		}
		return out
	}
	type at struct {
		i int
		c *Chain
	}
	var live []at
	for c := range tt.chains {
		if i, ok := tt.ix.chains[c.Name]; ok && t.Chains[i] == c {
			live = append(live, at{i, c})
		}
	}
	slices.SortFunc(live, func(a, b at) int { return a.i - b.i })
	out := make([]*Chain, len(live))
	for i, l := range live {
		out[i] = l.c
	}
	return out
}

// baseChains lists the next ruleset's base chains: those of tables the
// transaction did not touch as they were, the others found again, without
// looking at the chains that are not base chains.
func (tx *txn) baseChains() []baseRef {
	old := map[*Table][]baseRef{}
	for _, b := range tx.prev.base {
		old[b.table.t] = append(old[b.table.t], b)
	}
	var out []baseRef
	for _, t := range tx.rs.tables {
		tt := tx.tables[t]
		switch {
		case tt == nil:
			out = append(out, old[t]...)
		default:
			// The base chains it had, in their order, then the new
			// ones: those come after every other chain of the table.
			for _, b := range old[tt.prev] {
				_, c := tt.chain(b.chain.Name)
				if prev, ok := tt.chains[c]; c == nil || ok && prev == nil {
					continue // deleted, or deleted and created again
				}
				out = append(out, baseRef{tt.ix, c})
			}
			for _, c := range tt.live {
				if prev := tt.chains[c]; prev == nil && c.Base != nil {
					out = append(out, baseRef{tt.ix, c})
				}
			}
		}
	}
	sortBase(out)
	return out
}

// sortBase orders base chains by family, hook and priority; ties stay in
// the order of creation.
func sortBase(base []baseRef) {
	sort.SliceStable(base, func(i, j int) bool {
		a, b := base[i], base[j]
		if a.table.t.Family != b.table.t.Family {
			return a.table.t.Family < b.table.t.Family
		}
		if a.chain.Base.Hook != b.chain.Base.Hook {
			return a.chain.Base.Hook < b.chain.Base.Hook
		}
		return a.chain.Base.Priority < b.chain.Base.Priority
	})
}
