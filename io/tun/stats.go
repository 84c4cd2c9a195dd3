package tun

import "sync/atomic"

// Counters are the port's counters, with the fields of the engine's
// PortStats in the same order, so that engine.PortStats(s.Port) converts.
type Counters struct {
	RxPackets, RxBytes, RxDropped uint64
	TxPackets, TxBytes, TxDropped uint64
}

// Stats are the port's counters and mode.
type Stats struct {
	Port     Counters
	TxErrors uint64 // failed device writes
	RxSuper  uint64 // device reads that were GSO packets split into several
	Mode     string // as Port.Mode
}

type counters struct {
	rxPackets, rxBytes, rxDropped atomic.Uint64
	txPackets, txBytes, txDropped atomic.Uint64
	txErrors, rxSuper             atomic.Uint64
}

// Stats returns the port's counters.
func (p *Port) Stats() Stats {
	s := &p.stats
	return Stats{
		Port: Counters{
			RxPackets: s.rxPackets.Load(), RxBytes: s.rxBytes.Load(), RxDropped: s.rxDropped.Load(),
			TxPackets: s.txPackets.Load(), TxBytes: s.txBytes.Load(), TxDropped: s.txDropped.Load(),
		},
		TxErrors: s.txErrors.Load(),
		RxSuper:  s.rxSuper.Load(),
		Mode:     p.Mode(),
	}
}
