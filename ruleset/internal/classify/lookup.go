package classify

// Lookup finds the first rule (smallest priority) at or after priority
// from whose box holds k. It returns the rule's ID and priority, or
// priority NoMatch.
func (c *Classifier) Lookup(k *Key, from uint32) (id, prio uint32) {
	best, bid := NoMatch, uint32(0)
	if from > c.maxPrio {
		return 0, NoMatch
	}
	if len(c.tables) > 1 {
		return c.lookupAhead(k, from)
	}
	// One table (a block list, say) or none: nothing to overlap, and
	// hashing ahead measured 20% slower on /32 block lists.
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
		rows := t.rows
		e := t.slots[hashKey(seed, t, k)&t.smask]
		if e == 0 {
			continue // costs less than reading the sentinel when most slots are empty
		}
		for {
			row := rows[int(e)*w:][:w]
			p := row[rowPrio]
			if p >= best {
				break // a later row, or the sentinel
			}
			if p >= from && rowMiss(row, k, dims) == 0 {
				best, bid = p, row[rowID]
				break
			}
			e = row[rowNext]
		}
	}
	return bid, best
}

// lookupAhead is Lookup for a classifier of more than one table.
func (c *Classifier) lookupAhead(k *Key, from uint32) (id, prio uint32) {
	best, bid := NoMatch, uint32(0)
	w, dims := c.w, c.dims
	seed := c.opts.Seed
	tables := c.tables
	// The tables go lookAhead at a time: the slots of a group first, then
	// their rows. The hashes and loads of a group's slots do not depend on
	// each other, so they overlap, where hashing each table after
	// deciding on the one before puts them all on one chain of dependent
	// steps.
	var heads [lookAhead]uint32
	for len(tables) > 0 {
		group := tables[:min(len(tables), lookAhead)]
		tables = tables[len(group):]
		for ti := range group {
			t := &group[ti]
			var h uint32
			if t.nh <= 4 {
				// hashKey, inlined: a call would spill the registers
				// around it.
				h = hashFinish(hashPairs(seed,
					k.V[t.hdim[0]&(MaxDims-1)]&t.hmask[0], k.V[t.hdim[1]&(MaxDims-1)]&t.hmask[1],
					k.V[t.hdim[2]&(MaxDims-1)]&t.hmask[2], k.V[t.hdim[3]&(MaxDims-1)]&t.hmask[3]))
			} else {
				h = hashKey(seed, t, k)
			}
			heads[ti&(lookAhead-1)] = t.slots[h&t.smask]
		}
		for ti := range group {
			t := &group[ti]
			if t.best >= best {
				return bid, best
			}
			e := heads[ti&(lookAhead-1)]
			if t.worst < from || e == 0 {
				continue // an empty slot costs less than reading the sentinel when most slots are empty
			}
			// The walk of Lookup's loop, written out again: as a
			// function it measured 3-4% slower on acl1 (a call per
			// table spills the registers around it).
			rows := t.rows
			for {
				row := rows[int(e)*w:][:w]
				p := row[rowPrio]
				if p >= best {
					break // a later row, or the sentinel
				}
				if p >= from && rowMiss(row, k, dims) == 0 {
					best, bid = p, row[rowID]
					break
				}
				e = row[rowNext]
			}
		}
	}
	return bid, best
}

// LookupBatch is Lookup for many keys at once, all from the same
// priority: ids[i] and prios[i] answer keys[i]. It walks the tables once,
// each for the whole batch, in steps that each go over all the keys still
// searching: hash them and load their slots, so that the loads of
// different keys overlap; check the first row of each slot, taking the
// answer with a select and listing the slots to walk further without a
// branch; walk the rest of those few slots. A key leaves the batch at the
// first table that cannot hold a better rule than the one it has, where
// Lookup stops.
func (c *Classifier) LookupBatch(keys []Key, from uint32, ids, prios []uint32) {
	n := len(keys)
	ids, prios = ids[:n], prios[:n]
	for i := range prios {
		prios[i] = NoMatch
	}
	if from > c.maxPrio {
		return
	}
	for base := 0; base < n; base += batchMax {
		m := min(batchMax, n-base)
		c.lookupBatch(keys[base:base+m], from, ids[base:base+m], prios[base:base+m])
	}
}

