package pcapio

import "sync/atomic"

// Counters are the port's counters, with the fields of the engine's
// PortStats in the same order, so that engine.PortStats(p.Stats()) converts.
type Counters struct {
	RxPackets, RxBytes, RxDropped uint64
	TxPackets, TxBytes, TxDropped uint64
}

type counters struct {
	rxPackets, rxBytes, rxDropped atomic.Uint64
	txPackets, txBytes, txDropped atomic.Uint64
}

// Stats returns the port's counters.
func (p *Port) Stats() Counters {
	s := &p.stats
	return Counters{
		RxPackets: s.rxPackets.Load(), RxBytes: s.rxBytes.Load(), RxDropped: s.rxDropped.Load(),
		TxPackets: s.txPackets.Load(), TxBytes: s.txBytes.Load(), TxDropped: s.txDropped.Load(),
	}
}
