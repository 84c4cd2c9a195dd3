package ruleset

import (
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/nfgo/nfgo/packet"
)

// Options configure a ruleset and every ruleset Apply derives from it.
type Options struct {
	// Now is the clock of limits and set timeouts; nil means time.Now.
	Now func() time.Time
	// Logger receives the log statement's lines; nil discards them.
	Logger *slog.Logger
	// MaxChainBytes bounds the memory of one chain's compiled matcher; a
	// transaction that would make a chain's matcher bigger fails with
	// ErrMatcherTooBig. 0 means DefaultMaxChainBytes.
	MaxChainBytes int
}

// shared is the state one lineage of rulesets shares across swaps.
type shared struct {
	logLimit    logLimiter
	tableHandle uint64
	seed        uint64 // of the matchers' hash tables
}

// Ruleset is an immutable, validated snapshot of tables. Apply builds the
// next one; the engine swaps them with one atomic store.
type Ruleset struct {
	opts   *Options
	shared *shared
	gen    uint64
	tables []*Table

	index map[*Table]*tableIndex
	base  []baseRef
}

// tableIndex finds a table's chains, sets and counters by name: each map
// holds the position in the table's slice. A transaction that changes a
// chain or a set in place keeps the positions, and so shares the maps
// with the ruleset it started from.
type tableIndex struct {
	t        *Table
	chains   map[string]int
	sets     map[string]int
	counters map[string]int
}

func newTableIndex(t *Table) *tableIndex {
	ti := &tableIndex{t: t, chains: make(map[string]int, len(t.Chains)), sets: make(map[string]int, len(t.Sets)),
		counters: make(map[string]int, len(t.Counters))}
	for i, c := range t.Chains {
		ti.chains[c.Name] = i
	}
	for i, s := range t.Sets {
		ti.sets[s.Name] = i
	}
	for i, c := range t.Counters {
		ti.counters[c.Name] = i
	}
	return ti
}

// chain is the chain of that name, or nil.
func (ti *tableIndex) chain(name string) *Chain {
	if i, ok := ti.chains[name]; ok {
		return ti.t.Chains[i]
	}
	return nil
}

// set is the set or map of that name, or nil.
func (ti *tableIndex) set(name string) *Set {
	if i, ok := ti.sets[name]; ok {
		return ti.t.Sets[i]
	}
	return nil
}

// setAt is the position and set of that name, or -1, nil.
func (ti *tableIndex) setAt(name string) (int, *Set) {
	if i, ok := ti.sets[name]; ok {
		return i, ti.t.Sets[i]
	}
	return -1, nil
}

// counter is the named counter of that name, or nil.
func (ti *tableIndex) counter(name string) *NamedCounter {
	if i, ok := ti.counters[name]; ok {
		return ti.t.Counters[i]
	}
	return nil
}

type baseRef struct {
	table *tableIndex
	chain *Chain
}

// New returns an empty ruleset, generation 0.
func New(opts Options) *Ruleset {
	rs := &Ruleset{opts: &opts, shared: &shared{seed: rand.Uint64()}}
	rs.reindex()
	return rs
}

// Generation counts the swaps that led to this ruleset: each successful
// Apply returns generation+1.
func (rs *Ruleset) Generation() uint64 { return rs.gen }

// Tables are the ruleset's tables, in the order they were created. They
// must not be modified.
func (rs *Ruleset) Tables() []*Table { return rs.tables }

func (rs *Ruleset) now() int64 {
	if rs.opts.Now != nil {
		return rs.opts.Now().UnixNano()
	}
	return time.Now().UnixNano()
}

// BaseChain is a base chain as the engine registers it on a hook.
type BaseChain struct {
	ID       int // the argument of Eval
	Family   packet.Family
	Hook     Hook
	Device   string // netdev ingress
	Priority int
	Type     ChainType
	Policy   Policy
	Table    string
	Chain    string
}

// BaseChains lists the base chains, ordered by family, hook and priority
// (ties in the order of creation).
func (rs *Ruleset) BaseChains() []BaseChain {
	out := make([]BaseChain, len(rs.base))
	for i, b := range rs.base {
		bs := b.chain.Base
		out[i] = BaseChain{ID: i, Family: b.table.t.Family, Hook: bs.Hook, Device: bs.Device,
			Priority: bs.Priority, Type: bs.Type, Policy: bs.Policy, Table: b.table.t.Name, Chain: b.chain.Name}
	}
	return out
}

