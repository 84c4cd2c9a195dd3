package classify

import (
	"math/rand/v2"
	"testing"
)

// naive is the reference: the first box, by priority, that holds k.
func naive(rules []Rule, k *Key, from uint32) (uint32, uint32) {
	best, id := NoMatch, uint32(0)
	for i := range rules {
		r := &rules[i]
		if r.Prio < from || r.Prio >= best || k.Present&r.Need != r.Need {
			continue
		}
		ok := true
		for d := range r.Lo {
			if k.V[d] < r.Lo[d] || k.V[d] > r.Hi[d] {
				ok = false
				break
			}
		}
		if ok {
			best, id = r.Prio, r.ID
		}
	}
	return id, best
}

var testWidths = []uint8{32, 32, 16, 16, 8}

func randRule(rng *rand.Rand, prio uint32) Rule {
	r := Rule{Prio: prio, ID: prio * 3, Lo: make([]uint32, 5), Hi: make([]uint32, 5)}
	for d, w := range testWidths {
		max := uint32(1<<w - 1)
		switch rng.IntN(4) {
		case 0: // wildcard
			r.Lo[d], r.Hi[d] = 0, max
		case 1: // exact, from a small pool so that keys hit
			v := uint32(rng.IntN(8)) * (max / 7)
			r.Lo[d], r.Hi[d] = v, v
		case 2: // prefix
			l := uint8(rng.IntN(int(w) + 1))
			v := uint32(rng.IntN(8)) * (max / 7)
			m := prefixMask(l, w)
			r.Lo[d], r.Hi[d] = v&m, v&m|(max&^m)
		default: // range
			a, b := uint32(rng.Int64N(int64(max)+1)), uint32(rng.Int64N(int64(max)+1))
			r.Lo[d], r.Hi[d] = min(a, b), max32(a, b)
		}
	}
	if rng.IntN(5) == 0 {
		r.Need = 1 << rng.IntN(5)
	}
	return r
}

func max32(a, b uint32) uint32 { return max(a, b) }

// addedRule is a random rule to add to rules (n of them at first) at step
// of a test, with its dimensions permuted by order unless it is nil: its
// ID is 100000+step and its priority one that no rule has (the rules of
// randClassifier have priorities 1 mod 4; this one is 3 mod 4).
func addedRule(rng *rand.Rand, rules []Rule, n, step int, order []int) Rule {
	add := randRule(rng, uint32(rng.IntN(n+2)*4+3))
	if order != nil {
		add = permuteRule(add, order)
	}
	add.ID = 100000 + uint32(step)
	for _, r := range rules {
		if r.Prio == add.Prio {
			add.Prio += 4 * uint32(n+3)
		}
	}
	return add
}

func randKey(rng *rand.Rand) Key {
	var k Key
	for d, w := range testWidths {
		max := uint32(1<<w - 1)
		if rng.IntN(2) == 0 {
			k.V[d] = uint32(rng.IntN(8)) * (max / 7)
		} else {
			k.V[d] = uint32(rng.Int64N(int64(max) + 1))
		}
	}
	k.Present = uint32(rng.IntN(32))
	return k
}

// randClassifier builds a classifier of 1 to max random rules.
func randClassifier(t *testing.T, rng *rand.Rand, max int, seed uint64) (*Classifier, []Rule) {
	t.Helper()
	rules := make([]Rule, 1+rng.IntN(max))
	for i := range rules {
		rules[i] = randRule(rng, uint32(i*4+1))
	}
	c, err := New(5, rules, Options{Widths: testWidths, Seed: seed, Collide: 1 + rng.IntN(8)})
	if err != nil {
		t.Fatal(err)
	}
	return c, rules
}

// TestLookupMatchesNaive checks random classifiers, built whole and
// changed rule by rule, against a scan of the rules.
func TestLookupMatchesNaive(t *testing.T) {
	seed := uint64(rand.Int64())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	for round := 0; round < 40; round++ {
		c, rules := randClassifier(t, rng, 300, seed)
		checkAgainst(t, rng, c, rules, seed)
		// Delete and add a few, copy on write; the old one must not change.
		old := c
		oldRules := append([]Rule(nil), rules...)
		replaceRules(t, rng, c, rules, seed, nil, nil)
		checkAgainst(t, rng, old, oldRules, seed)
	}
}

// replaceRules replaces a random rule of rules by addedRule (permuted by
// order unless it is nil) ten times, each through With from the
// classifier before, and checks the result against a scan of rules each
// time, and then with added unless it is nil.
func replaceRules(t *testing.T, rng *rand.Rand, c *Classifier, rules []Rule, seed uint64, order []int, added func(c *Classifier, add Rule)) {
	t.Helper()
	n := len(rules)
	for step := 0; step < 10; step++ {
		i := rng.IntN(len(rules))
		add := addedRule(rng, rules, n, step, order)
		var err error
		if c, err = c.With([]Rule{rules[i]}, []Rule{add}); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		rules[i] = add
		checkAgainst(t, rng, c, rules, seed)
		if added != nil {
			added(c, add)
		}
	}
}

