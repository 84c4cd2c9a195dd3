package engine

import (
	"net/netip"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/hooks"
	"github.com/nfgo/nfgo/packet"
)

// A pipe carries batches along the packet's way: hooks, routing, local
// delivery and transmit. Each worker owns one; the engine's local pipe
// (Inject, queue re-injection) is shared under a lock. Stage methods take
// sub-batches of at most hooks.MaxBatch packets.
type pipe struct {
	e   *Engine
	id  int
	run hooks.Runner
	out [hooks.MaxBatch]hooks.Outcome
	fib *fib // loaded once per batch

	// The last input route looked up in this batch: packets of one flow
	// tend to come together, and then one FIB lookup serves them all.
	lastDst   netip.Addr
	lastRoute *Route
	// Likewise the last neighbor resolved for transmit.
	lastNeigh neighKey
	lastMAC   packet.MAC

	owned   []*packet.Packet  // the batch being processed, to replace packets taken from it
	gen     []*packet.Packet  // packets we originated (ICMP), waiting for OUTPUT
	genUsed []*packet.Packet  // handed out during this batch
	genFree []*packet.Packet  // ready for reuse
	tx      []txBuf           // per interface index
	ct      *conntrack.Worker // nil without connection tracking
	rules   *ruleState        // the ruleset pinned for this batch
	tracer  *Tracer           // the tracer for this batch, or nil
	ctDrop  [hooks.MaxBatch]bool
	natDrop [hooks.MaxBatch]bool
	deliv   [hooks.MaxBatch]*packet.Packet
	icmp    tokenBucket
}

type txBuf struct {
	n    int
	pkts [hooks.MaxBatch]*packet.Packet
}

// maxGenerated bounds the packets one batch may originate.
const maxGenerated = 2 * hooks.MaxBatch

func newPipe(e *Engine, id int) *pipe {
	pp := &pipe{e: e, id: id}
	pp.run.Worker = id
	pp.icmp.init(e.opts.ICMPRate, e.opts.ICMPBurst)
	if e.ct != nil {
		pp.ct = e.ct.NewWorker()
	}
	e.cfgMu.Lock()
	old := *e.pipes.Load()
	ps := make([]*pipe, max(len(old), id+1))
	copy(ps, old)
	ps[id] = pp
	e.pipes.Store(&ps)
	e.cfgMu.Unlock()
	return pp
}

// pipe is the pipe of worker index id.
func (e *Engine) pipe(id int) *pipe { return (*e.pipes.Load())[id] }

// begin starts a batch: it pins the FIB for the batch and remembers which
// packets are the batch's.
func (pp *pipe) begin(owned []*packet.Packet) {
	pp.fib = pp.e.fib.Load()
	pp.rules = pp.e.rules.Load()
	pp.tracer = pp.e.tracer.Load()
	pp.lastDst, pp.lastRoute = netip.Addr{}, nil
	pp.lastNeigh = neighKey{}
	pp.owned = owned
	if len(pp.tx) < len(pp.e.ifs) {
		pp.tx = make([]txBuf, len(pp.e.ifs))
	}
}

// end sends what the batch originated through OUTPUT, flushes every
// transmit buffer and recycles generated packets.
func (pp *pipe) end() {
	// Packets originated while handling originated packets (an echo reply
	// to ourselves) go round again, a bounded number of times.
	for round := 0; len(pp.gen) > 0 && round < 4; round++ {
		var chunk [hooks.MaxBatch]*packet.Packet
		for len(pp.gen) > 0 {
			n := copy(chunk[:], pp.gen)
			pp.gen = append(pp.gen[:0], pp.gen[n:]...)
			pp.output(chunk[:n])
		}
	}
	pp.gen = pp.gen[:0]
	pp.flush()
	for i, p := range pp.genUsed {
		pp.genFree = append(pp.genFree, p)
		pp.genUsed[i] = nil
	}
	pp.genUsed = pp.genUsed[:0]
	pp.owned = nil
	if pp.ct != nil {
		pp.ct.Quiesce()
	}
}

// newPacket returns a clean packet for something the engine originates, or
// nil when this batch has originated its share.
func (pp *pipe) newPacket() *packet.Packet {
	if len(pp.genUsed) >= maxGenerated {
		return nil
	}
	var p *packet.Packet
	if n := len(pp.genFree); n > 0 {
		p = pp.genFree[n-1]
		pp.genFree = pp.genFree[:n-1]
		p.Reset()
	} else {
		p = packet.New()
	}
	pp.genUsed = append(pp.genUsed, p)
	return p
}

// take hands p over to someone else (STOLEN, QUEUE): the batch slot that
// held it gets a fresh packet, so the worker never reuses p's buffer.
func (pp *pipe) take(p *packet.Packet) {
	for i, q := range pp.owned {
		if q == p {
			pp.owned[i] = packet.New()
			return
		}
	}
	for i, q := range pp.genUsed {
		if q == p {
			pp.genUsed[i] = packet.New()
			return
		}
	}
}

