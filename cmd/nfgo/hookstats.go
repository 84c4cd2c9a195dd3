package main

import (
	"sync/atomic"

	"github.com/nfgo/nfgo/engine"
	"github.com/nfgo/nfgo/hooks"
	"github.com/nfgo/nfgo/packet"
)

// hookCounters count the packets that enter each hook, per worker, with a
// batch callback that runs first on each hook. It is off unless the config
// asks for it (metrics.hook_counters): a hook with nothing on it costs
// nothing, and this puts something on every hook.
type hookCounters struct {
	ops     []*hooks.Ops
	workers int
	c       []hookSlot // [hook*workers + worker]
}

type hookSlot struct {
	packets, bytes atomic.Uint64
	_              [48]byte
}

// countedHooks are the hooks counted: the five of the inet families.
var countedHooks = []hooks.Hook{hooks.Prerouting, hooks.Input, hooks.Forward, hooks.Output, hooks.Postrouting}

// registerHookCounters starts counting; workers is the number of engine
// workers (worker 0 is the engine's path for packets it originates).
func registerHookCounters(e *engine.Engine, workers int) (*hookCounters, error) {
	hc := &hookCounters{workers: workers + 1}
	hc.c = make([]hookSlot, len(countedHooks)*hc.workers)
	for i, h := range countedHooks {
		base := i * hc.workers
		ops := &hooks.Ops{Name: "nfgo-stats", Family: packet.FamilyInet, Hook: h, Priority: hooks.PriorityFirst,
			Batch: func(pkts []*packet.Packet, _ []hooks.Verdict, s *hooks.State) {
				w := s.Worker
				if w >= hc.workers {
					w = 0
				}
				var b uint64
				for _, p := range pkts {
					b += uint64(p.Len())
				}
				slot := &hc.c[base+w]
				slot.packets.Add(uint64(len(pkts)))
				slot.bytes.Add(b)
			}}
		if err := e.Hooks().Register(ops); err != nil {
			hc.unregister(e)
			return nil, err
		}
		hc.ops = append(hc.ops, ops)
	}
	return hc, nil
}

func (hc *hookCounters) unregister(e *engine.Engine) {
	for _, o := range hc.ops {
		e.Hooks().Unregister(o)
	}
	hc.ops = nil
}

// get is the count of hook index i (into countedHooks) and worker w.
func (hc *hookCounters) get(i, w int) (packets, bytes uint64) {
	s := &hc.c[i*hc.workers+w]
	return s.packets.Load(), s.bytes.Load()
}
