package classify

import (
	"fmt"
	"slices"
)

// With returns a classifier that holds c's rules without the boxes of del
// and with those of add. c does not change; the result shares every table
// the change does not touch. A box of del is found by its ID, priority and
// bounds; one that c does not hold is an error.
func (c *Classifier) With(del, add []Rule) (*Classifier, error) {
	n := *c
	n.tables = slices.Clone(c.tables)
	for i := range del {
		if err := n.check(&del[i]); err != nil {
			return nil, err
		}
		if !n.remove(&del[i]) {
			return nil, fmt.Errorf("classify: rule %d (priority %d) is not in the classifier", del[i].ID, del[i].Prio)
		}
	}
	for i := range add {
		if err := n.check(&add[i]); err != nil {
			return nil, err
		}
		n.insert(&add[i])
	}
	n.tables = slices.DeleteFunc(n.tables, func(t table) bool { return t.n == 0 })
	n.sortTables()
	if err := n.checkSize(); err != nil {
		return nil, err
	}
	return &n, nil
}

func (c *Classifier) remove(r *Rule) bool {
	var l [MaxDims]uint8
	var v [MaxDims]uint32
	for d := 0; d < c.dims; d++ {
		l[d] = plen(r.Lo[d], r.Hi[d], c.width[d])
		v[d] = r.Lo[d]
	}
	for ti := range c.tables {
		t := &c.tables[ti]
		if !t.compatible(&l, c.dims) || t.best > r.Prio || t.worst < r.Prio {
			continue
		}
		s := c.hashVals(t, &v)
		prev := uint32(0)
		for e := t.slots[s]; e != 0; e = t.rows[int(e)*c.w+rowNext] {
			if c.sameRow(t.rows[int(e)*c.w:int(e+1)*c.w], r) {
				t = c.own(ti)
				next := t.rows[int(e)*c.w+rowNext]
				if prev == 0 {
					t.slots[s] = next
				} else {
					t.rows[int(prev)*c.w+rowNext] = next
				}
				t.rows[int(e)*c.w+rowPrio] = NoMatch
				t.rows[int(e)*c.w+rowNext] = t.free
				t.free = e
				t.n--
				c.nrules--
				return true
			}
			prev = e
		}
	}
	return false
}

func (c *Classifier) sameRow(row []uint32, r *Rule) bool {
	if row[rowPrio] != r.Prio || row[rowID] != r.ID || row[rowNeed] != r.Need {
		return false
	}
	for d := 0; d < c.dims; d++ {
		if row[rowHdr+2*d] != r.Lo[d] || row[rowHdr+2*d+1] != r.Hi[d]-r.Lo[d] {
			return false
		}
	}
	return true
}
