// Package classify is nfgo's packet classifier: given rules that are boxes
// (one inclusive interval of uint32 values per dimension) ordered by a
// priority, it finds the first rule, at or after a given priority, whose box
// holds a key.
//
// The structure is a tuple space in the manner of TupleMerge: rules are
// grouped into tables by how many leading bits of each dimension they fix
// (their tuple, relaxed so that few tables are needed); a table hashes the
// fixed bits of a key to a short list of candidate rules, sorted by
// priority, that are then checked whole. Tables are searched in order of
// their best priority, and the search stops as soon as no table left can
// hold a better rule than the one found. Everything is kept in pointer-free
// slices addressed by index, so that the garbage collector does not scan
// them, and a lookup allocates nothing.
//
// A Classifier is immutable: With returns a new one that shares every
// table a change does not touch, so that single-rule changes cost the size
// of one table, not of the rule set.
package classify

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"sort"
)

// MaxDims is the number of dimensions a classifier can have.
const MaxDims = 16

// NoMatch is the priority Lookup returns when no rule matches.
const NoMatch = ^uint32(0)

// ErrTooBig is returned (wrapped) when a classifier would need more memory
// than Options.MaxBytes allows.
var ErrTooBig = errors.New("classifier exceeds its memory limit")

// Key is what a packet yields for each dimension, and which of the
// dimensions it has at all (bit d of Present); a rule that needs a
// dimension the key does not have does not match.
type Key struct {
	V       [MaxDims]uint32
	Present uint32
}

// Rule is one box of a rule. A rule of the caller may be several boxes
// (one per element of an anonymous set, say): they share its ID and Prio.
type Rule struct {
	Prio uint32 // smaller is earlier; NoMatch is not allowed
	ID   uint32 // returned by Lookup
	Need uint32 // dimensions the key must have
	Lo   []uint32
	Hi   []uint32
}

// Options tune a classifier. The zero value is usable.
type Options struct {
	// Widths are the significant bits of each dimension (8, 16 or 32);
	// zero means 32.
	Widths []uint8
	// MaxBytes bounds the classifier's memory; 0 means no bound.
	MaxBytes int
	// Seed keys the hash; use a random one per process.
	Seed uint64
	// Collide is how many rules a hash slot may hold before a rule is put
	// in another table; 0 lets New choose (tune.go).
	Collide int
}

// Classifier is an immutable compiled rule set.
type Classifier struct {
	dims     int
	width    [MaxDims]uint8
	opts     Options
	w        int // uint32s per row: header + 2 per dimension
	tables   []table
	nrules   int
	maxPrio  uint32
	exact    uint32 // narrow dimensions hashed when a rule fixes them (bit d)
	top      uint8  // address prefixes from /top to /31 share tables (relax)
	grid     uint8  // shorter ones are relaxed to a multiple of grid
	building bool   // in New: tables count their slots' rows (table.lens)
}

// A row is a rule in a table: prio, id, next (the next row in the same
// slot, 0 ends), need, then lo and hi-lo per dimension. Row 0 of every
// table is a sentinel: its prio is NoMatch and its next 0, so that the end
// of a slot (0) reads as a row that ends the walk, and the walks need no
// test for it.
const (
	rowPrio = 0
	rowID   = 1
	rowNext = 2
	rowNeed = 3
	rowHdr  = 4
)

type table struct {
	// What a lookup reads first.
	best  uint32   // no row has a smaller prio (a lower bound after deletes)
	worst uint32   // no row has a larger prio (an upper bound after deletes)
	nh    int      // dimensions hashed
	smask uint32   // len(slots)-1
	slots []uint32 // first row of each slot, 0 (the sentinel) when empty
	rows  []uint32 // w uint32s per row, row 0 the sentinel
	hdim  [MaxDims]uint8
	hmask [MaxDims]uint32

	plen  [MaxDims]uint8 // prefix length per dimension (of its width)
	lens  []uint8        // rows per slot (up to 255) while New builds, else nil
	free  uint32         // first free row, 0 when none
	n     int            // live rows
	owned bool           // may change in place (during New and With)
}

