package engine

import (
	"github.com/nfgo/nfgo/hooks"
	"github.com/nfgo/nfgo/packet"
)

// Tracing follows selected packets on their way, as `nft monitor trace`
// does for packets with nftrace set: the hooks they walk, the base chain
// rules that decide them, and where they end. It costs one atomic load per
// batch when off.

// TraceKind says what a TraceEvent reports.
type TraceKind uint8

const (
	TraceHook      TraceKind = iota // the packet enters a hook
	TraceRule                       // a base chain decided (Table, Chain, Handle, Verdict, Policy)
	TraceTransmit                   // it leaves by interface OutIf
	TraceDeliver                    // it is delivered to the host
	TraceDrop                       // it is dropped (Reason)
	TraceStolen                     // a hook kept it
	TraceQueue                      // it went to queue QueueNum
	TraceAnswered                   // the engine answered it and kept it (echo request, neighbor discovery)
	TraceHeld                       // a fragment held for reassembly (the datagram goes on as a new packet)
	TraceNeighWait                  // it waits for its next hop's resolution (sent when it resolves)
)

func (k TraceKind) String() string {
	return [...]string{"hook", "rule", "transmit", "deliver", "drop", "stolen", "queue", "answered", "held", "neigh-wait"}[k]
}

// TraceEvent is one step of a traced packet. Packet is valid only during
// the call.
type TraceEvent struct {
	Kind   TraceKind
	Packet *packet.Packet
	Hook   hooks.Hook
	// TraceRule: the chain and the rule (Handle 0 and Policy set when the
	// chain's policy decided) and the verdict ("accept", "drop", ...).
	Table, Chain string
	Handle       uint64
	Policy       bool
	Verdict      string
	// TraceDrop.
	Reason DropReason
	// TraceQueue.
	QueueNum uint16
}

// Tracer selects packets to trace and receives their events. Select is
// called for every packet as it enters the engine (from a port, injected,
// or from the host port); Event on the worker's goroutine, so it must not
// block.
type Tracer struct {
	Select func(p *packet.Packet) bool
	Event  func(ev *TraceEvent)
}

// SetTracer starts tracing with t; nil stops it.
func (e *Engine) SetTracer(t *Tracer) { e.tracer.Store(t) }

// traceSelect marks the packets of a batch that the tracer selects.
func (pp *pipe) traceSelect(pkts []*packet.Packet) {
	if pp.tracer == nil {
		return
	}
	for _, p := range pkts {
		if pp.tracer.Select(p) {
			p.Flags |= packet.FlagTrace
		}
	}
}

// traced reports whether p's way is being reported. Callers build the
// event only then, so that tracing costs no allocation when off.
func (pp *pipe) traced(p *packet.Packet) bool {
	return pp.tracer != nil && p.Flags&packet.FlagTrace != 0
}

// traceHook reports the traced packets of a batch entering hook h.
func (pp *pipe) traceHook(h hooks.Hook, pkts []*packet.Packet) {
	if pp.tracer == nil {
		return
	}
	for _, p := range pkts {
		if p.Flags&packet.FlagTrace != 0 {
			pp.tracer.Event(&TraceEvent{Kind: TraceHook, Packet: p, Hook: h})
		}
	}
}

// traceEnd reports where a traced packet's way ends, for the ends that
// carry nothing but the kind.
func (pp *pipe) traceEnd(p *packet.Packet, k TraceKind, h hooks.Hook) {
	if pp.traced(p) {
		pp.tracer.Event(&TraceEvent{Kind: k, Packet: p, Hook: h})
	}
}