// lookAhead is how many tables Lookup hashes before it checks any. An
// acl1 lookup probes 4.2 tables (1K rules) to 4.7 (10K); 4 measured at
// least as fast as 3, 5, 6 or 8 on ClassBench acl1 1K and 10K.
const lookAhead = 4

// batchMax is the number of keys LookupBatch searches together.
const batchMax = 64

// lookupBatch is LookupBatch for at most batchMax keys.
func (c *Classifier) lookupBatch(ks []Key, from uint32, bi, bp []uint32) {
	w, dims := c.w, c.dims
	seed := c.opts.Seed
	var live [batchMax]uint8 // the keys still searching
	var cand [batchMax]uint8 // the keys whose slot is not empty
	var more [batchMax]uint8 // the keys whose slot has rows left to check
	var heads [batchMax]uint32
	ks = ks[:min(len(ks), batchMax)]
	bi, bp = bi[:len(ks)], bp[:len(ks)]
	nl := len(ks)
	for i := range nl {
		live[i] = uint8(i)
	}
	for ti := range c.tables {
		t := &c.tables[ti]
		// Tables come in order of their best priority: a key this table
		// cannot improve, no later table can either. (The first table
		// can improve every key: none has a rule yet.)
		if ti > 0 {
			n := 0
			for _, i := range live[:nl] {
				live[n&(batchMax-1)] = i
				n += b2i(t.best < bp[i&(batchMax-1)])
			}
			if nl = n; nl == 0 {
				return
			}
		}
		if t.worst < from {
			continue
		}
		// Hash, load the slots, and list the keys whose slot is not
		// empty (without a branch: the slot is written, and counted only
		// when not 0).
		slots, smask, rows := t.slots, t.smask, t.rows
		nc := 0
		if t.nh <= 4 {
			// hashKey, with what it reads of the table loaded once.
			d0, d1, d2, d3 := t.hdim[0]&(MaxDims-1), t.hdim[1]&(MaxDims-1), t.hdim[2]&(MaxDims-1), t.hdim[3]&(MaxDims-1)
			m0, m1, m2, m3 := t.hmask[0], t.hmask[1], t.hmask[2], t.hmask[3]
			for _, i := range live[:nl] {
				k := &ks[i&(batchMax-1)]
				h := hashPairs(seed, k.V[d0]&m0, k.V[d1]&m1, k.V[d2]&m2, k.V[d3]&m3)
				e := slots[hashFinish(h)&smask]
				heads[nc&(batchMax-1)], cand[nc&(batchMax-1)] = e, i
				nc += b2i(e != 0)
			}
		} else {
			for _, i := range live[:nl] {
				e := slots[hashKey(seed, t, &ks[i&(batchMax-1)])&smask]
				heads[nc&(batchMax-1)], cand[nc&(batchMax-1)] = e, i
				nc += b2i(e != 0)
			}
		}
		nm := 0
		for j, i := range cand[:nc] {
			i &= batchMax - 1
			row := rows[int(heads[j])*w:][:w]
			p, best := row[rowPrio], bp[i]
			miss := rowMissAll(row, &ks[i], dims) | uint64(b2i(p >= best)) | uint64(b2i(p < from))
			hit := -uint32(b2i(miss == 0)) // all ones on a match
			bp[i] = best ^ (best^p)&hit
			bi[i] ^= (bi[i] ^ row[rowID]) & hit
			next := row[rowNext]
			heads[nm&(batchMax-1)], more[nm&(batchMax-1)] = next, i // nm <= j: read already
			nm += b2i(miss != 0) & b2i(next != 0) & b2i(p < best)
		}
		for j, i := range more[:nm] {
			i &= batchMax - 1
			k := &ks[i]
			best := bp[i]
			for e := heads[j]; ; {
				row := rows[int(e)*w:][:w]
				p := row[rowPrio]
				if p >= best {
					break
				}
				if p >= from && rowMiss(row, k, dims) == 0 {
					bp[i], bi[i] = p, row[rowID]
					break
				}
				e = row[rowNext]
			}
		}
	}
}