func (pp *pipe) drop(r DropReason) { pp.e.ctr.drops[r].Add(1) }

// walk runs the hook list of (fam, h) over pkts and returns those that go
// on, compacted in place.
func (pp *pipe) walk(h hooks.Hook, l *hooks.List, pkts []*packet.Packet) []*packet.Packet {
	pp.traceHook(h, pkts)
	if l.Len() == 0 {
		for _, p := range pkts {
			p.Hook = uint8(h)
		}
		return pkts
	}
	out := pp.out[:len(pkts)]
	pp.run.Run(l, h, pkts, out)
	kept := 0
	for i, p := range pkts {
		if out[i].Verdict == hooks.Accept || pp.settle(l, h, p, out[i]) {
			pkts[kept] = p
			kept++
		}
	}
	return pkts[:kept]
}

// settle carries out a verdict other than Accept. It reports whether the
// packet goes on after all (a QUEUE with bypass and no handler).
func (pp *pipe) settle(l *hooks.List, h hooks.Hook, p *packet.Packet, o hooks.Outcome) bool {
	for {
		switch {
		case o.Verdict.Kind() == hooks.Stolen:
			if pp.traced(p) {
				pp.tracer.Event(&TraceEvent{Kind: TraceStolen, Packet: p, Hook: h})
			}
			pp.e.ctr.stolen.Add(1)
			pp.take(p)
			return false
		case o.Verdict.IsQueue():
			num := o.Verdict.QueueNum()
			if hm := pp.e.queues.Load(); hm != nil {
				if handler := (*hm)[num]; handler != nil {
					if pp.traced(p) {
						pp.tracer.Event(&TraceEvent{Kind: TraceQueue, Packet: p, Hook: h, QueueNum: num})
					}
					pp.e.ctr.queued.Add(1)
					pp.take(p)
					if pp.ct != nil {
						pp.ct.Hold(p) // its new connection waits with it
					}
					handler(&QueuedPacket{Packet: p, Num: num, Hook: h, Family: p.Family, list: l, entry: int(o.Entry), e: pp.e})
					return false
				}
			}
			if !o.Verdict.Bypass() {
				pp.discard(p, DropQueueNoHandler)
				return false
			}
			// Bypass: go on with the next entry, as nf_queue returning 1.
			o = hooks.RunFrom(l, h, p, int(o.Entry)+1, pp.id)
			if o.Verdict == hooks.Accept {
				return true
			}
		case o.RepeatCut:
			pp.discard(p, DropRepeatLoop)
			return false
		default:
			if p.Reject != packet.RejectNone {
				pp.reject(p)
			}
			pp.discard(p, DropHook)
			return false
		}
	}
}

// ingress runs the ingress hook of the batch's interface.
func (pp *pipe) ingress(l *hooks.List, pkts []*packet.Packet) []*packet.Packet {
	return pp.walk(hooks.Ingress, l, pkts)
}

// prerouting takes packets of one family that arrived on an interface.
func (pp *pipe) prerouting(fam packet.Family, pkts []*packet.Packet) {
	pkts = pp.walk(hooks.Prerouting, pp.e.hooks.List(fam, hooks.Prerouting), pkts)
	pp.afterPrerouting(fam, pkts)
}

// afterPrerouting is the input routing decision: local, forward, or an
// error.
func (pp *pipe) afterPrerouting(fam packet.Family, pkts []*packet.Packet) {
	var inB, fwdB [hooks.MaxBatch]*packet.Packet
	in, fwd := inB[:0], fwdB[:0]
	for _, p := range pkts {
		switch pp.routeInput(p) {
		case toLocal:
			in = append(in, p)
		case toForward:
			fwd = append(fwd, p)
		}
	}
	if len(in) > 0 {
		pp.input(fam, in)
	}
	if len(fwd) > 0 {
		pp.forward(fam, fwd)
	}
}

func (pp *pipe) input(fam packet.Family, pkts []*packet.Packet) {
	pkts = pp.walk(hooks.Input, pp.e.hooks.List(fam, hooks.Input), pkts)
	pp.deliver(pkts)
}

