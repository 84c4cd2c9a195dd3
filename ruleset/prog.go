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

// chainProg is a chain compiled for the classifier. It is immutable; a
// transaction that changes the chain makes a new one.
type chainProg struct {
	rules []*Rule  // the chain's rules, in order, as compiled
	prio  []uint32 // classifier priority of rules[i]
	id    []uint32 // classifier ID of rules[i]
	slots []progRule
	free  []uint32 // IDs not in use
	dims  []dimKey
	index map[dimKey]int
	cls   *classify.Classifier
}

// progRule is what the evaluator needs of the rule a lookup found.
type progRule struct {
	rule    *Rule
	skip    int32 // leading statements the classifier decided exactly
	mutates bool  // the key must be loaded again after the rule
}

// Bytes is the memory the compiled chain holds, not counting the rules.
func (p *chainProg) bytes() int {
	return p.cls.Bytes() + 4*cap(p.prio) + 4*cap(p.id) + 16*cap(p.slots) + 4*cap(p.free)
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
	p := &chainProg{rules: rules, dims: dims, index: map[dimKey]int{},
		prio: make([]uint32, len(rules)), id: make([]uint32, len(rules)), slots: make([]progRule, len(rules))}
	for i, d := range dims {
		p.index[d] = i
	}
	step := uint32(min(1<<16, (1<<32-2)/(uint64(len(rules))+1)))
	crs := make([]classify.Rule, 0, len(rules))
	for i, r := range rules {
		p.prio[i], p.id[i] = step*uint32(i+1), uint32(i)
		crs = p.appendBoxes(crs, r, &shapes[i], p.prio[i], p.id[i])
	}
	cls, err := classify.New(len(dims), crs, o.classifyOpts(dims))
	if err != nil {
		return nil, p.sizeError(name, err)
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

// appendBoxes turns a rule's shape into classifier boxes, and records in
// slot id what the evaluator needs.
func (p *chainProg) appendBoxes(out []classify.Rule, r *Rule, sh *shape, prio, id uint32) []classify.Rule {
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
	if int(id) >= len(p.slots) {
		p.slots = append(p.slots, make([]progRule, int(id)+1-len(p.slots))...)
	}
	p.slots[id] = pr
	return out
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
	lo, hi := uint32(0), classify.NoMatch
	if a > 0 {
		lo = p.prio[a-1]
	}
	if b > 0 {
		hi = p.prio[n-b]
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
	var del, add []classify.Rule
	for i, r := range removed {
		sh := ruleShape(r)
		id := p.id[a+i]
		del = np.appendBoxes(del, r, &sh, p.prio[a+i], id)
		np.slots[id] = progRule{}
		np.free = append(np.free, id)
	}
	prios, ids := make([]uint32, len(added)), make([]uint32, len(added))
	step := (hi - lo) / uint32(len(added)+1)
	for i, r := range added {
		var id uint32
		if k := len(np.free); k > 0 {
			id, np.free = np.free[k-1], np.free[:k-1]
		} else {
			id = uint32(len(np.slots))
		}
		prios[i], ids[i] = lo+step*uint32(i+1), id
		add = np.appendBoxes(add, r, &shapes[i], prios[i], id)
	}
	np.prio = slices.Concat(p.prio[:a], prios, p.prio[n-b:])
	np.id = slices.Concat(p.id[:a], ids, p.id[n-b:])
	cls, err := p.cls.With(del, add)
	if err != nil {
		return nil, np.sizeError(name, err)
	}
	np.cls = cls
	if o.maxBytes > 0 && np.bytes() > o.maxBytes {
		return nil, fmt.Errorf("chain %s: %w: %d bytes for %d rules, limit %d", name, ErrMatcherTooBig, np.bytes(), len(rules), o.maxBytes)
	}
	return &np, nil
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

// compileChains gives every chain of rs its matcher, reusing those of
// chains whose rules did not change.
func (rs *Ruleset) compileChains() error {
	o := &compileOpts{maxBytes: rs.opts.MaxChainBytes, seed: rs.shared.seed}
	if o.maxBytes == 0 {
		o.maxBytes = DefaultMaxChainBytes
	}
	for _, t := range rs.tables {
		for _, c := range t.Chains {
			p, err := c.prog.update(c.Name, c.Rules, o)
			if err != nil {
				return fmt.Errorf("table %s %s: %w", familyName(t.Family), t.Name, err)
			}
			c.prog = p
		}
	}
	return nil
}
