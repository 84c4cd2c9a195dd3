package engine

import (
	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/hooks"
	"github.com/nfgo/nfgo/packet"
)

// Connection tracking sits on the hooks where the kernel puts it:
// reassembly at -400 and lookup/create at -200 on PREROUTING and OUTPUT,
// confirmation last (MaxInt32) on POSTROUTING and INPUT, so a first packet
// that is dropped on its way leaves no entry. Each worker has its own
// conntrack.Worker, found through hooks.State.Worker.

func (e *Engine) registerConntrack() {
	for _, h := range []hooks.Hook{hooks.Prerouting, hooks.Output} {
		e.mustRegister(&hooks.Ops{Name: "defrag", Family: packet.FamilyInet, Hook: h, Priority: hooks.PriorityConntrackDefrag, Func: e.ctDefrag})
		e.mustRegister(&hooks.Ops{Name: "conntrack", Family: packet.FamilyInet, Hook: h, Priority: hooks.PriorityConntrack, Batch: e.ctTrack})
	}
	for _, h := range []hooks.Hook{hooks.Input, hooks.Postrouting} {
		e.mustRegister(&hooks.Ops{Name: "confirm", Family: packet.FamilyInet, Hook: h, Priority: hooks.PriorityConntrackConfirm, Func: e.ctConfirm})
	}
}

func (e *Engine) mustRegister(ops *hooks.Ops) {
	if err := e.hooks.Register(ops); err != nil {
		panic(err) // the registry is new and the ops are well formed
	}
}

// Conntrack is the engine's connection table, or nil.
func (e *Engine) Conntrack() *conntrack.Table { return e.ct }

func (e *Engine) ctDefrag(p *packet.Packet, s *hooks.State) hooks.Verdict {
	if !p.Fragment {
		return hooks.Accept
	}
	switch e.pipe(s.Worker).ct.Defrag(p) {
	case conntrack.DefragHeld:
		p.Flags |= packet.FlagConsumed
		e.pipe(s.Worker).traceEnd(p, TraceHeld, s.Hook)
		return hooks.Drop
	case conntrack.DefragDrop:
		return hooks.Drop
	case conntrack.DefragDone:
		p.Flags |= packet.FlagReassembled
	}
	return hooks.Accept
}

func (e *Engine) ctTrack(pkts []*packet.Packet, verdicts []hooks.Verdict, s *hooks.State) {
	pp := e.pipe(s.Worker)
	drop := pp.ctDrop[:len(pkts)]
	clear(drop)
	pp.ct.Track(pkts, drop)
	for i, d := range drop {
		if d {
			verdicts[i] = hooks.Drop
		}
	}
}

func (e *Engine) ctConfirm(p *packet.Packet, s *hooks.State) hooks.Verdict {
	if p.CT == 0 || e.pipe(s.Worker).ct.Confirm(p) {
		return hooks.Accept
	}
	return hooks.Drop
}

// discard counts a dropped packet and lets go of its unconfirmed
// connection, if any.
func (pp *pipe) discard(p *packet.Packet, r DropReason) {
	if p.Flags&packet.FlagConsumed == 0 {
		pp.e.ctr.drops[r].Add(1)
		ifx := p.InIf
		if ifx == 0 {
			ifx = p.OutIf
		}
		if ifc := pp.e.iface(ifx); ifc != nil {
			ifc.drops[r].Add(1)
		}
		if r == DropHook || r == DropRepeatLoop || r == DropQueueNoHandler {
			pp.e.ctr.hookDrops[p.Hook][r].Add(1)
		}
		if pp.traced(p) {
			pp.tracer.Event(&TraceEvent{Kind: TraceDrop, Packet: p, Hook: hooks.Hook(p.Hook), Reason: r})
		}
	}
	if p.CT != 0 && pp.ct != nil {
		pp.ct.Abandon(p)
	}
}

// The rules' view of connections (ruleset.ConnInfo). slot is never 0.

func (r ruleEnv) CTMark(slot uint32) uint32   { return r.e.ct.Mark(slot) }
func (r ruleEnv) SetCTMark(slot, mark uint32) { r.e.ct.SetMark(slot, mark) }
func (r ruleEnv) CTStatus(slot uint32) uint32 { return uint32(r.e.ct.Status(slot)) }
func (r ruleEnv) CTID(slot uint32) uint64     { return r.e.ct.ID(slot) }
