package conntrack

import "sync/atomic"

// Stats are the table's counters, with the fields of
// /proc/net/stat/nf_conntrack, summed over workers.
type Stats struct {
	Entries       int    // entries: confirmed and unconfirmed
	Found         uint64 // lookups that found an entry
	Invalid       uint64 // packets that could not be tracked (INVALID)
	Ignore        uint64 // packets that already had an entry
	Insert        uint64 // entries confirmed
	InsertFailed  uint64 // confirmations that failed on a clash (packet dropped)
	Drop          uint64 // packets dropped: table full, or insert failed
	EarlyDrop     uint64 // entries deleted to make room
	Error         uint64 // ICMP errors quoting no known connection (also counted invalid)
	SearchRestart uint64 // lookups restarted; always 0 here (see reclaim.go)
	ClashResolve  uint64 // clashes resolved by joining the existing entry
	New           uint64 // entries created (not a kernel field)
	Expired       uint64 // entries deleted by the sweeper (not a kernel field)
	EventsLost    uint64 // events that found the ring full
	Defrag        DefragStats
}

const (
	sFound = iota
	sInvalid
	sIgnore
	sInsert
	sInsertFailed
	sDrop
	sEarlyDrop
	sError
	sSearchRestart
	sClashResolve
	sNew
	sExpired
	nStats
)

type atomicCounter = atomic.Uint64

func (w *Worker) flushStats() {
	for i, v := range w.st {
		if v != 0 {
			w.pub[i].Add(v)
			w.st[i] = 0
		}
	}
}

// Stats sums the counters of the table and its workers. A worker's counters
// are published at the end of each Track call and at Quiesce.
func (t *Table) Stats() Stats {
	var c [nStats]uint64
	t.mu.Lock()
	for i := range c {
		c[i] = t.retired[i].Load()
	}
	for _, w := range t.workers {
		for i := range c {
			c[i] += w.pub[i].Load()
		}
	}
	t.mu.Unlock()
	s := t.statsOf(&c)
	if t.events != nil {
		s.EventsLost = t.events.lost.Load()
	}
	s.Defrag = t.frag.stats()
	return s
}

func (t *Table) statsOf(c *[nStats]uint64) Stats {
	return Stats{
		Entries: t.Count(), Found: c[sFound], Invalid: c[sInvalid], Ignore: c[sIgnore],
		Insert: c[sInsert], InsertFailed: c[sInsertFailed], Drop: c[sDrop], EarlyDrop: c[sEarlyDrop],
		Error: c[sError], SearchRestart: c[sSearchRestart], ClashResolve: c[sClashResolve],
		New: c[sNew], Expired: c[sExpired],
	}
}

// WorkerStats are the counters of each worker, in the order the workers
// were made, as the kernel's /proc/net/stat/nf_conntrack has a line per CPU
// (Entries is the table's count on every line, as there). What closed
// workers and the table itself counted (the sweeper's expiries, deletes)
// are in Stats only. A worker's counters lag behind by up to statsEvery
// batches (Idle publishes them at once).
func (t *Table) WorkerStats() []Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Stats, len(t.workers))
	for j, w := range t.workers {
		var c [nStats]uint64
		for i := range c {
			c[i] = w.pub[i].Load()
		}
		out[j] = t.statsOf(&c)
	}
	return out
}