// New builds a classifier of dims dimensions from rules.
func New(dims int, rules []Rule, opts Options) (*Classifier, error) {
	if dims < 0 || dims > MaxDims {
		return nil, fmt.Errorf("classify: %d dimensions, at most %d", dims, MaxDims)
	}
	if opts.Collide > 0 {
		tu := tunings[0] // its relaxation, with the limit asked for
		tu.collide = opts.Collide
		return build(dims, rules, opts, tu)
	}
	// Build with each tuning and keep the cheapest (tune.go).
	var best *Classifier
	var keys []Key
	bestCost := 0
	ts := tuningsFor(len(rules))
	for _, tu := range ts {
		c, err := build(dims, rules, opts, tu)
		if err != nil {
			return nil, err
		}
		if len(ts) == 1 || best == nil && len(c.tables) <= 1 {
			// Nothing to tune, or nothing to gain: when the first build
			// has one table, a lookup probes one table whatever the
			// tuning (kube-proxy's service rules, block lists).
			return c, nil
		}
		if keys == nil {
			keys = sampleKeys(dims, rules, tuneKeys) // the rules are valid now
		}
		if cost := c.cost(keys); best == nil || cost < bestCost {
			best, bestCost = c, cost
		}
	}
	return best, nil
}

// build is New with a tuning.
func build(dims int, rules []Rule, opts Options, tu tuning) (*Classifier, error) {
	opts.Collide = tu.collide
	c := &Classifier{dims: dims, opts: opts, w: rowHdr + 2*dims, top: tu.top, grid: tu.grid, building: true}
	for d := 0; d < dims; d++ {
		c.width[d] = 32
		if d < len(opts.Widths) && opts.Widths[d] != 0 {
			c.width[d] = opts.Widths[d]
		}
	}
	order := make([]int, len(rules))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return rules[order[a]].Prio < rules[order[b]].Prio })
	for i := range rules {
		if err := c.check(&rules[i]); err != nil {
			return nil, err
		}
	}
	c.exact = c.exactDims(rules)
	for _, i := range order {
		c.insert(&rules[i])
	}
	for i := range c.tables {
		// Drop the spare room that appending left (up to half the rows
		// of a small table, a quarter of a big one), and the counts.
		c.compact(&c.tables[i])
		c.tables[i].lens = nil
	}
	c.building = false
	c.sortTables()
	if err := c.checkSize(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Classifier) check(r *Rule) error {
	if len(r.Lo) != c.dims || len(r.Hi) != c.dims {
		return fmt.Errorf("classify: rule %d has %d/%d bounds for %d dimensions", r.ID, len(r.Lo), len(r.Hi), c.dims)
	}
	if r.Prio == NoMatch {
		return fmt.Errorf("classify: rule %d has the reserved priority", r.ID)
	}
	for d := 0; d < c.dims; d++ {
		if r.Lo[d] > r.Hi[d] {
			return fmt.Errorf("classify: rule %d: empty interval in dimension %d", r.ID, d)
		}
	}
	return nil
}

func (c *Classifier) checkSize() error {
	if c.opts.MaxBytes > 0 && c.Bytes() > c.opts.MaxBytes {
		return fmt.Errorf("%w: %d bytes for %d rules, limit %d", ErrTooBig, c.Bytes(), c.nrules, c.opts.MaxBytes)
	}
	return nil
}

// Dims is the number of dimensions.
func (c *Classifier) Dims() int { return c.dims }

// Len is the number of boxes (rows) held.
func (c *Classifier) Len() int { return c.nrules }

// Tables is the number of tuple tables a lookup may visit.
func (c *Classifier) Tables() int { return len(c.tables) }

// Bytes is the memory the classifier holds.
func (c *Classifier) Bytes() int {
	n := 0
	for i := range c.tables {
		n += 4*(cap(c.tables[i].slots)+cap(c.tables[i].rows)) + 160
	}
	return n
}

// plen is the length of the common prefix of lo and hi in a w-bit value.
func plen(lo, hi uint32, w uint8) uint8 {
	x := (lo ^ hi) << (32 - w)
	if x == 0 {
		return w
	}
	return uint8(bits.LeadingZeros32(x))
}

func prefixMask(l, w uint8) uint32 {
	if l == 0 {
		return 0
	}
	return (^uint32(0) >> (32 - l)) << (w - l)
}

