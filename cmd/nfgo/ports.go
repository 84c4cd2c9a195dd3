package main

import (
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/nfgo/nfgo/cmd/nfgo/internal/config"
	"github.com/nfgo/nfgo/engine"
	"github.com/nfgo/nfgo/io/afxdp"
	"github.com/nfgo/nfgo/io/pcapio"
	"github.com/nfgo/nfgo/io/tun"
	"github.com/nfgo/nfgo/packet"
)

// openPort opens the backend of one configured interface.
func openPort(ic config.Interface, log *slog.Logger) (engine.Port, error) {
	switch ic.Backend {
	case "afxdp":
		opts := afxdp.Options{Interface: ic.Name, Queues: ic.Queues, Logger: log}
		switch ic.Mode {
		case "native":
			opts.Mode = afxdp.ModeNative
		case "generic":
			opts.Mode = afxdp.ModeGeneric
		}
		switch ic.ZeroCopy {
		case "on":
			opts.ZeroCopy = afxdp.ZeroCopyOn
		case "off":
			opts.ZeroCopy = afxdp.ZeroCopyOff
		}
		return afxdp.New(opts)
	case "tun":
		opts := tun.Options{Name: ic.Name, MTU: ic.MTU, Logger: log}
		switch ic.Offloads {
		case "on":
			opts.Offloads = tun.OffloadsOn
		case "off":
			opts.Offloads = tun.OffloadsOff
		}
		return tun.New(opts)
	case "pcap":
		return pcapio.Open(pcapio.Options{Name: ic.Name, In: ic.In, Out: ic.Out, MTU: ic.MTU, Link: packet.LinkRaw})
	}
	return nil, fmt.Errorf("interface %s: unknown backend %q", ic.Name, ic.Backend)
}

// queueCounters are one queue's packets and bytes, on their own cache
// line: each RX queue is one worker's.
type queueCounters struct {
	rxPackets, rxBytes atomic.Uint64
	txPackets, txBytes atomic.Uint64
	_                  [32]byte
}

// countingPort counts what crosses a port per queue, once per batch. RX
// queue q is read by one worker, so its counters are that worker's.
type countingPort struct {
	engine.Port
	q []queueCounters
}

func newCountingPort(p engine.Port) *countingPort {
	return &countingPort{Port: p, q: make([]queueCounters, max(p.NumQueues(), 1))}
}

func (c *countingPort) ReadBatch(q int, pkts []*packet.Packet) (int, error) {
	n, err := c.Port.ReadBatch(q, pkts)
	if n > 0 {
		var b uint64
		for _, p := range pkts[:n] {
			b += uint64(len(p.Frame))
		}
		c.q[q].rxPackets.Add(uint64(n))
		c.q[q].rxBytes.Add(b)
	}
	return n, err
}

func (c *countingPort) WriteBatch(q int, pkts []*packet.Packet) (int, error) {
	n, err := c.Port.WriteBatch(q, pkts)
	if n > 0 {
		var b uint64
		for _, p := range pkts[:n] {
			b += uint64(len(p.Frame))
		}
		c.q[q].txPackets.Add(uint64(n))
		c.q[q].txBytes.Add(b)
	}
	return n, err
}

// portTotals sums a port's queues.
type portTotals struct {
	RxPackets, RxBytes, TxPackets, TxBytes uint64
	RxDropped, TxDropped                   uint64 // from the backend, where it counts them
	Mode                                   string
}

func (c *countingPort) totals() portTotals {
	var t portTotals
	for i := range c.q {
		t.RxPackets += c.q[i].rxPackets.Load()
		t.RxBytes += c.q[i].rxBytes.Load()
		t.TxPackets += c.q[i].txPackets.Load()
		t.TxBytes += c.q[i].txBytes.Load()
	}
	switch p := c.Port.(type) {
	case *afxdp.Port:
		s := p.Stats()
		t.RxDropped, t.TxDropped, t.Mode = s.Port.RxDropped+s.Kernel.RxDropped+s.Kernel.RxRingFull, s.Port.TxDropped, s.Mode
	case *tun.Port:
		s := p.Stats()
		t.RxDropped, t.TxDropped, t.Mode = s.Port.RxDropped, s.Port.TxDropped, s.Mode
	case *pcapio.Port:
		s := p.Stats()
		t.RxDropped, t.TxDropped = s.RxDropped, s.TxDropped
	}
	return t
}
