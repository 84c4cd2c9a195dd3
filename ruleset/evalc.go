package ruleset

import (
	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/ruleset/internal/classify"
)

// Eval runs base chain number chain (an index into BaseChains) over p
// with netfilter's semantics, exactly as EvalReference does: the first
// verdict wins; jump and goto with a return stack; the policy when the
// base chain runs out. Statements that change the packet's metadata (meta
// mark set, ct mark set, notrack) take effect on p at once.
//
// Rather than walking every rule, it asks the chain's compiled matcher for
// the first rule at or after the current one that can match, runs that
// rule's statements (the matches the matcher did not decide, then the
// rest), and asks again from the next rule.
func (rs *Ruleset) Eval(chain int, p *packet.Packet, env Env) Result {
	c := ctxPool.Get().(*evalCtx)
	res := rs.evalCompiled(c, chain, p, env)
	c.reset()
	ctxPool.Put(c)
	return res
}

func (rs *Ruleset) evalCompiled(c *evalCtx, chain int, p *packet.Packet, env Env) Result {
	b := rs.base[chain]
	c.start(rs, b.table, p, env)
	res := c.res
	type frame struct {
		ch   *Chain
		from uint32
	}
	var stack [maxJumpDepth]frame
	depth := 0
	ch, from := b.chain, uint32(0)
	for {
		prog := ch.prog
		if c.keyFor != prog {
			c.loadKey(prog)
		}
		id, prio := prog.cls.Lookup(&c.key, from)
		if prio == classify.NoMatch {
			if depth == 0 {
				break
			}
			depth--
			ch, from = stack[depth].ch, stack[depth].from
			continue
		}
		from = prio + 1
		pr := prog.slot(id)
		r := pr.rule
		if r == nil {
			continue // a deleted rule still in the classifier (chainProg.dead)
		}
		c.v, c.rule, c.chain = vNone, r, ch.Name
		for _, s := range r.Stmts[pr.skip:] {
			if !s.eval(c) {
				break
			}
		}
		if pr.mutates {
			c.selOK, c.selHas, c.keyFor = 0, 0, nil
		}
		switch st, next := c.verdict(b, ch, r, res, depth); st {
		case stepDone:
			return *res
		case stepJump:
			stack[depth] = frame{ch, from}
			depth++
			ch, from = next, 0
		case stepGoto:
			ch, from = next, 0
		case stepReturn:
			if depth == 0 {
				from = classify.NoMatch
				continue
			}
			depth--
			ch, from = stack[depth].ch, stack[depth].from
		}
	}
	return b.policy()
}

// loadKey builds the classifier key of a chain from the packet.
func (c *evalCtx) loadKey(prog *chainProg) {
	k := &c.key
	k.Present = 0
	for d, dk := range prog.dims {
		v, ok := c.selChunk(dk)
		k.V[d&(classify.MaxDims-1)] = v
		if ok {
			k.Present |= 1 << d
		}
	}
	c.keyFor = prog
}

// selChunk is one chunk of a selector's value, loaded once per packet
// (until a statement changes the packet).
func (c *evalCtx) selChunk(dk dimKey) (uint32, bool) {
	bit := uint64(1) << dk.sel
	size := selInfos[dk.sel].field.Size
	if c.selOK&bit == 0 {
		c.selOK |= bit
		s := Selector{Key: dk.sel}
		if s.load(c.p, c.env, c.selVal[dk.sel][:size]) {
			c.selHas |= bit
		}
	}
	if c.selHas&bit == 0 {
		return 0, false
	}
	return chunkValue(c.selVal[dk.sel][:size], size, int(dk.chunk)), true
}