// relax is the tuple a new table gets for a rule of tuple l: narrow
// dimensions (ports, protocols) are not hashed, wide ones (addresses) on a
// grid of c.grid bits with /c.top-/31 together (the tuning, tune.go), so
// that rules of nearby tuples share a table. A rule that finds its relaxed
// table full goes to a table of its own exact tuple. (Measured on
// ClassBench acl1 100K: hashing exact ports too made 35 tables and 5.9
// probes per lookup; this, with the first tuning, 13 and 3.5.) The
// exception is a narrow dimension that nearly every rule fixes
// (exactDims): hashing it splits no rules off into other tables, and it
// keeps rules that share an address apart (kube-proxy's service rules, one
// per VIP and port: with the port hashed, 100K of them fit one table at
// about one row per slot, where without it they needed two tables and 2.1
// rows per lookup).
func (c *Classifier) relax(l *[MaxDims]uint8) [MaxDims]uint8 {
	var t [MaxDims]uint8
	for d := 0; d < c.dims; d++ {
		w := c.width[d]
		switch {
		case w <= 16 && c.exact&(1<<d) != 0 && l[d] == w:
			t[d] = w
		case w <= 16:
			t[d] = 0 // ports, protocols: checked in the row
		case l[d] >= c.top && l[d] < 32:
			t[d] = c.top
		default:
			t[d] = l[d] / c.grid * c.grid
		}
	}
	return t
}

// exactDims are the narrow dimensions that all but at most 1/32 of rules
// fix to one value.
func (c *Classifier) exactDims(rules []Rule) uint32 {
	var n [MaxDims]int
	for i := range rules {
		for d := 0; d < c.dims; d++ {
			if rules[i].Lo[d] == rules[i].Hi[d] {
				n[d]++
			}
		}
	}
	var m uint32
	for d := 0; d < c.dims; d++ {
		if c.width[d] <= 16 && len(rules) > 0 && 32*n[d] >= 31*len(rules) {
			m |= 1 << d
		}
	}
	return m
}

func (c *Classifier) newTable(tuple [MaxDims]uint8) table {
	t := table{plen: tuple, slots: make([]uint32, 1), rows: make([]uint32, c.w), best: NoMatch, owned: true}
	if c.building {
		t.lens = make([]uint8, 1)
	}
	t.rows[rowPrio] = NoMatch // the sentinel
	for d := 0; d < c.dims; d++ {
		if tuple[d] > 0 {
			t.hdim[t.nh] = uint8(d)
			t.hmask[t.nh] = prefixMask(tuple[d], c.width[d])
			t.nh++
		}
	}
	return t
}

func (c *Classifier) hashVals(t *table, v *[MaxDims]uint32) uint32 {
	var k Key
	k.V = *v
	return hashKey(c.opts.Seed, t, &k) & t.smask
}

func (t *table) compatible(l *[MaxDims]uint8, dims int) bool {
	for d := 0; d < dims; d++ {
		if t.plen[d] > l[d] {
			return false
		}
	}
	return true
}

// slotLen counts the rows in slot s.
func (c *Classifier) slotLen(t *table, s uint32) int {
	if t.lens != nil {
		return int(t.lens[s])
	}
	n := 0
	for e := t.slots[s]; e != 0; e = t.rows[int(e)*c.w+rowNext] {
		n++
	}
	return n
}

// insert places r in a table, creating one if no table fits. With owned
// set, a table not in it is copied before it changes (copy on write).
func (c *Classifier) insert(r *Rule) {
	var l [MaxDims]uint8
	var v [MaxDims]uint32
	for d := 0; d < c.dims; d++ {
		l[d] = plen(r.Lo[d], r.Hi[d], c.width[d])
		v[d] = r.Lo[d]
	}
	ti := -1
	for i := range c.tables {
		t := &c.tables[i]
		if t.compatible(&l, c.dims) && c.slotLen(t, c.hashVals(t, &v)) < c.opts.Collide {
			ti = i
			break
		}
	}
	if ti < 0 {
		tuple := c.relax(&l)
		for _, cand := range [][MaxDims]uint8{tuple, l} {
			for i := range c.tables {
				if c.tables[i].plen == cand {
					ti = i
					break
				}
			}
			if ti < 0 {
				c.tables = append(c.tables, c.newTable(cand))
				ti = len(c.tables) - 1
				break
			}
			if cand == l {
				break // the rule's own tuple is full: put it there anyway
			}
			ti = -1
		}
	}
	t := c.own(ti)
	c.addRow(t, r, &v)
	c.nrules++
}

