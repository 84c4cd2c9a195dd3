package classify

import (
	"math/rand/v2"
	"testing"
)

// TestTunedBuildKeepsTheCheapest builds random rule sets big enough to
// be tuned and checks that New kept the tuning whose build rates cheapest
// on the sample keys, that its lookups agree with a scan of the rules, and
// that changes keep the tuning it chose.
func TestTunedBuildKeepsTheCheapest(t *testing.T) {
	seed := uint64(rand.Int64())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	for round := 0; round < 6; round++ {
		rules := make([]Rule, tuneMinRules+rng.IntN(2000))
		for i := range rules {
			rules[i] = randRule(rng, uint32(i*4+1))
		}
		c, err := New(5, rules, Options{Widths: testWidths, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		keys := sampleKeys(5, rules, tuneKeys)
		var want tuning
		cheapest := -1
		for _, tu := range tuningsFor(len(rules)) {
			x, err := build(5, rules, Options{Widths: testWidths, Seed: seed}, tu)
			if err != nil {
				t.Fatal(err)
			}
			if cost := x.cost(keys); cheapest < 0 || cost < cheapest {
				want, cheapest = tu, cost
			}
		}
		if got := (tuning{c.opts.Collide, c.top, c.grid}); got != want || c.cost(keys) != cheapest {
			t.Fatalf("seed %d, %d rules: kept %+v (cost %d), want %+v (cost %d)",
				seed, len(rules), got, c.cost(keys), want, cheapest)
		}
		checkAgainst(t, rng, c, rules, seed)
		add := randRule(rng, uint32(len(rules)*4+3))
		n, err := c.With([]Rule{rules[0]}, []Rule{add})
		if err != nil {
			t.Fatal(err)
		}
		rules[0] = add
		checkAgainst(t, rng, n, rules, seed)
		if got := (tuning{n.opts.Collide, n.top, n.grid}); got != want {
			t.Fatalf("seed %d: a change moved the tuning from %+v to %+v", seed, want, got)
		}
	}
}

// TestSampleKeysLieInTheirRules checks that every sample key is a point
// of some rule's box, the keys the tuning rates a build on, and that the
// same rules always give the same keys.
func TestSampleKeysLieInTheirRules(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	rules := make([]Rule, 300)
	for i := range rules {
		rules[i] = randRule(rng, uint32(i*4+1))
		rules[i].Need = 0
	}
	// A rule that spans all of every dimension, the wildcard case.
	rules[7] = Rule{Prio: 29, ID: 7, Lo: make([]uint32, 5), Hi: []uint32{^uint32(0), ^uint32(0), 65535, 65535, 255}}
	keys := sampleKeys(5, rules, 2000)
	again := sampleKeys(5, rules, 2000)
	for i := range keys {
		if keys[i] != again[i] {
			t.Fatalf("key %d: %v, then %v", i, keys[i], again[i])
		}
		if _, p := naive(rules, &keys[i], 0); p == NoMatch {
			t.Fatalf("key %v is in no rule", keys[i])
		}
	}
}
