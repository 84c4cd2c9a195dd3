package conntrack

import "time"

// Timeouts are how long an idle entry lives in each state: the kernel's
// nf_conntrack_*_timeout sysctls. A zero field takes the kernel's default
// (DefaultTimeouts).
type Timeouts struct {
	TCPSynSent     time.Duration // nf_conntrack_tcp_timeout_syn_sent: 2m
	TCPSynRecv     time.Duration // nf_conntrack_tcp_timeout_syn_recv: 60s
	TCPEstablished time.Duration // nf_conntrack_tcp_timeout_established: 5d
	TCPFinWait     time.Duration // nf_conntrack_tcp_timeout_fin_wait: 2m
	TCPCloseWait   time.Duration // nf_conntrack_tcp_timeout_close_wait: 60s
	TCPLastAck     time.Duration // nf_conntrack_tcp_timeout_last_ack: 30s
	TCPTimeWait    time.Duration // nf_conntrack_tcp_timeout_time_wait: 2m
	TCPClose       time.Duration // nf_conntrack_tcp_timeout_close: 10s
	TCPSynSent2    time.Duration // SYN_SENT2 (simultaneous open): 2m
	TCPRetrans     time.Duration // nf_conntrack_tcp_timeout_max_retrans: 5m
	TCPUnack       time.Duration // nf_conntrack_tcp_timeout_unacknowledged: 5m
	UDP            time.Duration // nf_conntrack_udp_timeout: 30s
	UDPStream      time.Duration // nf_conntrack_udp_timeout_stream: 120s
	ICMP           time.Duration // nf_conntrack_icmp_timeout: 30s
	ICMPv6         time.Duration // nf_conntrack_icmpv6_timeout: 30s
	Generic        time.Duration // nf_conntrack_generic_timeout: 600s
}

// DefaultTimeouts are the kernel's defaults.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		TCPSynSent:     2 * time.Minute,
		TCPSynRecv:     60 * time.Second,
		TCPEstablished: 5 * 24 * time.Hour,
		TCPFinWait:     2 * time.Minute,
		TCPCloseWait:   60 * time.Second,
		TCPLastAck:     30 * time.Second,
		TCPTimeWait:    2 * time.Minute,
		TCPClose:       10 * time.Second,
		TCPSynSent2:    2 * time.Minute,
		TCPRetrans:     5 * time.Minute,
		TCPUnack:       5 * time.Minute,
		UDP:            30 * time.Second,
		UDPStream:      120 * time.Second,
		ICMP:           30 * time.Second,
		ICMPv6:         30 * time.Second,
		Generic:        600 * time.Second,
	}
}

// withDefaults fills zero fields from DefaultTimeouts.
func (t Timeouts) withDefaults() Timeouts {
	d := DefaultTimeouts()
	fill := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	fill(&t.TCPSynSent, d.TCPSynSent)
	fill(&t.TCPSynRecv, d.TCPSynRecv)
	fill(&t.TCPEstablished, d.TCPEstablished)
	fill(&t.TCPFinWait, d.TCPFinWait)
	fill(&t.TCPCloseWait, d.TCPCloseWait)
	fill(&t.TCPLastAck, d.TCPLastAck)
	fill(&t.TCPTimeWait, d.TCPTimeWait)
	fill(&t.TCPClose, d.TCPClose)
	fill(&t.TCPSynSent2, d.TCPSynSent2)
	fill(&t.TCPRetrans, d.TCPRetrans)
	fill(&t.TCPUnack, d.TCPUnack)
	fill(&t.UDP, d.UDP)
	fill(&t.UDPStream, d.UDPStream)
	fill(&t.ICMP, d.ICMP)
	fill(&t.ICMPv6, d.ICMPv6)
	fill(&t.Generic, d.Generic)
	return t
}

// tcpTimeouts indexes the TCP timeouts by TCPState, with the two extra
// classes (retrans, unack) after the states, as the kernel's tcp_timeouts.
func (t *Timeouts) tcpTable() (tab [tcpTimeoutMax]int64) {
	tab[TCPNone] = int64(t.TCPSynSent)
	tab[TCPSynSent] = int64(t.TCPSynSent)
	tab[TCPSynRecv] = int64(t.TCPSynRecv)
	tab[TCPEstablished] = int64(t.TCPEstablished)
	tab[TCPFinWait] = int64(t.TCPFinWait)
	tab[TCPCloseWait] = int64(t.TCPCloseWait)
	tab[TCPLastAck] = int64(t.TCPLastAck)
	tab[TCPTimeWait] = int64(t.TCPTimeWait)
	tab[TCPClose] = int64(t.TCPClose)
	tab[TCPSynSent2] = int64(t.TCPSynSent2)
	tab[tcpTimeoutRetrans] = int64(t.TCPRetrans)
	tab[tcpTimeoutUnack] = int64(t.TCPUnack)
	return tab
}
