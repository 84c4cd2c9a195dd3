package conntrack

import (
	"net/netip"
	"time"

	"github.com/nfgo/nfgo/packet"
)

// Filter selects entries for List and Flush, as conntrack(8)'s options. The
// zero value selects every entry.
type Filter struct {
	Family   packet.Family // 0: any
	Proto    uint8         // 0: any
	Zone     uint16
	ZoneSet  bool         // match Zone (else any zone)
	Mark     uint32       // entries whose mark&MarkMask == Mark, when MarkMask != 0
	MarkMask uint32       //
	Src, Dst netip.Prefix // original direction addresses; invalid: any
	Status   Status       // entries with all these bits
	Match    func(*Entry) bool
}

func (f *Filter) matches(t *Table, slot uint32, e *entry, st Status) (Entry, bool) {
	k := &e.tup[0]
	if f.Family != 0 && k.Family != f.Family || f.Proto != 0 && k.Proto != f.Proto ||
		f.ZoneSet && k.Zone != f.Zone || st&f.Status != f.Status ||
		f.MarkMask != 0 && e.loadMark()&f.MarkMask != f.Mark ||
		f.Src.IsValid() && !f.Src.Contains(k.SrcAddr()) ||
		f.Dst.IsValid() && !f.Dst.Contains(k.DstAddr()) {
		return Entry{}, false
	}
	x := t.snapshot(slot, e, st)
	if f.Match != nil && !f.Match(&x) {
		return Entry{}, false
	}
	return x, true
}

// scan calls fn for each live confirmed entry in the slab, inside a
// control-plane read section; fn returns false to stop. The done functions
// run at the end, still inside.
func (t *Table) scan(fn func(slot uint32, e *entry, st Status) bool, done ...func()) {
	t.ctlMu.Lock()
	defer t.ctlMu.Unlock()
	t.enter(t.ctl)
	defer leave(t.ctl)
	for _, d := range done {
		defer d()
	}
	t.pool.mu.Lock()
	end := t.pool.next
	t.pool.mu.Unlock()
	for s := uint32(1); s < end; s++ {
		e := &t.slab[s]
		st := Status(e.status.Load())
		if st&StatusConfirmed == 0 || st&StatusDying != 0 {
			continue
		}
		if !fn(s, e, st&^statusPrivate) {
			return
		}
	}
}

// List calls fn with a copy of each confirmed entry that f selects, until fn
// returns false. fn must not call List, Flush or Sweep.
func (t *Table) List(f Filter, fn func(Entry) bool) {
	t.scan(func(slot uint32, e *entry, st Status) bool {
		if x, ok := f.matches(t, slot, e, st); ok {
			return fn(x)
		}
		return true
	})
}

// Get returns the entry with tuple k in either direction.
func (t *Table) Get(k Tuple) (Entry, bool) {
	t.ctlMu.Lock()
	defer t.ctlMu.Unlock()
	t.enter(t.ctl)
	defer leave(t.ctl)
	slot, _, ok := t.find(&k, t.h.hash(&k), t.now())
	if !ok {
		return Entry{}, false
	}
	e := &t.slab[slot]
	return t.snapshot(slot, e, Status(e.status.Load())&^statusPrivate), true
}

// Delete deletes the entry with tuple k in either direction (conntrack -D).
func (t *Table) Delete(k Tuple) bool {
	t.ctlMu.Lock()
	defer t.ctlMu.Unlock()
	t.enter(t.ctl)
	defer leave(t.ctl)
	slot, _, ok := t.find(&k, t.h.hash(&k), t.now())
	return ok && t.kill(slot)
}

// Flush deletes the entries f selects and returns how many (conntrack -F,
// or -D with a filter).
func (t *Table) Flush(f Filter) int {
	n := 0
	t.scan(func(slot uint32, e *entry, st Status) bool {
		if _, ok := f.matches(t, slot, e, st); ok && t.kill(slot) {
			n++
		}
		return true
	})
	return n
}

// Sweep deletes the confirmed entries that have expired and returns how
// many, as the kernel's gc_worker. The background sweeper calls it; with
// Options.SweepInterval < 0 the caller does.
func (t *Table) Sweep() int {
	now := t.now()
	n := 0
	var batch [64]uint32
	k := 0
	t.scan(func(slot uint32, e *entry, st Status) bool {
		if now-e.loadExpires() >= 0 {
			batch[k] = slot
			if k++; k == len(batch) {
				n += t.killBatch(batch[:k])
				k = 0
			}
		}
		return true
	}, func() {
		n += t.killBatch(batch[:k]) // inside the read section still
		k = 0
	})
	if n > 0 {
		t.retired[sExpired].Add(uint64(n))
	}
	t.frag.expire(now)
	t.pool.mu.Lock()
	t.reclaimLocked()
	t.pool.mu.Unlock()
	return n
}

func (t *Table) sweeper(iv time.Duration) {
	defer close(t.done)
	sweep := time.NewTicker(iv)
	defer sweep.Stop()
	var clock <-chan time.Time
	if t.tick != nil {
		c := time.NewTicker(time.Millisecond)
		defer c.Stop()
		clock = c.C
	}
	for {
		select {
		case <-t.stop:
			return
		case <-clock:
			t.coarse.Store(t.tick())
		case <-sweep.C:
			t.Sweep()
		}
	}
}
