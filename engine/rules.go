package engine

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/nfgo/nfgo/hooks"
	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/ruleset"
)

// ErrNeedsConntrack refuses a ruleset with nat chains on an engine without
// connection tracking: NAT bindings live on conntrack entries.
var ErrNeedsConntrack = errors.New("engine: nat chains need connection tracking")

// hookKey is where a group of base chains runs.
type hookKey struct {
	family packet.Family
	hook   hooks.Hook
	prio   hooks.Priority
	dev    uint32
}

// ruleState is an installed ruleset and the base chains of each hook
// position, in running order.
type ruleState struct {
	rs     *ruleset.Ruleset
	chains map[hookKey][]int
	nat    map[hooks.Hook][]natChain // run by the NAT hooks
}

// SetRuleset installs rs: each of its base chains runs on its hook at its
// priority, and the previous ruleset's chains stop running. A packet is
// judged by one ruleset, the old or the new, on all of its way: a worker
// pins the ruleset when it starts a batch. A nil rs removes the ruleset.
//
// Every hook position a ruleset has used keeps its (cheap) dispatcher
// entry, so that a batch still pinned to an older ruleset never finds one
// of that ruleset's positions gone from its hook.
func (e *Engine) SetRuleset(rs *ruleset.Ruleset) error {
	e.rulesMu.Lock()
	defer e.rulesMu.Unlock()
	st := &ruleState{rs: rs, chains: map[hookKey][]int{}}
	if rs != nil {
		st.nat = natChains(rs)
		if len(st.nat) > 0 && e.nat == nil {
			return fmt.Errorf("%w", ErrNeedsConntrack)
		}
		for _, bc := range rs.BaseChains() {
			if bc.Type == ruleset.ChainNAT {
				continue
			}
			k := hookKey{family: bc.Family, hook: hooks.Hook(bc.Hook), prio: hooks.Priority(bc.Priority)}
			if bc.Hook == ruleset.HookIngress {
				k.dev = e.IfIndex(bc.Device)
				if k.dev == 0 {
					return fmt.Errorf("engine: chain %s %s: no interface %q", bc.Table, bc.Chain, bc.Device)
				}
			}
			st.chains[k] = append(st.chains[k], bc.ID)
		}
	}
	if e.ruleOps == nil {
		e.ruleOps = map[hookKey]*hooks.Ops{}
	}
	var added []*hooks.Ops
	for k := range st.chains {
		if e.ruleOps[k] != nil {
			continue
		}
		ops := &hooks.Ops{
			Name: "ruleset", Family: k.family, Hook: k.hook, Priority: k.prio, Device: k.dev,
			Batch: e.dispatcher(k),
		}
		if err := e.hooks.Register(ops); err != nil {
			for _, o := range added {
				e.hooks.Unregister(o)
			}
			return err
		}
		added = append(added, ops)
	}
	for _, o := range added {
		e.ruleOps[hookKey{o.Family, o.Hook, o.Priority, o.Device}] = o
	}
	if len(st.nat) > 0 {
		e.registerNAT()
	}
	e.rules.Store(st)
	return nil
}

// Ruleset is the installed ruleset, or nil.
func (e *Engine) Ruleset() *ruleset.Ruleset {
	if st := e.rules.Load(); st != nil {
		return st.rs
	}
	return nil
}

// dispatcher runs the base chains at k of the ruleset the worker pinned
// for its batch. Chains run in priority order; ACCEPT goes on to the next
// chain, any other verdict ends the walk (drop ends all).
func (e *Engine) dispatcher(k hookKey) hooks.BatchFunc {
	env := ruleEnv{e}
	return func(pkts []*packet.Packet, verdicts []hooks.Verdict, s *hooks.State) {
		pp := e.pipe(s.Worker)
		st := pp.rules
		if st == nil {
			return
		}
		ids := st.chains[k]
		for i, p := range pkts {
			for _, id := range ids {
				res := st.rs.Eval(id, p, env)
				if pp.traced(p) {
					pp.tracer.Event(&TraceEvent{Kind: TraceRule, Packet: p, Hook: k.hook, Table: res.Table, Chain: res.Chain,
						Handle: res.Handle, Policy: res.Policy, Verdict: res.Verdict.String()})
				}
				if v, done := e.verdict(p, &res); done {
					verdicts[i] = v
					break
				}
			}
		}
	}
}

// verdict turns a base chain's result into a hook verdict; done is false
// when the next chain should run.
func (e *Engine) verdict(p *packet.Packet, res *ruleset.Result) (hooks.Verdict, bool) {
	switch res.Verdict {
	case ruleset.NFAccept:
		// NAT requests come only from nat chains, which the NAT hook runs.
		return hooks.Accept, false
	case ruleset.NFQueue:
		return hooks.Queue(res.QueueNum, res.QueueBypass), true
	case ruleset.NFStolen:
		return hooks.Stolen, true
	}
	if res.Reject != ruleset.RejectNone {
		p.Reject = packet.RejectKind(res.Reject)
		p.RejectCode = res.RejectCode
	}
	return hooks.Drop, true
}

// ruleEnv is what the evaluator asks of the engine.
type ruleEnv struct{ e *Engine }

func (r ruleEnv) IfName(index uint32) string                { return r.e.IfName(index) }
func (r ruleEnv) AddrType(addr netip.Addr) ruleset.AddrType { return r.e.AddrType(addr) }

// AddrType says whether a is one of the engine's addresses or the
// broadcast address of one of its IPv4 subnets, for the rules' fib
// expression.
func (e *Engine) AddrType(a netip.Addr) ruleset.AddrType {
	if r, ok := e.fib.Load().lookup(a); ok {
		switch r.Type {
		case RouteLocal:
			return ruleset.AddrLocal
		case RouteBroadcast:
			return ruleset.AddrBroadcast
		}
	}
	return ruleset.AddrOther
}