// deliver hands packets that passed INPUT to the host: echo requests are
// answered here, the rest go to Options.Deliver.
func (pp *pipe) deliver(pkts []*packet.Packet) {
	kept := 0
	for _, p := range pkts {
		switch {
		case isNDP(p):
			pp.traceEnd(p, TraceAnswered, hooks.Input)
			pp.ndp(p)
		case !pp.e.opts.NoEcho && isEchoRequest(p) && p.Flags&packet.FlagBroadcast == 0:
			// Echo requests to a broadcast address go on to the host,
			// which ignores them (icmp_echo_ignore_broadcasts).
			pp.traceEnd(p, TraceAnswered, hooks.Input)
			pp.echoReply(p)
		default:
			pkts[kept] = p
			kept++
		}
	}
	pkts = pkts[:kept]
	if len(pkts) == 0 {
		return
	}
	for _, p := range pkts {
		if pp.traced(p) {
			pp.tracer.Event(&TraceEvent{Kind: TraceDeliver, Packet: p, Hook: hooks.Input})
		}
	}
	if h := pp.e.host; h != nil {
		pp.e.ctr.delivered.Add(uint64(len(pkts)))
		for _, p := range pkts {
			p.OutIf = h.index
			pp.transmit(p)
		}
		return
	}
	if pp.e.opts.Deliver == nil {
		for _, p := range pkts {
			pp.discard(p, DropNoLocal)
		}
		return
	}
	pp.e.ctr.delivered.Add(uint64(len(pkts)))
	// Hand over a copy of the slice: the callback may keep it (it escapes),
	// and the caller's is on the stack.
	n := copy(pp.deliv[:], pkts)
	pp.e.opts.Deliver(pp.deliv[:n])
	clear(pp.deliv[:n])
}

func (pp *pipe) forward(fam packet.Family, pkts []*packet.Packet) {
	pkts = pp.walk(hooks.Forward, pp.e.hooks.List(fam, hooks.Forward), pkts)
	pp.e.ctr.forwarded.Add(uint64(len(pkts)))
	pp.postrouting(fam, pkts)
}

// output takes packets the host originates, of either family.
func (pp *pipe) output(pkts []*packet.Packet) {
	pp.traceSelect(pkts)
	var v4B, v6B [hooks.MaxBatch]*packet.Packet
	v4, v6 := v4B[:0], v6B[:0]
	for _, p := range pkts {
		if p.Family == packet.FamilyIPv4 {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	pp.e.ctr.generated.Add(uint64(len(pkts)))
	if len(v4) > 0 {
		pp.outputFamily(packet.FamilyIPv4, v4)
	}
	if len(v6) > 0 {
		pp.outputFamily(packet.FamilyIPv6, v6)
	}
}

func (pp *pipe) outputFamily(fam packet.Family, pkts []*packet.Packet) {
	// Route first, so OUTPUT's rules see the out interface, as the kernel
	// routes a local packet (ip_route_output) before ip_local_out.
	var dsts [hooks.MaxBatch]netip.Addr
	kept := 0
	for _, p := range pkts {
		if pp.routeOutput(p) {
			dsts[kept] = p.Dst()
			pkts[kept] = p
			kept++
		}
	}
	pkts = pp.walk(hooks.Output, pp.e.hooks.List(fam, hooks.Output), pkts[:kept])
	pp.afterOutput(fam, pkts, dsts[:])
}

// afterOutput re-routes packets whose destination OUTPUT changed (DNAT), as
// ip_route_me_harder, and passes them on to POSTROUTING. dsts, if not nil,
// holds each packet's destination when it was routed.
func (pp *pipe) afterOutput(fam packet.Family, pkts []*packet.Packet, dsts []netip.Addr) {
	kept := 0
	for i, p := range pkts {
		if dsts == nil || p.Dst() != dsts[i] {
			if !pp.routeOutput(p) {
				continue
			}
		}
		pkts[kept] = p
		kept++
	}
	pp.postrouting(fam, pkts[:kept])
}

func (pp *pipe) postrouting(fam packet.Family, pkts []*packet.Packet) {
	pkts = pp.walk(hooks.Postrouting, pp.e.hooks.List(fam, hooks.Postrouting), pkts)
	pp.afterPostrouting(fam, pkts)
}

// afterPostrouting transmits, or loops packets for our own addresses back
// into PREROUTING through lo.
func (pp *pipe) afterPostrouting(fam packet.Family, pkts []*packet.Packet) {
	var loB [hooks.MaxBatch]*packet.Packet
	lo := loB[:0]
	for _, p := range pkts {
		if p.OutIf == LoopbackIndex {
			p.InIf, p.OutIf = LoopbackIndex, 0
			p.Flags &^= packet.FlagLocalOut
			lo = append(lo, p)
			continue
		}
		pp.transmit(p)
	}
	if len(lo) > 0 {
		pp.prerouting(fam, lo)
	}
}

// after continues a packet's way after hook h accepted it (re-injection).
func (pp *pipe) after(h hooks.Hook, fam packet.Family, pkts []*packet.Packet) {
	switch h {
	case hooks.Prerouting:
		pp.afterPrerouting(fam, pkts)
	case hooks.Input:
		pp.deliver(pkts)
	case hooks.Forward:
		pp.e.ctr.forwarded.Add(uint64(len(pkts)))
		pp.postrouting(fam, pkts)
	case hooks.Output:
		pp.afterOutput(fam, pkts, nil)
	case hooks.Postrouting:
		pp.afterPostrouting(fam, pkts)
	case hooks.Ingress:
		if fam == packet.FamilyIPv4 || fam == packet.FamilyIPv6 {
			pp.prerouting(fam, pkts)
		} else {
			pp.e.ctr.drops[DropNotIP].Add(uint64(len(pkts)))
		}
	}
}
