package ruleset

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/nfgo/nfgo/ruleset/internal/classify"
)

// ErrMatcherTooBig is returned (wrapped, with the chain's name) when a
// chain's compiled matcher would need more memory than
// Options.MaxChainBytes allows; the transaction is refused.
var ErrMatcherTooBig = errors.New("compiled chain exceeds the memory limit")

// DefaultMaxChainBytes is the memory limit of one compiled chain when
// Options.MaxChainBytes is 0.
const DefaultMaxChainBytes = 256 << 20

// maxIncremental is the number of rules a transaction may add and remove
// in a chain for the chain's matcher to be changed rather than rebuilt.
const maxIncremental = 64

// maxDead is the number of deleted rules a chain's classifier may still
// hold: deleting a rule only empties its slot, which the evaluator skips,
// and the classifier drops the boxes of the deleted rules all at once when
// there are more than this. Removing boxes copies the classifier tables
// that hold them, which for a big chain costs milliseconds; this way it is
// paid once per maxDead deletions.
const maxDead = 64

// chainProg is a chain compiled for the classifier. It is immutable; a
// transaction that changes the chain makes a new one.
type chainProg struct {
	rules []*Rule      // the chain's rules, in order, as compiled
	order ruleOrder    // handle, classifier priority and ID of rules[i]
	slots [][]progRule // by ID, in chunks of slotChunk (the last may be shorter): see slot
	nids  uint32       // IDs given out: the next new ID
	free  []uint32     // IDs not in use
	dead  []deadRule   // deleted rules whose boxes the classifier still holds
	dims  []dimKey
	index map[dimKey]int
	cls   *classify.Classifier
}

// The slots are kept in chunks, so that a change copies the chunks it
// writes and shares the others: a single-rule change to a chain of 100K
// rules copies a few KB, not the slots of every rule.
const (
	slotBits  = 8
	slotChunk = 1 << slotBits
)

// slot is what the evaluator needs of rule ID id.
func (p *chainProg) slot(id uint32) *progRule {
	return &p.slots[id>>slotBits][id&(slotChunk-1)]
}

// deadRule is a deleted rule whose boxes are still in the classifier, with
// an empty slot.
type deadRule struct {
	rule     *Rule
	prio, id uint32
}

// progRule is what the evaluator needs of the rule a lookup found.
type progRule struct {
	rule    *Rule
	skip    int32 // leading statements the classifier decided exactly
	mutates bool  // the key must be loaded again after the rule
}

// Bytes is the memory the compiled chain holds, not counting the rules.
func (p *chainProg) bytes() int {
	return p.cls.Bytes() + 16*p.order.n + 40*cap(p.order.chunks) + 16*int(p.nids) + 24*cap(p.slots) + 4*cap(p.free)
}

type compileOpts struct {
	maxBytes int
	seed     uint64
}

func (o *compileOpts) classifyOpts(dims []dimKey) classify.Options {
	w := make([]uint8, len(dims))
	for i, d := range dims {
		w[i] = dimWidth(d.sel)
	}
	return classify.Options{Widths: w, MaxBytes: o.maxBytes, Seed: o.seed}
}