// reindex rebuilds the name indexes and the base chain list.
func (rs *Ruleset) reindex() {
	rs.index = make(map[*Table]*tableIndex, len(rs.tables))
	rs.base = rs.base[:0]
	for _, t := range rs.tables {
		ti := newTableIndex(t)
		for _, c := range t.Chains {
			if c.Base != nil {
				rs.base = append(rs.base, baseRef{ti, c})
			}
		}
		rs.index[t] = ti
	}
	sortBase(rs.base)
}

// String prints the ruleset as `nft list ruleset` does, with counters.
func (rs *Ruleset) String() string {
	var sb strings.Builder
	now := rs.now()
	for _, t := range rs.tables {
		writeTable(&sb, t, now)
	}
	return sb.String()
}

func writeTable(sb *strings.Builder, t *Table, now int64) {
	sb.WriteString("table " + familyName(t.Family) + " " + t.Name + " {\n")
	if t.Comment != "" {
		sb.WriteString("\tcomment \"" + t.Comment + "\"\n")
	}
	delim := ""
	for _, c := range t.Counters {
		sb.WriteString(delim)
		c.write(sb)
		delim = "\n"
	}
	for _, s := range t.Sets {
		sb.WriteString(delim)
		writeSet(sb, s, now)
		delim = "\n"
	}
	for _, c := range t.Chains {
		sb.WriteString(delim)
		writeChain(sb, t, c)
		delim = "\n"
	}
	sb.WriteString("}\n")
}

func writeChain(sb *strings.Builder, t *Table, c *Chain) {
	sb.WriteString("\tchain " + c.Name + " {\n")
	if c.Comment != "" {
		sb.WriteString("\t\tcomment \"" + c.Comment + "\"\n")
	}
	if b := c.Base; b != nil {
		sb.WriteString("\t\ttype " + b.Type.String() + " hook " + b.Hook.String())
		if b.Device != "" {
			sb.WriteString(` device "` + b.Device + `"`)
		}
		sb.WriteString(" priority " + priorityString(b.Priority, t.Family, b.Hook) + "; policy " + b.Policy.String() + ";\n")
	}
	for _, r := range c.Rules {
		sb.WriteString("\t\t")
		r.writeIn(sb, t.Family)
		sb.WriteString("\n")
	}
	sb.WriteString("\t}\n")
}

func writeSet(sb *strings.Builder, s *Set, now int64) {
	kind := "set"
	if s.IsMap {
		kind = "map"
	}
	sb.WriteString("\t" + kind + " " + s.Name + " {\n\t\ttype " + keyTypeString(s.Key))
	if s.IsMap {
		sb.WriteString(" : " + s.Data.Type.String())
	}
	sb.WriteString("\n")
	if s.PolicyMemory && s.Flags&SetConstant == 0 {
		sb.WriteString("\t\tpolicy memory\n") // not listed for a constant set, as size
	}
	if s.Flags&SetConstant == 0 && s.Size > 0 {
		sb.WriteString("\t\tsize " + itoa(int(s.Size)) + "\n")
	}
	flags := s.Flags
	if s.Timeout != 0 && flags == SetTimeout {
		flags = 0 // implied by the timeout, as nft lists it; with other flags it is listed
	}
	if flags != 0 {
		var fl []string
		if flags&SetConstant != 0 {
			fl = append(fl, "constant")
		}
		if flags&SetInterval != 0 {
			fl = append(fl, "interval")
		}
		if flags&SetTimeout != 0 {
			fl = append(fl, "timeout")
		}
		sb.WriteString("\t\tflags " + strings.Join(fl, ",") + "\n")
	}
	if s.Timeout != 0 {
		sb.WriteString("\t\ttimeout " + s.Timeout.String() + "\n")
	}
	if s.Comment != "" {
		sb.WriteString("\t\tcomment \"" + s.Comment + "\"\n")
	}
	elems := s.Elements(now)
	if len(elems) > 0 {
		sb.WriteString("\t\telements = { ")
		count := 0
		for i, e := range elems {
			if i > 0 {
				if len(s.Key) > 1 {
					sb.WriteString(",\n\t\t\t     ")
				} else {
					sb.WriteString(elemDelim(s.Key[0], &count))
				}
			}
			e.write(sb, now)
			count++
		}
		sb.WriteString(" }\n")
	}
	sb.WriteString("\t}\n")
}

func itoa(v int) string {
	var b [20]byte
	i := len(b)
	neg := v < 0
	if neg {
		v = -v
	}
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