// b2i is 1 for true and 0 for false; the compiler makes it a SETcc, not a
// branch.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// hashKey hashes the bits of k that table t fixes. The first four masked
// words are packed two to a 64-bit word and each pair multiplied once,
// whether or not the table hashes that many dimensions (a mask of 0 makes
// a word 0): two multiplications for the tables of IPv4 rules, and no
// branch that the tables of a lookup take a different number of times. The
// loop runs only for tables of more (IPv6 addresses, interface names).
func hashKey(seed uint64, t *table, k *Key) uint32 {
	h := hashPairs(seed,
		k.V[t.hdim[0]&(MaxDims-1)]&t.hmask[0], k.V[t.hdim[1]&(MaxDims-1)]&t.hmask[1],
		k.V[t.hdim[2]&(MaxDims-1)]&t.hmask[2], k.V[t.hdim[3]&(MaxDims-1)]&t.hmask[3])
	for i := 4; i < t.nh; i++ {
		h += uint64(k.V[t.hdim[i]&(MaxDims-1)]&t.hmask[i]+uint32(i)) * mults[i&(MaxDims-1)]
	}
	return hashFinish(h)
}

// hashPairs is the sum of hashKey's first four words' products.
func hashPairs(seed uint64, a, b, c, d uint32) uint64 {
	return seed + (uint64(a)|uint64(b)<<32)*mults[0] + (uint64(c)|uint64(d)<<32)*mults[1]
}

// hashFinish mixes the sum of hashKey's products into a slot hash.
func hashFinish(h uint64) uint32 {
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

// rowMiss is 0 when k has the dimensions row needs and lies in its box,
// else 1. It stops at the first dimension out of range: measured against
// OR-ing the misses of every dimension without a branch, the early exit
// was 5-10% faster on ClassBench acl1 and kube-proxy rule sets.
func rowMiss(row []uint32, k *Key, dims int) uint64 {
	if row[rowNeed]&^k.Present != 0 {
		return 1
	}
	b := row[rowHdr:]
	b = b[:2*dims]
	for d := 0; len(b) >= 2; d++ {
		if k.V[d&(MaxDims-1)]-b[0] > b[1] {
			return 1
		}
		b = b[2:]
	}
	return 0
}

// rowMissAll is rowMiss without a branch on the row: it checks every
// dimension and ORs the misses. lookupBatch checks the first rows of a
// table's slots with it, a loop over many keys whose loads overlap only
// when no branch on them is mispredicted. With the rows compacted too,
// batches on ClassBench acl1 10K went from 12.4 to 14.2 M lookups/s over
// its whole trace (BenchmarkClassBench), from 16.4 to 22.4 over its first
// 8,192 headers (the ruleset's BenchmarkClassify then), and got 7-9% slower
// on the generated fw and ipc 10K sets, whose first rows more often match
// and pay for every dimension.
// Lookup and the walks past the first row keep rowMiss: there, a row's
// outcome decides the next load anyway.
func rowMissAll(row []uint32, k *Key, dims int) uint64 {
	// Each test sets bit 63 on a miss: a 32-bit value above a 32-bit
	// bound, subtracted from it in 64 bits, goes below zero.
	miss := -uint64(row[rowNeed] &^ k.Present)
	b := row[rowHdr:]
	b = b[:2*dims]
	for d := 0; len(b) >= 2; d++ {
		miss |= uint64(b[1]) - uint64(k.V[d&(MaxDims-1)]-b[0])
		b = b[2:]
	}
	return miss >> 63
}
