package engine

import (
	"net/netip"
	"slices"

	"github.com/nfgo/nfgo/hooks"
	"github.com/nfgo/nfgo/nat"
	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/ruleset"
)

// NAT runs where the kernel's nf_nat hooks run: destination NAT at dstnat
// (-100) on PREROUTING and OUTPUT, source NAT at srcnat (100) on
// POSTROUTING and INPUT, after conntrack's lookup and before its confirm.
// A ruleset's nat chains are not hook entries of their own: as in the
// kernel, the NAT hook runs them, in their priority order, for the first
// packet of a connection only; every later packet is rewritten from the
// binding on the conntrack entry.

// natChain is a nat-type base chain of the installed ruleset.
type natChain struct {
	id     int
	family packet.Family // FamilyIPv4, FamilyIPv6 or FamilyInet
	prio   int
}

// NAT is the engine's NAT, or nil without connection tracking.
func (e *Engine) NAT() *nat.NAT { return e.nat }

// registerNAT puts the NAT hooks in place, once: they stay, so that
// connections bound by an earlier ruleset keep being translated.
func (e *Engine) registerNAT() {
	if e.natOn {
		return
	}
	e.natOn = true
	for _, h := range []hooks.Hook{hooks.Prerouting, hooks.Output} {
		e.mustRegister(&hooks.Ops{Name: "nat", Family: packet.FamilyInet, Hook: h, Priority: hooks.PriorityNATDst, Batch: e.natHook(h, nat.ManipDst)})
	}
	for _, h := range []hooks.Hook{hooks.Postrouting, hooks.Input} {
		e.mustRegister(&hooks.Ops{Name: "nat", Family: packet.FamilyInet, Hook: h, Priority: hooks.PriorityNATSrc, Batch: e.natHook(h, nat.ManipSrc)})
	}
}

func (e *Engine) natHook(h hooks.Hook, m nat.Manip) hooks.BatchFunc {
	return func(pkts []*packet.Packet, verdicts []hooks.Verdict, s *hooks.State) {
		pp := e.pipe(s.Worker)
		drop := pp.natDrop[:len(pkts)]
		clear(drop)
		// First packets are bound by the nat chains; the others are
		// rewritten from their connection's bindings.
		e.nat.DoBatch(pkts, m, drop, func(i int) { verdicts[i] = pp.natSetup(pkts[i], h, m) })
		for i, d := range drop {
			if d {
				verdicts[i] = hooks.Drop
			}
		}
	}
}

// natSetup binds a new connection: the hook's nat chains decide, and a
// connection no rule translates gets the null binding.
func (pp *pipe) natSetup(p *packet.Packet, h hooks.Hook, m nat.Manip) hooks.Verdict {
	env := ruleEnv{pp.e}
	if st := pp.rules; st != nil {
		for _, c := range st.nat[h] {
			if c.family != packet.FamilyInet && c.family != p.Family {
				continue
			}
			res := st.rs.Eval(c.id, p, env)
			if pp.traced(p) {
				pp.tracer.Event(&TraceEvent{Kind: TraceRule, Packet: p, Hook: h, Table: res.Table, Chain: res.Chain,
					Handle: res.Handle, Policy: res.Policy, Verdict: res.Verdict.String()})
			}
			if res.Verdict != ruleset.NFAccept {
				v, _ := pp.e.verdict(p, &res)
				return v
			}
			if res.NAT.Kind == ruleset.NATNone {
				continue
			}
			req := pp.natRequest(p, h, &res.NAT)
			if !pp.e.nat.Setup(pp.ct, p, &req) {
				return hooks.Drop
			}
			return hooks.Accept
		}
	}
	if !pp.e.nat.Null(pp.ct, p, m) {
		return hooks.Drop
	}
	return hooks.Accept
}

// natRequest turns a rule's request into the NAT package's, with the
// address masquerade and redirect translate to.
func (pp *pipe) natRequest(p *packet.Packet, h hooks.Hook, r *ruleset.NATRequest) nat.Request {
	req := nat.Request{
		Kind: nat.Kind(r.Kind), AddrMin: r.AddrMin, AddrMax: r.AddrMax,
		PortMin: r.PortMin, PortMax: r.PortMax, Flags: nat.Flags(r.Flags),
	}
	v4 := p.Family == packet.FamilyIPv4
	switch req.Kind {
	case nat.KindMasquerade:
		// The source the out interface would use for this next hop.
		if rt, ok := pp.fib.lookup(p.NextHop); ok && rt.Src.IsValid() && rt.Src.Is4() == v4 && rt.OutIf == p.OutIf {
			req.Local = rt.Src
		} else if a, ok := pp.e.addrOf(p.OutIf, v4); ok {
			req.Local = a
		}
	case nat.KindRedirect:
		if h == hooks.Output {
			req.Local = netip.IPv6Loopback()
			if v4 {
				req.Local = netip.AddrFrom4([4]byte{127, 0, 0, 1})
			}
		} else if a, ok := pp.e.addrOf(p.InIf, v4); ok {
			req.Local = a
		}
	}
	return req
}

// natChains sorts a ruleset's nat chains by hook and priority.
func natChains(rs *ruleset.Ruleset) map[hooks.Hook][]natChain {
	m := map[hooks.Hook][]natChain{}
	for _, bc := range rs.BaseChains() {
		if bc.Type == ruleset.ChainNAT {
			h := hooks.Hook(bc.Hook)
			m[h] = append(m[h], natChain{id: bc.ID, family: bc.Family, prio: bc.Priority})
		}
	}
	for _, cs := range m {
		slices.SortStableFunc(cs, func(a, b natChain) int { return a.prio - b.prio })
	}
	return m
}