// compileChain builds the matcher of a chain from scratch.
func compileChain(name string, rules []*Rule, o *compileOpts) (*chainProg, error) {
	shapes := make([]shape, len(rules))
	count := map[dimKey]int{}
	var seen []dimKey
	for i, r := range rules {
		shapes[i] = ruleShape(r)
		seen = seen[:0]
		for _, b := range shapes[i].boxes {
			for _, c := range b {
				seen = append(seen, c.dim)
			}
		}
		for _, s := range shapes[i].need {
			seen = append(seen, dimKey{s, 0})
		}
		slices.SortFunc(seen, func(a, b dimKey) int { return int(a.sel)<<8 | int(a.chunk) - (int(b.sel)<<8 | int(b.chunk)) })
		for j, d := range seen {
			if j == 0 || seen[j-1] != d {
				count[d]++
			}
		}
	}
	dims := make([]dimKey, 0, len(count))
	for d := range count {
		dims = append(dims, d)
	}
	// The most used dimensions, when there are more than the classifier
	// takes; the others are left to the evaluator.
	sort.Slice(dims, func(i, j int) bool {
		if count[dims[i]] != count[dims[j]] {
			return count[dims[i]] > count[dims[j]]
		}
		return dimLess(dims[i], dims[j])
	})
	if len(dims) > classify.MaxDims {
		dims = dims[:classify.MaxDims]
	}
	sort.Slice(dims, func(i, j int) bool { return dimLess(dims[i], dims[j]) })
	p := &chainProg{rules: rules, dims: dims, index: map[dimKey]int{}, nids: uint32(len(rules))}
	all := make([]progRule, len(rules))
	for i := 0; i < len(all); i += slotChunk {
		k := min(len(all), i+slotChunk)
		p.slots = append(p.slots, all[i:k:k])
	}
	for i, d := range dims {
		p.index[d] = i
	}
	step := uint32(min(1<<16, (1<<32-2)/(uint64(len(rules))+1)))
	crs := make([]classify.Rule, 0, len(rules))
	order := make([]orderEntry, len(rules))
	for i, r := range rules {
		e := orderEntry{handle: r.Handle, prio: step * uint32(i+1), id: uint32(i)}
		var pr progRule
		crs, pr = p.appendBoxes(crs, r, &shapes[i], e.prio, e.id)
		*p.slot(e.id) = pr
		order[i] = e
	}
	p.order = newRuleOrder(order)
	cls, err := classify.New(len(dims), crs, o.classifyOpts(dims))
	if err != nil {
		return nil, p.sizeError(name, err)
	}
	if c, order := cls.Reordered(crs); order != nil {
		// The classifier checks the dimensions in another order: the
		// keys and the boxes of later changes (update) follow it.
		cls = c
		p.dims = make([]dimKey, len(dims))
		for i, d := range order {
			p.dims[i] = dims[d]
			p.index[dims[d]] = i
		}
	}
	p.cls = cls
	if o.maxBytes > 0 && p.bytes() > o.maxBytes {
		return nil, fmt.Errorf("chain %s: %w: %d bytes for %d rules, limit %d", name, ErrMatcherTooBig, p.bytes(), len(rules), o.maxBytes)
	}
	return p, nil
}

func (p *chainProg) sizeError(name string, err error) error {
	if errors.Is(err, classify.ErrTooBig) {
		return fmt.Errorf("chain %s: %w (%v)", name, ErrMatcherTooBig, err)
	}
	return fmt.Errorf("chain %s: %w", name, err)
}

// appendBoxes turns a rule's shape into classifier boxes, and returns
// what the evaluator needs of it.
func (p *chainProg) appendBoxes(out []classify.Rule, r *Rule, sh *shape, prio, id uint32) ([]classify.Rule, progRule) {
	exact := sh.exact
	var need uint32
	for _, s := range sh.need {
		for c := 0; c < chunks(s); c++ {
			if d, ok := p.index[dimKey{s, uint8(c)}]; ok {
				need |= 1 << d
			}
		}
	}
	nd := len(p.dims)
	bounds := make([]uint32, 2*nd*len(sh.boxes))
	for i, b := range sh.boxes {
		cr := classify.Rule{Prio: prio, ID: id, Need: need, Lo: bounds[2*nd*i : 2*nd*i+nd : 2*nd*i+nd], Hi: bounds[2*nd*i+nd : 2*nd*(i+1)]}
		for d, dk := range p.dims {
			cr.Hi[d] = dimMax(dk.sel)
		}
		for _, c := range b {
			d, ok := p.index[c.dim]
			if !ok {
				exact = false
				continue
			}
			cr.Lo[d], cr.Hi[d] = c.lo, c.hi
		}
		out = append(out, cr)
	}
	pr := progRule{rule: r, mutates: sh.mutates}
	if exact {
		pr.skip = int32(sh.nmatch)
	}
	return out, pr
}

