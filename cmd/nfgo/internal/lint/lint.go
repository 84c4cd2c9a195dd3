// Package lint finds rules of an nft ruleset that can never match:
// shadowed by an earlier rule of their chain that matches every packet
// they would and ends the packet's walk first, unreachable after a rule
// that ends every walk, or contradicting themselves; jumps to chains that
// do not exist; and chains nothing jumps to.
//
// The analysis is sound for the common matches (addresses, prefixes,
// ports, protocols, ranges, anonymous and constant sets, interface names,
// marks, ct state, tcp flags, and the protocols a selector implies) and
// conservative elsewhere: a rule is reported only when it provably cannot
// match, never on a guess. It does not follow packets across chains: a
// rule hidden by a rule of another base chain, or only by several earlier
// rules together, is not reported. Changes to a packet between two rules
// (meta mark set, ct mark set, notrack, and chains jumped to that make
// them) end what earlier rules can hide.
package lint

import (
	"fmt"
	"sort"
	"strings"

	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/ruleset"
)

// Finding is one problem, at the rule or chain it is about.
type Finding struct {
	Pos  ruleset.Pos
	Kind string // shadowed, unreachable, never-matches, missing-chain, unused-chain, missing-set
	Msg  string
}

func (f Finding) String() string { return fmt.Sprintf("%s: %s: %s", f.Pos, f.Kind, f.Msg) }

// text prints a rule as written, without the counters' values.
func text(r *ruleset.Rule) string {
	var parts []string
	for _, s := range r.Stmts {
		if _, ok := s.(*ruleset.Counter); ok {
			parts = append(parts, "counter")
			continue
		}
		parts = append(parts, ruleset.StmtString(s))
	}
	if r.Comment != "" {
		parts = append(parts, fmt.Sprintf("comment %q", r.Comment))
	}
	return strings.Join(parts, " ")
}

// table is a table as the file builds it.
type table struct {
	fam    packet.Family
	name   string
	chains map[string]*ruleset.Chain
	order  []string
	sets   map[string]*ruleset.Set
}

