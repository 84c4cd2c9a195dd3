package ruleindex

import (
	"github.com/nfgo/nfgo/engine"
	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/ruleset"
)

// Index finds the rules that trace events name by table, chain and
// handle, in one ruleset.
type Index struct {
	rs    *ruleset.Ruleset
	rules map[ruleKey]*ruleset.Rule
	fams  map[[2]string][]packet.Family // table, chain -> families that have it
	nat   map[ruleKey]bool              // nat base chains (handle 0)
}

type ruleKey struct {
	fam          packet.Family
	table, chain string
	handle       uint64
}

// New indexes the rules of rs, which may be nil.
func New(rs *ruleset.Ruleset) *Index {
	ix := &Index{rs: rs, rules: map[ruleKey]*ruleset.Rule{}, fams: map[[2]string][]packet.Family{}, nat: map[ruleKey]bool{}}
	if rs == nil {
		return ix
	}
	for _, t := range rs.Tables() {
		for _, c := range t.Chains {
			ix.fams[[2]string{t.Name, c.Name}] = append(ix.fams[[2]string{t.Name, c.Name}], t.Family)
			if c.Base != nil && c.Base.Type == ruleset.ChainNAT {
				ix.nat[ruleKey{t.Family, t.Name, c.Name, 0}] = true
			}
			for _, r := range c.Rules {
				ix.rules[ruleKey{t.Family, t.Name, c.Name, r.Handle}] = r
			}
		}
	}
	return ix
}

// family is the family of the table a trace event names, for a packet of
// family pf: the table's own if only one family has it, else the packet's,
// then inet, then netdev.
func (ix *Index) family(table, chain string, pf packet.Family) packet.Family {
	fs := ix.fams[[2]string{table, chain}]
	if len(fs) == 1 {
		return fs[0]
	}
	for _, want := range []packet.Family{pf, packet.FamilyInet, packet.FamilyNetdev} {
		for _, f := range fs {
			if f == want {
				return f
			}
		}
	}
	return pf
}

// Step is one base chain's decision in a packet's way.
type Step struct {
	Hook    string `json:"hook"`
	Family  string `json:"family"`
	Table   string `json:"table"`
	Chain   string `json:"chain"`
	Handle  uint64 `json:"handle,omitempty"`
	Line    int    `json:"line,omitempty"`
	Rule    string `json:"rule,omitempty"`
	Policy  bool   `json:"policy,omitempty"`
	Verdict string `json:"verdict"`
	NAT     bool   `json:"nat,omitempty"` // a nat chain's decision
}

// Decides reports whether step s says more about a packet's fate than t:
// a drop over an accept, a filter chain's rule over a nat chain's or a
// policy.
func (s *Step) Decides(t *Step) bool {
	if t == nil {
		return true
	}
	rank := func(x *Step) int {
		switch {
		case x.Verdict != "accept":
			return 3
		case !x.NAT && !x.Policy:
			return 2
		case !x.NAT:
			return 1
		}
		return 0
	}
	return rank(s) >= rank(t)
}

// Step resolves a TraceRule event.
func (ix *Index) Step(ev *engine.TraceEvent) Step {
	fam := ix.family(ev.Table, ev.Chain, ev.Packet.Family)
	st := Step{Hook: ev.Hook.String(), Family: fam.String(), Table: ev.Table, Chain: ev.Chain,
		Handle: ev.Handle, Policy: ev.Policy, Verdict: ev.Verdict, NAT: ix.nat[ruleKey{fam, ev.Table, ev.Chain, 0}]}
	if ev.Policy {
		return st
	}
	if r := ix.rules[ruleKey{fam, ev.Table, ev.Chain, ev.Handle}]; r != nil {
		st.Rule = r.String()
		st.Line = r.Pos.Line
		st.NAT = st.NAT || hasNAT(r)
		// A rule that decided in a chain jumped to is reported by its base
		// chain's name; find it in any chain of the table.
	} else if r, chain := ix.anyChain(fam, ev.Table, ev.Handle); r != nil {
		st.Rule, st.Line = r.String(), r.Pos.Line
		st.Chain = chain
		st.NAT = st.NAT || hasNAT(r)
	}
	return st
}

// anyChain finds a rule by handle in any chain of a table (handles are per
// table).
func (ix *Index) anyChain(fam packet.Family, table string, handle uint64) (*ruleset.Rule, string) {
	if ix.rs == nil || handle == 0 {
		return nil, ""
	}
	for _, t := range ix.rs.Tables() {
		if t.Family != fam || t.Name != table {
			continue
		}
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				if r.Handle == handle {
					return r, c.Name
				}
			}
		}
	}
	return nil, ""
}

func hasNAT(r *ruleset.Rule) bool {
	for _, s := range r.Stmts {
		if _, ok := s.(*ruleset.NAT); ok {
			return true
		}
	}
	return false
}
