package engine

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/nfgo/nfgo/hooks"
	"github.com/nfgo/nfgo/packet"
)

// ErrReinjected is returned by a second Reinject of the same packet.
var ErrReinjected = errors.New("engine: packet already re-injected")

// QueueHandler receives packets that a hook gave a QUEUE(n) verdict, as a
// userspace NFQUEUE listener does. It is called on the worker's goroutine
// and must not block; it owns the packet until it re-injects it.
type QueueHandler func(q *QueuedPacket)

// QueuedPacket is a packet waiting in a queue for its verdict.
type QueuedPacket struct {
	Packet *packet.Packet // the handler's until Reinject
	Num    uint16         // the queue number
	Hook   hooks.Hook
	Family packet.Family

	list    *hooks.List // the hook's entries when the packet was queued
	entry   int         // the entry that queued it
	e       *Engine
	verdict hooks.Verdict
	done    atomic.Bool
}

// SetQueueHandler makes h the listener of queue num; nil removes it.
func (e *Engine) SetQueueHandler(num uint16, h QueueHandler) {
	e.cfgMu.Lock()
	defer e.cfgMu.Unlock()
	m := make(map[uint16]QueueHandler)
	if old := e.queues.Load(); old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	if h == nil {
		delete(m, num)
	} else {
		m[num] = h
	}
	e.queues.Store(&m)
}

// Reinject gives the queued packet its verdict, as nf_reinject: ACCEPT goes
// on with the entry after the one that queued it, REPEAT calls that entry
// again, DROP drops, STOLEN keeps it, QUEUE queues it again. While the
// engine runs, the packet continues on the engine's re-injection goroutine,
// so Reinject may be called from within the handler; otherwise it continues
// on the caller's goroutine.
func (q *QueuedPacket) Reinject(v hooks.Verdict) error {
	if !q.done.CompareAndSwap(false, true) {
		return ErrReinjected
	}
	q.verdict = v
	if q.e.running.Load() {
		q.e.reinject <- q
		return nil
	}
	q.e.doReinject(q)
	return nil
}

func (e *Engine) reinjectLoop(ctx context.Context) {
	for {
		select {
		case q := <-e.reinject:
			e.doReinject(q)
		case <-ctx.Done():
			for {
				select {
				case q := <-e.reinject:
					e.doReinject(q)
				default:
					return
				}
			}
		}
	}
}

func (e *Engine) doReinject(q *QueuedPacket) {
	e.localMu.Lock()
	defer e.localMu.Unlock()
	p := q.Packet
	pp := e.localPipe
	one := [1]*packet.Packet{p}
	pp.begin(one[:])
	defer pp.end()
	if pp.ct != nil {
		pp.ct.Adopt(p)
	}
	var o hooks.Outcome
	switch {
	case q.verdict.Kind() == hooks.Accept:
		o = hooks.RunFrom(q.list, q.Hook, p, q.entry+1, pp.id)
	case q.verdict.Kind() == hooks.Repeat:
		o = hooks.RunFrom(q.list, q.Hook, p, q.entry, pp.id)
	case q.verdict.Kind() == hooks.Stolen:
		return
	case q.verdict.IsQueue():
		o = hooks.Outcome{Verdict: q.verdict, Entry: uint16(q.entry)}
	default:
		pp.discard(p, DropHook)
		return
	}
	if o.Verdict != hooks.Accept && !pp.settle(q.list, q.Hook, p, o) {
		return
	}
	pp.after(q.Hook, q.Family, one[:])
}
