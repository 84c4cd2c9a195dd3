package engine

import (
	"sync/atomic"

	"github.com/nfgo/nfgo/hooks"
	"github.com/nfgo/nfgo/packet"
)

// DropReason says why the engine dropped a packet. Each has a counter.
type DropReason uint8

const (
	DropMalformed      DropReason = iota // the frame did not parse (see Stats.Malformed for why)
	DropOtherHost                        // Ethernet frame for another host, or tagged for a VLAN
	DropNotIP                            // neither IP nor handled link protocol (ARP)
	DropHook                             // a hook callback answered DROP
	DropRepeatLoop                       // a callback kept answering REPEAT
	DropQueueNoHandler                   // QUEUE without bypass and nobody listening on the queue
	DropNoRoute                          // no route to the destination
	DropUnreachable                      // an unreachable, prohibit or blackhole route
	DropTTLExceeded                      // TTL or hop limit ran out
	DropMartian                          // an address that is never forwarded (multicast, link-local, loopback)
	DropTooBig                           // larger than the out port's MTU
	DropNoNeighbor                       // the next hop did not resolve, or too many packets waited for it
	DropTxFull                           // the out port's ring was full
	DropNoLocal                          // for this host, but nothing receives local packets
	DropPortDown                         // the out port is gone or closed
	DropBadChecksum                      // an IPv4 header checksum that does not add up (ip_rcv_core)
	NumDropReasons
)

var dropNames = [NumDropReasons]string{
	"malformed", "other-host", "not-ip", "hook-drop", "repeat-loop",
	"queue-no-handler", "no-route", "unreachable", "ttl-exceeded",
	"martian", "too-big", "no-neighbor", "tx-full", "no-local", "port-down",
	"bad-checksum",
}

func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropNames[r]
	}
	return "drop?"
}

// Stats is a snapshot of the engine's counters.
type Stats struct {
	RxPackets, RxBytes uint64
	TxPackets, TxBytes uint64
	Forwarded          uint64
	Delivered          uint64 // passed INPUT and handed to local delivery
	Generated          uint64 // entered OUTPUT (injected, ICMP errors, echo replies)
	Stolen, Queued     uint64
	ICMPErrors         uint64 // ICMP errors sent
	ICMPRateLimited    uint64 // ICMP errors not sent because of the rate limit
	NeighQueued        uint64 // packets that waited for neighbor resolution
	FragmentsOut       uint64 // IPv4 fragments made on egress
	NeighSolicits      uint64 // ARP requests and neighbor solicitations sent
	Drops              [NumDropReasons]uint64
	Malformed          [packet.NumReasons]uint64
	// PortDrops are the drops of packets that came in by (or, for the
	// host's own packets, were to leave by) each interface, by name.
	PortDrops map[string][NumDropReasons]uint64
	// HookDrops are the drops decided in a hook walk (hook-drop,
	// repeat-loop, queue-no-handler), by hook (hooks.Hook).
	HookDrops [hooks.Ingress + 1][NumDropReasons]uint64
}

// counters are updated by workers with atomic adds, mostly once per batch.
type counters struct {
	rxPackets, rxBytes atomic.Uint64
	txPackets, txBytes atomic.Uint64
	forwarded          atomic.Uint64
	delivered          atomic.Uint64
	generated          atomic.Uint64
	stolen, queued     atomic.Uint64
	icmpErrors         atomic.Uint64
	icmpRateLimited    atomic.Uint64
	neighQueued        atomic.Uint64
	fragmentsOut       atomic.Uint64
	neighSolicits      atomic.Uint64
	drops              [NumDropReasons]atomic.Uint64
	malformed          [packet.NumReasons]atomic.Uint64
	hookDrops          [hooks.Ingress + 1][NumDropReasons]atomic.Uint64
}

func (c *counters) snapshot() Stats {
	s := Stats{
		RxPackets: c.rxPackets.Load(), RxBytes: c.rxBytes.Load(),
		TxPackets: c.txPackets.Load(), TxBytes: c.txBytes.Load(),
		Forwarded: c.forwarded.Load(), Delivered: c.delivered.Load(),
		Generated: c.generated.Load(), Stolen: c.stolen.Load(), Queued: c.queued.Load(),
		ICMPErrors: c.icmpErrors.Load(), ICMPRateLimited: c.icmpRateLimited.Load(),
		NeighQueued: c.neighQueued.Load(), NeighSolicits: c.neighSolicits.Load(),
		FragmentsOut: c.fragmentsOut.Load(),
	}
	for i := range c.drops {
		s.Drops[i] = c.drops[i].Load()
	}
	for i := range c.malformed {
		s.Malformed[i] = c.malformed[i].Load()
	}
	for h := range c.hookDrops {
		for r := range c.hookDrops[h] {
			s.HookDrops[h][r] = c.hookDrops[h][r].Load()
		}
	}
	return s
}

// TotalDrops is the sum of all drop counters.
func (s *Stats) TotalDrops() uint64 {
	var n uint64
	for _, d := range s.Drops {
		n += d
	}
	return n
}
