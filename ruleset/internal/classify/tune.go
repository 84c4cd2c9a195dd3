package classify

import "math/rand/v2"

// Three settings of the build trade tables for rows. The collision limit:
// a rule whose relaxed table's slot is full goes to a table of its own
// tuple, so a low limit makes more tables, each a probe for many lookups,
// and a high one longer slots. And the relaxation (relax): address
// prefixes from /top to /31 share a table hashed on /top, shorter ones a
// table hashed on a multiple of grid bits, so a lower top or a coarser
// grid makes fewer tables, whose slots hold more rules. Which is cheaper
// depends on the rules. Per lookup of the ClassBench acl1 10K trace
// (TestClassBenchStats):
//
//	limit 8, /24, grid 8:  15 tables, 4.7 probes, 5.1 rows
//	limit 24, /24, grid 8: 13 tables, 3.5 probes, 4.0 rows
//	limit 24, /16, grid 8:  9 tables, 2.4 probes, 3.6 rows
//	limit 48, /12, grid 6: 10 tables, 2.1 probes, 3.5 rows
//
// while on the generated fw 100K and ipc 10K sets a limit of 24 makes
// lookups 25-30% slower than 8. So unless Options.Collide is set, New
// builds with each tuning of tuningsFor and keeps the one whose lookups
// of sample keys probe the fewest tables and check the fewest rows
// together.

// A tuning is a collision limit and a relaxation.
type tuning struct {
	collide   int
	top, grid uint8
}

// tunings are what New tries. The first is what it uses without trying
// when the rules are few, and what Options.Collide's limit goes with.
var tunings = [...]tuning{{8, 24, 8}, {24, 24, 8}, {8, 16, 8}, {24, 16, 8}, {48, 12, 6}, {8, 12, 6}}

// tuningsFor are the tunings New tries for n rules: the first alone for
// fewer than tuneMinRules; the first five up to tuneMaxRules; above it,
// for time, the first and the last (ClassBench acl1 100K: 3.8 probes and
// rows per lookup against 6.0; the generated acl, fw and ipc 100K sets
// keep the first).
func tuningsFor(n int) []tuning {
	switch {
	case n < tuneMinRules:
		return tunings[:1]
	case n > tuneMaxRules:
		return []tuning{tunings[0], tunings[5]}
	}
	return tunings[:5]
}

// tuneMinRules: with fewer rules, the tunings make next to no difference
// and New builds once (kube-proxy writes a chain of one or two rules per
// service).
const tuneMinRules = 256

// tuneMaxRules: with more rules, New builds twice, not five times. A build
// of 100K rules takes 0.15-0.2 s, and the target for a whole compile is
// 0.6 s.
const tuneMaxRules = 1 << 15

// tuneKeys is how many sample keys a build is rated on.
const tuneKeys = 4096

// sampleKeys draws n keys from the rules' boxes, as ClassBench makes its
// traces: a rule picked at random, and a point in its box, at a corner of
// the box in each dimension one time in four (boundaries are where
// relaxed tuples and prefixes differ). The stream is seeded, so a rule
// set always gets the same keys and the same build.
func sampleKeys(dims int, rules []Rule, n int) []Key {
	rng := rand.New(rand.NewPCG(uint64(len(rules)), 0x6e66676f))
	ks := make([]Key, n)
	for i := range ks {
		r := &rules[rng.IntN(len(rules))]
		k := &ks[i]
		k.Present = 1<<dims - 1
		for d := range dims {
			lo, span := r.Lo[d], r.Hi[d]-r.Lo[d]
			switch x := rng.Uint32(); {
			case x&3 != 0:
				if span == ^uint32(0) {
					k.V[d] = rng.Uint32()
				} else {
					k.V[d] = lo + rng.Uint32N(span+1)
				}
			case x&4 != 0:
				k.V[d] = lo
			default:
				k.V[d] = lo + span
			}
		}
	}
	return ks
}

// cost is how many tables Lookup probes plus how many rows it checks, over
// keys, from the first priority: the work a lookup does beyond its fixed
// cost, a probe and a row counting alike (each about 8-10 ns on acl1).
func (c *Classifier) cost(keys []Key) int {
	n := 0
	for i := range keys {
		t, r := c.lookupCount(&keys[i])
		n += t + r
	}
	return n
}

// lookupCount is Lookup's plain loop from the first priority, counting the
// tables it probes and the rows it checks. (Counting inside Lookup would
// cost every packet.)
func (c *Classifier) lookupCount(k *Key) (tables, rows int) {
	c.walk(k, func() { tables++ }, func(row []uint32) bool {
		rows++
		return rowMiss(row, k, c.dims) == 0
	})
	return tables, rows
}

// walk is Lookup's plain loop from the first priority, for what New
// measures: probe is called for each table it probes and check for each
// row it checks, and reports whether the row holds k.
func (c *Classifier) walk(k *Key, probe func(), check func(row []uint32) bool) {
	best := NoMatch
	for ti := range c.tables {
		t := &c.tables[ti]
		if t.best >= best {
			break
		}
		probe()
		for e := t.slots[hashKey(c.opts.Seed, t, k)&t.smask]; e != 0; {
			row := t.rows[int(e)*c.w:][:c.w]
			p := row[rowPrio]
			if p >= best {
				break
			}
			if check(row) {
				best = p
				break
			}
			e = row[rowNext]
		}
	}
}