func checkAgainst(t *testing.T, rng *rand.Rand, c *Classifier, rules []Rule, seed uint64) {
	t.Helper()
	keys := make([]Key, 100)
	for i := range keys {
		keys[i] = randKey(rng)
	}
	ids, prios := make([]uint32, len(keys)), make([]uint32, len(keys))
	c.LookupBatch(keys, 0, ids, prios)
	for i := range keys {
		k := &keys[i]
		from := uint32(0)
		if i%3 == 1 {
			from = uint32(rng.IntN(len(rules) * 4))
		}
		wid, wp := naive(rules, k, from)
		gid, gp := c.Lookup(k, from)
		if wp != gp || (wp != NoMatch && wid != gid) {
			t.Fatalf("seed %d: key %v from %d: got rule %d prio %d, want %d prio %d", seed, k, from, gid, gp, wid, wp)
		}
		if from == 0 && (prios[i] != gp || (gp != NoMatch && ids[i] != gid)) {
			t.Fatalf("seed %d: batch key %v: got %d/%d, want %d/%d", seed, k, ids[i], prios[i], gid, gp)
		}
	}
}

// TestLookupBatchMatchesLookup checks batches of every size, from random
// priorities, against single lookups: the batch walk drops keys early and
// checks first rows without branches, and must not change an answer.
func TestLookupBatchMatchesLookup(t *testing.T) {
	seed := uint64(rand.Int64())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	for round := 0; round < 40; round++ {
		c, rules := randClassifier(t, rng, 500, seed)
		n := len(rules)
		keys := make([]Key, rng.IntN(3*batchMax))
		for i := range keys {
			keys[i] = randKey(rng)
		}
		from := uint32(0)
		if round%2 == 1 {
			from = uint32(rng.IntN(n * 4))
		}
		ids, prios := make([]uint32, len(keys)), make([]uint32, len(keys))
		c.LookupBatch(keys, from, ids, prios)
		for i := range keys {
			id, p := c.Lookup(&keys[i], from)
			if prios[i] != p || (p != NoMatch && ids[i] != id) {
				t.Fatalf("seed %d round %d: key %d of %d from %d: batch %d/%d, single %d/%d", seed, round, i, len(keys), from, ids[i], prios[i], id, p)
			}
		}
	}
}

// TestExactNarrowDimensionsAreHashed checks that rules that all fix a
// port to one value (kube-proxy's services: one rule per VIP and port, many
// ports per VIP) share one table hashed on the port too, so that a lookup
// probes one slot of about one row.
func TestExactNarrowDimensionsAreHashed(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	var rules []Rule
	seen := map[[2]uint32]bool{}
	for len(rules) < 20000 {
		vip, port := uint32(0x0a600000|rng.IntN(1<<10)), uint32(1+rng.IntN(1<<16-1))
		if seen[[2]uint32{vip, port}] {
			continue
		}
		seen[[2]uint32{vip, port}] = true
		p := uint32(len(rules) + 1)
		rules = append(rules, Rule{Prio: p, ID: p, Lo: []uint32{0, vip, 0, port, 6}, Hi: []uint32{^uint32(0), vip, 0xffff, port, 6}})
	}
	c, err := New(5, rules, Options{Widths: testWidths, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if c.Tables() != 1 {
		t.Errorf("%d rules exact in address, port and protocol: %d tables, want 1", len(rules), c.Tables())
	}
	for _, i := range []int{0, 1, 777, len(rules) - 1} {
		r := &rules[i]
		k := Key{Present: 31}
		k.V[1], k.V[3], k.V[4] = r.Lo[1], r.Lo[3], 6
		if id, _ := c.Lookup(&k, 0); id != r.ID {
			t.Errorf("key of rule %d: got rule %d", r.ID, id)
		}
		k.V[3]++
		if wid, wp := naive(rules, &k, 0); wp != NoMatch {
			if id, _ := c.Lookup(&k, 0); id != wid {
				t.Errorf("key of rule %d, next port: got rule %d, want %d", r.ID, id, wid)
			}
		} else if _, p := c.Lookup(&k, 0); p != NoMatch {
			t.Errorf("key of rule %d, next port: got priority %d, want no match", r.ID, p)
		}
	}
}

// TestLookupAllocatesNothing pins the lookups at zero allocations.
func TestLookupAllocatesNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	rules := make([]Rule, 300)
	for i := range rules {
		rules[i] = randRule(rng, uint32(i*4+1))
	}
	c, err := New(5, rules, Options{Widths: testWidths, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]Key, 100)
	for i := range keys {
		keys[i] = randKey(rng)
	}
	ids, prios := make([]uint32, len(keys)), make([]uint32, len(keys))
	if a := testing.AllocsPerRun(100, func() { c.Lookup(&keys[7], 0) }); a != 0 {
		t.Errorf("Lookup: %v allocations", a)
	}
	if a := testing.AllocsPerRun(100, func() { c.LookupBatch(keys, 0, ids, prios) }); a != 0 {
		t.Errorf("LookupBatch: %v allocations", a)
	}
}
