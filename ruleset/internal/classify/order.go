package classify

// The order of the dimensions. rowMiss checks a row's dimensions in their
// order and stops at the first one out of range, so a lookup checks fewer
// of them when the dimensions that reject rows come first. Which ones do
// depends on the rules: the rows of a slot share the bits their table
// hashes, and often differ in a dimension the table does not hash (on
// ClassBench acl1, the rules of one pair of hosts differ in their
// destination port). Reordered measures it.

// Reordered returns c with its dimensions in the order in which the rows
// that lookups check are rejected soonest, and that order: dimension i of
// the result (and of the keys it is given) is dimension order[i] of c. It
// measures on sample keys drawn from rules, which must be the rules c was
// built from. When the best order it finds does not check at least 1/16
// fewer dimensions than c's own, it returns c and nil. Below tuneMinRules
// rules it does not measure (a ruleset of kube-proxy's shape has a chain
// of one or two rules per service).
func (c *Classifier) Reordered(rules []Rule) (*Classifier, []int) {
	if c.dims < 2 || len(rules) < tuneMinRules {
		return c, nil
	}
	misses := c.rowMisses(sampleKeys(c.dims, rules, tuneKeys))
	order := greedyOrder(misses, c.dims)
	if 16*checks(misses, order) > 15*checks(misses, identity(c.dims)) {
		return c, nil
	}
	return c.permuted(order), order
}

// rowMisses looks keys up as Lookup does, from the first priority, and
// returns, for each row checked whose box does not hold the key, the set
// of dimensions in which the key is out of the box (bit d for dimension
// d).
func (c *Classifier) rowMisses(keys []Key) []uint32 {
	var out []uint32
	for i := range keys {
		k := &keys[i]
		c.walk(k, func() {}, func(row []uint32) bool {
			var m uint32
			for d := 0; d < c.dims; d++ {
				if k.V[d]-row[rowHdr+2*d] > row[rowHdr+2*d+1] {
					m |= 1 << d
				}
			}
			if m != 0 {
				out = append(out, m)
			}
			return m == 0 && row[rowNeed]&^k.Present == 0
		})
	}
	return out
}

// greedyOrder orders dims dimensions: first the one out of range in the
// most of the rows misses describes, then the one in the most of the rows
// left, and so on; ties go to the lower dimension.
func greedyOrder(misses []uint32, dims int) []int {
	left := append([]uint32(nil), misses...)
	var used uint32
	order := make([]int, 0, dims)
	for len(order) < dims {
		var n [MaxDims]int
		for _, m := range left {
			for d := 0; d < dims; d++ {
				n[d] += int(m >> d & 1)
			}
		}
		pick := -1
		for d := 0; d < dims; d++ {
			if used&(1<<d) == 0 && (pick < 0 || n[d] > n[pick]) {
				pick = d
			}
		}
		order = append(order, pick)
		used |= 1 << pick
		kept := left[:0]
		for _, m := range left {
			if m&(1<<pick) == 0 {
				kept = append(kept, m)
			}
		}
		left = kept
	}
	return order
}

// checks is how many dimensions rowMiss checks for the rows misses
// describes, with the dimensions in order.
func checks(misses []uint32, order []int) int {
	n := 0
	for _, m := range misses {
		for i, d := range order {
			if m&(1<<d) != 0 {
				n += i + 1
				break
			}
		}
	}
	return n
}

func identity(n int) []int {
	o := make([]int, n)
	for i := range o {
		o[i] = i
	}
	return o
}

// permuted is c with dimension i holding what dimension order[i] of c
// holds. The tables share their slots with c's: each hashes the same
// dimensions in the same sequence, only now found at other indexes, and
// tables are copied before they change (With).
func (c *Classifier) permuted(order []int) *Classifier {
	var inv [MaxDims]int
	for i, d := range order {
		inv[d] = i
	}
	n := *c
	n.exact = 0
	for i, d := range order {
		n.width[i] = c.width[d]
		n.exact |= (c.exact >> d & 1) << i
	}
	if len(c.opts.Widths) == c.dims {
		n.opts.Widths = make([]uint8, c.dims)
		for i, d := range order {
			n.opts.Widths[i] = c.opts.Widths[d]
		}
	}
	n.tables = make([]table, len(c.tables))
	for ti := range c.tables {
		t := c.tables[ti] // a copy, whose slices are replaced below
		old := &c.tables[ti]
		for i, d := range order {
			t.plen[i] = old.plen[d]
		}
		for j := 0; j < t.nh; j++ {
			t.hdim[j] = uint8(inv[old.hdim[j]])
		}
		t.rows = make([]uint32, len(old.rows))
		for e := 0; e+c.w <= len(old.rows); e += c.w {
			src, dst := old.rows[e:e+c.w], t.rows[e:e+c.w]
			copy(dst[:rowHdr], src[:rowHdr])
			var need uint32
			for i, d := range order {
				need |= (src[rowNeed] >> d & 1) << i
				dst[rowHdr+2*i] = src[rowHdr+2*d]
				dst[rowHdr+2*i+1] = src[rowHdr+2*d+1]
			}
			dst[rowNeed] = need
		}
		n.tables[ti] = t
	}
	return &n
}
