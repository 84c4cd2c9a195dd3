package classify

import "testing"

// TestClassBenchStats logs, for each tuning, how many tables and rows a
// lookup of the ClassBench acl1 traces visits (the figures that chose the
// relaxation and the tunings; the 100K set with -v only, for time). It
// checks that the tuning New picks from its sample keys costs at most 10%
// more on the real trace than the best tuning does.
func TestClassBenchStats(t *testing.T) {
	if testing.Short() {
		t.Skip("builds each set four times")
	}
	names := []string{"acl1_1k", "acl1_10k"}
	if testing.Verbose() {
		names = append(names, "acl1_100k")
	}
	for _, name := range names {
		rules := loadACL(t, name)
		tr := loadTrace(t, name)
		keys := make([]Key, len(tr))
		for i := range tr {
			keys[i] = tr[i].k
		}
		best := -1
		for _, tu := range tunings {
			c, err := build(5, rules, Options{Widths: testWidths, Seed: 1}, tu)
			if err != nil {
				t.Fatal(err)
			}
			var nt, nr int
			for i := range keys {
				a, b := c.lookupCount(&keys[i])
				nt += a
				nr += b
			}
			t.Logf("%s, %+v: %d tables; per lookup %.2f tables, %.2f rows", name, tu, c.Tables(),
				float64(nt)/float64(len(tr)), float64(nr)/float64(len(tr)))
			if best < 0 || nt+nr < best {
				best = nt + nr
			}
		}
		c, err := New(5, rules, Options{Widths: testWidths, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		got := c.cost(keys)
		t.Logf("%s: New kept %+v: %.2f per lookup", name, tuning{c.opts.Collide, c.top, c.grid}, float64(got)/float64(len(keys)))
		if got*10 > best*11 {
			t.Errorf("%s: the tuning New kept costs %d on the trace, the best %d", name, got, best)
		}
	}
}
