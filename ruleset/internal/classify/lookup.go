package classify

// Lookup finds the first rule (smallest priority) at or after priority
// from whose box holds k. It returns the rule's ID and priority, or
// priority NoMatch.
func (c *Classifier) Lookup(k *Key, from uint32) (id, prio uint32) {
	best, bid := NoMatch, uint32(0)
	if from > c.maxPrio {
		return 0, NoMatch
	}
	w, dims := c.w, c.dims
	seed := c.opts.Seed
	for ti := range c.tables {
		t := &c.tables[ti]
		if t.best >= best {
			break
		}
		if t.worst < from {
			continue
		}
		e := t.slots[hashKey(seed, t, k)&t.smask]
		for e != 0 {
			row := t.rows[int(e-1)*w : int(e)*w]
			p := row[rowPrio]
			if p >= best {
				break
			}
			if p >= from && k.Present&row[rowNeed] == row[rowNeed] && inBox(row[rowHdr:], k, dims) {
				best, bid = p, row[rowID]
				break
			}
			e = row[rowNext]
		}
	}
	return bid, best
}

// LookupBatch is Lookup for many keys at once, all from the same
// priority: ids[i] and prios[i] answer keys[i]. It walks the tables once,
// each for the whole batch, so that the memory accesses of different keys
// overlap.
func (c *Classifier) LookupBatch(keys []Key, from uint32, ids, prios []uint32) {
	n := len(keys)
	ids, prios = ids[:n], prios[:n]
	for i := range prios {
		prios[i] = NoMatch
	}
	if from > c.maxPrio {
		return
	}
	w, dims := c.w, c.dims
	var heads [64]uint32
	for base := 0; base < n; base += 64 {
		m := min(64, n-base)
		ks, bp, bi := keys[base:base+m], prios[base:base+m], ids[base:base+m]
		for ti := range c.tables {
			t := &c.tables[ti]
			if t.worst < from {
				continue
			}
			live := false
			for i := range ks {
				heads[i] = 0
				if t.best < bp[i] {
					heads[i] = t.slots[hashKey(c.opts.Seed, t, &ks[i])&t.smask]
					live = true
				}
			}
			if !live {
				continue
			}
			for i := range ks {
				k := &ks[i]
				for e := heads[i]; e != 0; {
					row := t.rows[int(e-1)*w : int(e)*w]
					p := row[rowPrio]
					if p >= bp[i] {
						break
					}
					if p >= from && k.Present&row[rowNeed] == row[rowNeed] && inBox(row[rowHdr:], k, dims) {
						bp[i], bi[i] = p, row[rowID]
						break
					}
					e = row[rowNext]
				}
			}
		}
	}
}

// hashKey hashes the bits of k that table t fixes. The products are
// independent of each other, so that they overlap in the CPU.
func hashKey(seed uint64, t *table, k *Key) uint32 {
	h := seed
	for i := 0; i < t.nh; i++ {
		h += uint64(k.V[t.hdim[i]&(MaxDims-1)]&t.hmask[i]+uint32(i)) * mults[i]
	}
	h ^= h >> 32
	h *= 0x9e3779b97f4a7c15
	return uint32(h >> 32)
}

var mults = [MaxDims]uint64{
	0xff51afd7ed558ccd, 0xc4ceb9fe1a85ec53, 0x9e3779b97f4a7c15, 0xbf58476d1ce4e5b9,
	0x94d049bb133111eb, 0xd6e8feb86659fd93, 0xa0761d6478bd642f, 0xe7037ed1a0b428db,
	0x8ebc6af09c88c6e3, 0x589965cc75374cc3, 0x1d8e4e27c47d124f, 0xcbf29ce484222325,
	0x87c37b91114253d5, 0x4cf5ad432745937f, 0x52dce729da3ed8d5, 0xb492b66fbe98f273,
}

// inBox checks k against the lo, hi-lo pairs of a row.
func inBox(b []uint32, k *Key, dims int) bool {
	b = b[:2*dims]
	for d := 0; d < dims; d++ {
		if k.V[d&(MaxDims-1)]-b[2*d] > b[2*d+1] {
			return false
		}
	}
	return true
}