// own returns table i, its slices copied first unless this classifier
// made them (copy on write).
func (c *Classifier) own(i int) *table {
	t := &c.tables[i]
	if !t.owned {
		t.slots = slices.Clone(t.slots)
		t.rows = slices.Clone(t.rows)
		t.owned = true
	}
	return t
}

func (c *Classifier) addRow(t *table, r *Rule, v *[MaxDims]uint32) {
	if t.n+1 > len(t.slots) && t.nh > 0 {
		c.grow(t)
	}
	var e uint32
	if t.free != 0 {
		e = t.free
		t.free = t.rows[int(e)*c.w+rowNext]
	} else {
		t.rows = append(t.rows, make([]uint32, c.w)...)
		e = uint32(len(t.rows)/c.w - 1)
	}
	row := t.rows[int(e)*c.w : int(e+1)*c.w]
	row[rowPrio], row[rowID], row[rowNeed] = r.Prio, r.ID, r.Need
	for d := 0; d < c.dims; d++ {
		row[rowHdr+2*d] = r.Lo[d]
		row[rowHdr+2*d+1] = r.Hi[d] - r.Lo[d]
	}
	c.link(t, e, c.hashVals(t, v))
	t.n++
	t.best = min(t.best, r.Prio)
	t.worst = max(t.worst, r.Prio)
}

// compact copies t's rows into a slice of their size, each slot's rows
// next to each other in the order of its list, so that a walk past a
// slot's first row reads the lines after it rather than lines anywhere in
// the table. Rows were appended in the order of the rules' priorities,
// which scatters a slot's rows over the table.
func (c *Classifier) compact(t *table) {
	w := c.w
	rows := make([]uint32, w, len(t.rows))
	rows[rowPrio] = NoMatch // the sentinel
	for s, e := range t.slots {
		if e == 0 {
			continue
		}
		t.slots[s] = uint32(len(rows) / w)
		for e != 0 {
			old := t.rows[int(e)*w : int(e+1)*w]
			rows = append(rows, old...)
			e = old[rowNext]
			if e != 0 {
				rows[len(rows)-w+rowNext] = uint32(len(rows) / w)
			}
		}
	}
	t.rows = rows
	t.free = 0
}

// link puts row e into slot s, keeping the slot sorted by priority.
func (c *Classifier) link(t *table, e, s uint32) {
	prio := t.rows[int(e)*c.w+rowPrio]
	at := &t.slots[s]
	for *at != 0 && t.rows[int(*at)*c.w+rowPrio] <= prio {
		at = &t.rows[int(*at)*c.w+rowNext]
	}
	t.rows[int(e)*c.w+rowNext] = *at
	*at = e
	if t.lens != nil {
		t.lens[s] = min(t.lens[s]+1, 255)
	}
}

// grow doubles a table's slots and rehashes its rows; a table has at
// least one slot per row.
func (c *Classifier) grow(t *table) {
	n := len(t.slots) * 2
	for n < 4 {
		n *= 2
	}
	t.slots = make([]uint32, n)
	t.smask = uint32(n - 1)
	if t.lens != nil {
		t.lens = make([]uint8, n)
	}
	var v [MaxDims]uint32
	for e := uint32(1); int(e+1)*c.w <= len(t.rows); e++ {
		row := t.rows[int(e)*c.w : int(e+1)*c.w]
		if row[rowPrio] == NoMatch {
			continue // free
		}
		for d := 0; d < c.dims; d++ {
			v[d] = row[rowHdr+2*d]
		}
		c.link(t, e, c.hashVals(t, &v))
	}
}

func (c *Classifier) sortTables() {
	sort.SliceStable(c.tables, func(i, j int) bool { return c.tables[i].best < c.tables[j].best })
	c.maxPrio = 0
	for i := range c.tables {
		c.tables[i].owned = false // from now on shared with what With derives
		c.maxPrio = max(c.maxPrio, c.tables[i].worst)
	}
}
