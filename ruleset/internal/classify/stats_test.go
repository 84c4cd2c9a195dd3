package classify

import "testing"

// lookupStats is Lookup, counting the tables probed and rows checked.
func (c *Classifier) lookupStats(k *Key, from uint32) (tables, rows int) {
	best := NoMatch
	for ti := range c.tables {
		t := &c.tables[ti]
		if t.best >= best {
			break
		}
		if t.worst < from {
			continue
		}
		tables++
		e := t.slots[hashKey(c.opts.Seed, t, k)&t.smask]
		for e != 0 {
			row := t.rows[int(e)*c.w : int(e+1)*c.w]
			p := row[rowPrio]
			if p >= best {
				break
			}
			rows++
			if p >= from && rowMiss(row, k, c.dims) == 0 {
				best = p
				break
			}
			e = row[rowNext]
		}
	}
	return
}

// TestClassBenchStats logs how many tables and rows a lookup visits, the
// figures that chose the relaxation and the collision limit.
func TestClassBenchStats(t *testing.T) {
	if testing.Short() {
		t.Skip("statistics only")
	}
	for _, coll := range tuneLimits {
		for _, name := range []string{"acl1_1k", "acl1_10k", "acl1_100k"} {
			rules := loadACL(t, name)
			c, _ := New(5, rules, Options{Widths: testWidths, Seed: 1, Collide: coll})
			tr := loadTrace(t, name)
			var nt, nr int
			for _, e := range tr {
				a, b := c.lookupStats(&e.k, 0)
				nt += a
				nr += b
			}
			t.Logf("collide %d %s: %d tables; per lookup %.1f tables, %.1f rows", coll, name, c.Tables(),
				float64(nt)/float64(len(tr)), float64(nr)/float64(len(tr)))
		}
	}
}