// update returns the matcher of the chain now holding rules: p itself when
// they did not change, p changed in place of a few rules when few changed
// (sharing what did not), else a new one.
func (p *chainProg) update(name string, rules []*Rule, o *compileOpts) (*chainProg, error) {
	if p == nil {
		return compileChain(name, rules, o)
	}
	n, m := len(p.rules), len(rules)
	a := 0
	for a < n && a < m && p.rules[a] == rules[a] {
		a++
	}
	if a == n && a == m {
		return p, nil
	}
	b := 0
	for b < n-a && b < m-a && p.rules[n-1-b] == rules[m-1-b] {
		b++
	}
	removed, added := p.rules[a:n-b], rules[a:m-b]
	if len(removed)+len(added) > maxIncremental {
		return compileChain(name, rules, o)
	}
	purge := len(p.dead)+len(removed) > maxDead
	lo, hi := uint32(0), classify.NoMatch
	if a > 0 {
		lo = p.order.at(a - 1).prio
	}
	if b > 0 {
		hi = p.order.at(n - b).prio
	}
	if !purge {
		// New rules go after the deleted ones still between their
		// neighbours, so that no two boxes share a priority.
		for _, d := range p.dead {
			if lo < d.prio && d.prio < hi {
				lo = d.prio
			}
		}
		for i := range removed {
			lo = max(lo, p.order.at(a+i).prio)
		}
	}
	if uint64(hi-lo) <= uint64(len(added))+1 {
		return compileChain(name, rules, o) // no room between the neighbours' priorities
	}
	shapes := make([]shape, len(added))
	for i, r := range added {
		shapes[i] = ruleShape(r)
		if len(p.dims) < classify.MaxDims && !p.hasDims(&shapes[i]) {
			return compileChain(name, rules, o)
		}
	}
	np := *p
	np.rules = rules
	np.slots = slices.Clone(p.slots)
	np.free = slices.Clone(p.free)
	np.dead = slices.Clip(p.dead)
	copied := map[uint32]bool{} // chunks of np.slots that are np's own
	set := func(id uint32, pr progRule) {
		c, j := id>>slotBits, int(id&(slotChunk-1))
		if int(c) == len(np.slots) {
			np.slots = append(np.slots, nil)
		}
		if k := max(j+1, len(np.slots[c])); !copied[c] || k > len(np.slots[c]) {
			np.slots[c] = append(make([]progRule, 0, k), np.slots[c]...)[:k]
			copied[c] = true
		}
		np.slots[c][j] = pr
	}
	for i, r := range removed {
		e := p.order.at(a + i)
		set(e.id, progRule{})
		np.dead = append(np.dead, deadRule{r, e.prio, e.id})
	}
	var del, add []classify.Rule
	if purge {
		for _, d := range np.dead {
			sh := ruleShape(d.rule)
			del, _ = np.appendBoxes(del, d.rule, &sh, d.prio, d.id)
			np.free = append(np.free, d.id)
		}
		np.dead = nil
	}
	entries := make([]orderEntry, len(added))
	step := (hi - lo) / uint32(len(added)+1)
	for i, r := range added {
		var id uint32
		if k := len(np.free); k > 0 {
			id, np.free = np.free[k-1], np.free[:k-1]
		} else {
			id = np.nids
			np.nids++
		}
		entries[i] = orderEntry{handle: r.Handle, prio: lo + step*uint32(i+1), id: id}
		var pr progRule
		add, pr = np.appendBoxes(add, r, &shapes[i], entries[i].prio, id)
		set(id, pr)
	}
	np.order = p.order.splice(a, len(removed), entries)
	if len(del)+len(add) > 0 {
		cls, err := p.cls.With(del, add)
		if err != nil {
			return nil, np.sizeError(name, err)
		}
		np.cls = cls
	}
	if o.maxBytes > 0 && np.bytes() > o.maxBytes {
		return nil, fmt.Errorf("chain %s: %w: %d bytes for %d rules, limit %d", name, ErrMatcherTooBig, np.bytes(), len(rules), o.maxBytes)
	}
	return &np, nil
}

// position is the position of the rule with handle h in rules, when rules
// are the rules p was compiled for, without reading the rules; ok is false
// when they are not.
func (p *chainProg) position(rules []*Rule, h uint64) (i int, ok bool) {
	if p == nil || len(rules) != len(p.rules) || len(rules) == 0 || &rules[0] != &p.rules[0] {
		return -1, false
	}
	return p.order.find(h), true
}

// hasDims reports whether the chain's dimensions cover everything a shape
// bounds or needs.
func (p *chainProg) hasDims(sh *shape) bool {
	for _, b := range sh.boxes {
		for _, c := range b {
			if _, ok := p.index[c.dim]; !ok {
				return false
			}
		}
	}
	for _, s := range sh.need {
		if _, ok := p.index[dimKey{s, 0}]; !ok {
			return false
		}
	}
	return true
}

// compile gives every chain the transaction changed its matcher: changed
// in place of the rules that changed when few did, else built anew. The
// other chains keep theirs.
func (tx *txn) compile() error {
	o := &compileOpts{maxBytes: tx.rs.opts.MaxChainBytes, seed: tx.rs.shared.seed}
	if o.maxBytes == 0 {
		o.maxBytes = DefaultMaxChainBytes
	}
	for _, t := range tx.rs.tables {
		tt := tx.tables[t]
		if tt == nil {
			continue
		}
		for _, c := range tt.live {
			p, err := c.prog.update(c.Name, c.Rules, o)
			if err != nil {
				return fmt.Errorf("table %s %s: %w", familyName(t.Family), t.Name, err)
			}
			c.prog = p
		}
	}
	return nil
}
