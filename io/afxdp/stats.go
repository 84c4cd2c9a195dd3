package afxdp

// Counters are the port's own counters, with the fields of the engine's
// PortStats in the same order, so that engine.PortStats(s.Port) converts.
type Counters struct {
	RxPackets, RxBytes, RxDropped uint64
	TxPackets, TxBytes, TxDropped uint64
}

// KernelStats are the kernel's counters of the AF_XDP sockets
// (XDP_STATISTICS), summed over the queues.
type KernelStats struct {
	RxDropped          uint64 // frames dropped for other reasons than the two below
	RxInvalidDescs     uint64 // invalid descriptors on the fill ring
	TxInvalidDescs     uint64 // invalid descriptors on the TX ring
	RxRingFull         uint64 // frames dropped because the RX ring was full
	FillRingEmptyDescs uint64 // times the kernel found the fill ring empty
	TxRingEmptyDescs   uint64 // times the kernel found the TX ring empty
}

// Stats are a port's counters and modes.
type Stats struct {
	Port   Counters
	Kernel KernelStats
	Mode   string // as Port.Mode
	// KernelErrors counts queues whose kernel statistics could not be read.
	KernelErrors int
}

// Stats returns the port's counters, summed over its queues. It does not
// stop traffic: the port's own counters are read atomically and the
// kernel's through getsockopt.
func (p *Port) Stats() Stats {
	st := Stats{Mode: p.Mode()}
	for _, qu := range p.queues {
		qu.mu.RLock()
		if qu.closed {
			qu.mu.RUnlock()
			continue
		}
		s := qu.sock
		st.Port.RxPackets += s.rxPackets.Load()
		st.Port.RxBytes += s.rxBytes.Load()
		st.Port.RxDropped += s.rxDropped.Load()
		st.Port.TxPackets += s.txPackets.Load()
		st.Port.TxBytes += s.txBytes.Load()
		st.Port.TxDropped += s.txDropped.Load()
		k, err := xdpStatistics(s.fd)
		qu.mu.RUnlock()
		if err != nil {
			st.KernelErrors++
			continue
		}
		st.Kernel.RxDropped += k.Rx_dropped
		st.Kernel.RxInvalidDescs += k.Rx_invalid_descs
		st.Kernel.TxInvalidDescs += k.Tx_invalid_descs
		st.Kernel.RxRingFull += k.Rx_ring_full
		st.Kernel.FillRingEmptyDescs += k.Rx_fill_ring_empty_descs
		st.Kernel.TxRingEmptyDescs += k.Tx_ring_empty_descs
	}
	return st
}
