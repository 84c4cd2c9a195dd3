package classify

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// permuteRule is r with dimension i holding what dimension order[i] of r
// holds, as permuted lays a row out.
func permuteRule(r Rule, order []int) Rule {
	p := Rule{Prio: r.Prio, ID: r.ID, Lo: make([]uint32, len(order)), Hi: make([]uint32, len(order))}
	for i, d := range order {
		p.Lo[i], p.Hi[i] = r.Lo[d], r.Hi[d]
		p.Need |= (r.Need >> d & 1) << i
	}
	return p
}

func permuteKey(k Key, order []int) Key {
	p := Key{}
	for i, d := range order {
		p.V[i] = k.V[d]
		p.Present |= (k.Present >> d & 1) << i
	}
	return p
}

// TestPermutedMatchesNaive checks classifiers with their dimensions
// permuted at random, looked up with permuted keys and changed with
// permuted rules, against a scan of the permuted rules; and that the
// classifier they came from still gives its own answers.
func TestPermutedMatchesNaive(t *testing.T) {
	seed := uint64(rand.Int64())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 5))
	for round := 0; round < 40; round++ {
		c, rules := randClassifier(t, rng, 300, seed)
		order := rng.Perm(5)
		pc := c.permuted(order)
		prules := make([]Rule, len(rules))
		for i := range rules {
			prules[i] = permuteRule(rules[i], order)
		}
		if pc.Len() != c.Len() || pc.Bytes() > c.Bytes() || pc.Tables() != c.Tables() {
			t.Fatalf("seed %d: permuted: %d rows %d bytes %d tables, was %d %d %d", seed, pc.Len(), pc.Bytes(), pc.Tables(), c.Len(), c.Bytes(), c.Tables())
		}
		for i, d := range order {
			if pc.width[i] != c.width[d] || pc.exact>>i&1 != c.exact>>d&1 {
				t.Fatalf("seed %d order %v: dimension %d: width %d exact %d, want those of %d: %d %d", seed, order, i, pc.width[i], pc.exact>>i&1, d, c.width[d], c.exact>>d&1)
			}
			for ti := range pc.tables {
				if pc.tables[ti].plen[i] != c.tables[ti].plen[d] {
					t.Fatalf("seed %d order %v: table %d dimension %d: prefix %d, want %d", seed, order, ti, i, pc.tables[ti].plen[i], c.tables[ti].plen[d])
				}
			}
		}
		checkAgainst(t, rng, pc, prules, seed)
		for i := 0; i < 50; i++ {
			k := randKey(rng)
			pk := permuteKey(k, order)
			id, p := c.Lookup(&k, 0)
			pid, pp := pc.Lookup(&pk, 0)
			if p != pp || p != NoMatch && id != pid {
				t.Fatalf("seed %d order %v: key %v: permuted %d/%d, was %d/%d", seed, order, k, pid, pp, id, p)
			}
		}
		// Changes in the permuted order (the ruleset's boxes follow it).
		replaceRules(t, rng, pc, prules, seed, order, func(pc *Classifier, add Rule) {
			// Keys in the new box: it must be found where it wins.
			for j := 0; j < 20; j++ {
				k := Key{Present: 31}
				for d := range 5 {
					k.V[d] = add.Lo[d] + uint32(rng.Int64N(int64(add.Hi[d]-add.Lo[d])+1))
				}
				wid, wp := naive(prules, &k, 0)
				if id, p := pc.Lookup(&k, 0); p != wp || wp != NoMatch && id != wid {
					t.Fatalf("seed %d order %v: key %v in added rule %d: got %d/%d, want %d/%d", seed, order, k, add.ID, id, p, wid, wp)
				}
			}
		})
		checkAgainst(t, rng, c, rules, seed)
	}
}

