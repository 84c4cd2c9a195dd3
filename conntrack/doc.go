// Package conntrack is nfgo's connection tracker: the table of connections
// (nf_conntrack_core.c), the per-protocol trackers (TCP state and window,
// UDP, ICMP, ICMPv6, generic), RELATED for ICMP errors, timeouts, expiry,
// early drop, zones, connmark, counters, events, statistics and IPv4/IPv6
// defragmentation (nf_defrag_ipv4/ipv6).
//
// # Where it runs
//
// The engine calls a Worker, one per packet worker:
//
//	PREROUTING/OUTPUT -400  w.Defrag(p)            (nf_defrag_ipv4/6)
//	PREROUTING/OUTPUT -200  w.Track(batch, drop)   (nf_conntrack_in)
//	POSTROUTING/INPUT  max  w.Confirm(p)           (nf_conntrack_confirm)
//	dropped before confirm  w.Abandon(p)
//	after each batch        w.Quiesce()
//	before waiting idle     w.Idle()
//
// Track finds or creates the entry of each packet and sets p.CT (the entry's
// slot) and p.CTInfo. A new entry is unconfirmed and private to the worker
// until Confirm inserts it into the table, so a first packet that is dropped
// leaves nothing behind. The slot a packet carries stays valid until its
// worker's next Quiesce; a worker that stops calling Quiesce without calling
// Idle keeps deleted entries' slots from being reused (reclaim.go).
//
// # The table
//
// Entries live in one slab, a slice of pointer-free structs addressed by a
// uint32 slot, so the garbage collector never scans it. The index is an
// open-addressed array of 64-byte buckets of seven words, each word a 32-bit
// hash tag, the slot and the direction; every entry has two words, one per
// tuple, so it is found from either direction. Lookups take no lock; inserts
// and deletes lock the stripe of the tuple's home bucket. See index.go for the
// layout and reclaim.go for why a lock-free reader never sees a slot reused
// under it.
package conntrack