// Check analyses the tables the commands of one file build.
func Check(cmds []ruleset.Command) []Finding {
	tables := assemble(cmds)
	var out []Finding
	for _, t := range tables {
		out = append(out, checkTable(t)...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Pos, out[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return out
}

// assemble replays the commands' effect on tables and chains: blocks and
// add commands append, insert prepends, flush and delete empty. Rules
// placed by handle cannot be placed without the running ruleset and are
// left out.
func assemble(cmds []ruleset.Command) []*table {
	var tables []*table
	find := func(fam packet.Family, name string, create bool) *table {
		for _, t := range tables {
			if t.fam == fam && t.name == name {
				return t
			}
		}
		if !create {
			return nil
		}
		t := &table{fam: fam, name: name, chains: map[string]*ruleset.Chain{}, sets: map[string]*ruleset.Set{}}
		tables = append(tables, t)
		return t
	}
	chain := func(t *table, spec *ruleset.Chain, name string) *ruleset.Chain {
		c := t.chains[name]
		if c == nil {
			c = &ruleset.Chain{Name: name}
			if spec != nil {
				c.Base, c.Pos, c.Comment = spec.Base, spec.Pos, spec.Comment
			}
			t.chains[name] = c
			t.order = append(t.order, name)
		} else if spec != nil && spec.Base != nil {
			c.Base = spec.Base
		}
		return c
	}
	for i := range cmds {
		cmd := &cmds[i]
		switch cmd.Obj {
		case ruleset.ObjRuleset:
			kept := tables[:0]
			for _, t := range tables {
				if cmd.Family != packet.FamilyUnspec && t.fam != cmd.Family {
					kept = append(kept, t)
				}
			}
			tables = kept
		case ruleset.ObjTable:
			if cmd.Op == ruleset.CmdDelete || cmd.Op == ruleset.CmdFlush {
				if t := find(cmd.Family, cmd.Table, false); t != nil {
					if cmd.Op == ruleset.CmdFlush {
						for _, c := range t.chains {
							c.Rules = nil
						}
						continue
					}
					for j, u := range tables {
						if u == t {
							tables = append(tables[:j], tables[j+1:]...)
							break
						}
					}
				}
				continue
			}
			t := find(cmd.Family, cmd.Table, true)
			if spec := cmd.TableSpec; spec != nil {
				for _, s := range spec.Sets {
					t.sets[s.Name] = s
				}
				for _, c := range spec.Chains {
					ch := chain(t, c, c.Name)
					ch.Rules = append(ch.Rules, c.Rules...)
				}
			}
		case ruleset.ObjChain:
			t := find(cmd.Family, cmd.Table, cmd.Op != ruleset.CmdDelete && cmd.Op != ruleset.CmdFlush)
			if t == nil {
				continue
			}
			switch cmd.Op {
			case ruleset.CmdDelete:
				delete(t.chains, cmd.Name)
			case ruleset.CmdFlush:
				if c := t.chains[cmd.Name]; c != nil {
					c.Rules = nil
				}
			default:
				c := chain(t, cmd.ChainSpec, cmd.Name)
				if cmd.ChainSpec != nil {
					c.Rules = append(c.Rules, cmd.ChainSpec.Rules...)
				}
			}
		case ruleset.ObjRule:
			t := find(cmd.Family, cmd.Table, true)
			if cmd.Rule == nil || cmd.Handle != 0 || cmd.Index != 0 {
				continue
			}
			c := chain(t, nil, cmd.Name)
			switch cmd.Op {
			case ruleset.CmdAdd, ruleset.CmdCreate:
				c.Rules = append(c.Rules, cmd.Rule)
			case ruleset.CmdInsert:
				c.Rules = append([]*ruleset.Rule{cmd.Rule}, c.Rules...)
			}
		case ruleset.ObjSet:
			if t := find(cmd.Family, cmd.Table, true); cmd.SetSpec != nil {
				t.sets[cmd.SetSpec.Name] = cmd.SetSpec
			}
		}
	}
	return tables
}

// checkTable looks at the references and the rules of one table.
func checkTable(t *table) []Finding {
	var out []Finding
	reached := map[string]bool{}
	var visit func(name string)
	visit = func(name string) {
		if reached[name] {
			return
		}
		reached[name] = true
		c := t.chains[name]
		if c == nil {
			return
		}
		for _, target := range targets(t, c) {
			visit(target.chain)
		}
	}
	for _, name := range t.order {
		c := t.chains[name]
		if c == nil {
			continue
		}
		if c.Base != nil {
			visit(name)
		}
		for _, tg := range targets(t, c) {
			if t.chains[tg.chain] == nil {
				out = append(out, Finding{Pos: tg.pos, Kind: "missing-chain",
					Msg: fmt.Sprintf("%s to chain %s, which table %s %s does not have", tg.kind, tg.chain, t.fam, t.name)})
			}
		}
		for _, r := range c.Rules {
			for _, ref := range setRefs(r) {
				if t.sets[ref.Name] == nil {
					out = append(out, Finding{Pos: r.Pos, Kind: "missing-set",
						Msg: fmt.Sprintf("set @%s does not exist in table %s %s", ref.Name, t.fam, t.name)})
				}
			}
		}
	}
	for _, name := range t.order {
		c := t.chains[name]
		if c == nil {
			continue
		}
		if c.Base == nil && !reached[name] {
			out = append(out, Finding{Pos: c.Pos, Kind: "unused-chain",
				Msg: fmt.Sprintf("chain %s is not a base chain and nothing jumps to it: its rules never run", name)})
		}
		out = append(out, checkChain(t, c)...)
	}
	return out
}

// checkChain finds the rules of c that earlier rules of c hide.
func checkChain(t *table, c *ruleset.Chain) []Finding {
	var out []Finding
	var hiders []*rule // earlier rules that end every walk they match, since the last change to packets
	mutating := map[string]bool{}
	for _, r := range c.Rules {
		ri := analyse(t, r, mutating)
		switch {
		case ri.contradiction != "":
			out = append(out, Finding{Pos: r.Pos, Kind: "never-matches",
				Msg: fmt.Sprintf("rule `%s` can never match: its matches on %s contradict each other", text(r), ri.contradiction)})
		default:
			for _, h := range hiders {
				if !covers(h, ri) {
					continue
				}
				if len(h.explicit) == 0 {
					out = append(out, Finding{Pos: r.Pos, Kind: "unreachable",
						Msg: fmt.Sprintf("rule `%s` is never reached: rule at line %d (`%s`) ends the walk of every packet before it", text(r), h.r.Pos.Line, text(h.r))})
				} else {
					out = append(out, Finding{Pos: r.Pos, Kind: "shadowed",
						Msg: fmt.Sprintf("rule `%s` can never match: rule at line %d (`%s`) matches every packet it would and ends their walk first", text(r), h.r.Pos.Line, text(h.r))})
				}
				break
			}
		}
		if ri.mutates {
			hiders = nil
		}
		if ri.exact && ri.terminal && ri.contradiction == "" {
			hiders = append(hiders, ri)
		}
	}
	return out
}

// covers reports whether every packet b can match, a matches too.
func covers(a, b *rule) bool {
	for dim, as := range a.dims {
		for _, x := range as {
			if !implies(b.dims[dim], x) {
				return false
			}
		}
	}
	return true
}