// TestReorderedPutsTheRejectingDimensionFirst builds rules that share
// their addresses in groups and differ within a group only in dimension 3
// (a port), so that the rows of a slot are told apart by it: Reordered
// must check it first, and the reordered classifier must give the same
// answers.
func TestReorderedPutsTheRejectingDimensionFirst(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	var rules []Rule
	for g := 0; len(rules) < 2000; g++ {
		src, dst := rng.Uint32(), rng.Uint32()
		for j := 0; j < 20; j++ {
			p := uint32(len(rules) + 1)
			port := uint32(j * 1000)
			rules = append(rules, Rule{Prio: p, ID: p,
				Lo: []uint32{src, dst, 0, port, 6}, Hi: []uint32{src, dst, 0xffff, port + 999, 6}})
		}
	}
	c, err := New(5, rules, Options{Widths: testWidths, Seed: 5, Collide: 32})
	if err != nil {
		t.Fatal(err)
	}
	rc, order := c.Reordered(rules)
	if order == nil || order[0] != 3 {
		t.Fatalf("order %v, want dimension 3 first", order)
	}
	if !slices.Equal(slices.Sorted(slices.Values(order)), []int{0, 1, 2, 3, 4}) {
		t.Fatalf("order %v is not a permutation of 5", order)
	}
	// Every rule fixes the protocol (dimension 4), so it is hashed in new
	// tables (exactDims), wherever the order puts it.
	if c.exact != 1<<4 || rc.exact != 1<<slices.Index(order, 4) {
		t.Errorf("exact dimensions %b, reordered %b (order %v)", c.exact, rc.exact, order)
	}
	if pc := c.permuted([]int{4, 0, 1, 2, 3}); pc.exact != 1 {
		t.Errorf("exact dimensions %b, with dimension 4 first %b, want 1", c.exact, pc.exact)
	}
	for i := 0; i < 2000; i++ {
		r := &rules[rng.IntN(len(rules))]
		k := Key{Present: 31}
		for d := range 5 {
			k.V[d] = r.Lo[d] + rng.Uint32N(r.Hi[d]-r.Lo[d]+1)
		}
		if i%4 == 0 {
			k.V[0]++ // most of these match nothing
		}
		pk := permuteKey(k, order)
		id, p := c.Lookup(&k, 0)
		rid, rp := rc.Lookup(&pk, 0)
		wid, wp := naive(rules, &k, 0)
		if p != wp || rp != wp || wp != NoMatch && (id != wid || rid != wid) {
			t.Fatalf("key %v: %d/%d, reordered %d/%d, want %d/%d", k, id, p, rid, rp, wid, wp)
		}
	}

	// A dimension that rejects nothing is not worth a new order: rules
	// that differ only in dimension 0, already first.
	rules = rules[:0]
	for i := 0; i < 1000; i++ {
		p := uint32(i + 1)
		rules = append(rules, Rule{Prio: p, ID: p, Lo: []uint32{uint32(i) << 20, 0, 0, 0, 0}, Hi: []uint32{uint32(i)<<20 | 0xfffff, ^uint32(0), 0xffff, 0xffff, 0xff}})
	}
	if c, err = New(5, rules, Options{Widths: testWidths, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	if _, order := c.Reordered(rules); order != nil {
		t.Errorf("rules told apart by dimension 0 alone: reordered to %v", order)
	}
}

func TestGreedyOrder(t *testing.T) {
	// Dimension 2 rejects 3 of 4 rows, dimension 0 the fourth and one of
	// the others, dimension 1 none.
	misses := []uint32{0b100, 0b100, 0b101, 0b001}
	order := greedyOrder(misses, 3)
	if !slices.Equal(order, []int{2, 0, 1}) {
		t.Errorf("order %v, want [2 0 1]", order)
	}
	if n := checks(misses, order); n != 3+2 {
		t.Errorf("checks in order %v: %d, want 5", order, n)
	}
	if n := checks(misses, identity(3)); n != 3+3+1+1 {
		t.Errorf("checks in order [0 1 2]: %d, want 8", n)
	}
}
