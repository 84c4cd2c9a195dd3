package conntrack

import (
	"sync"
	"sync/atomic"
)

// Slot reuse and lock-free readers.
//
// A reader (a Worker in Track, the sweeper, List) finds a slot in an index
// word and then reads the entry's tuple without a lock. Meanwhile another
// goroutine may delete that entry. The kernel keeps such an nf_conn alive with
// SLAB_TYPESAFE_BY_RCU and a reference count, then re-checks the tuple; here
// the slot itself is kept: a deleted entry's slot is not reused until every
// reader that might have seen its index word has passed a quiescent point.
// This is quiescent-state-based reclamation (the idea behind RCU):
//
//   - A reader announces itself before its first index load by storing the
//     current global epoch G in its record (enter). It announces a
//     quiescent state either by storing the then current G (quiesce: it
//     holds nothing older, and stays inside) or by storing 0 (leave: it is
//     outside). A Worker enters at Track, quiesces at Quiesce and leaves at
//     Idle, so the slots that the packets of a batch carry in p.CT stay
//     valid until the engine is done with the batch, as the kernel's
//     reference held by the skb. quiesce writes only when G moved, which
//     happens once per reclaim, so the packet path runs no fence.
//   - A delete first clears the entry's index words, then reads G and puts
//     the slot in limbo tagged with that value F.
//   - reclaim advances G and computes M, the smallest epoch among readers
//     that are inside (or G if none is); slots tagged F < M become free.
//
// Why it is safe: all the operations involved are sequentially consistent
// atomics. A reader that saw the slot's word loaded it before the delete
// cleared it, so it entered (or last quiesced) before that, and the G it
// stored (R) was read before the delete read F: R <= F. While it stays inside, M <= R <= F, so
// the slot is not freed. A reader that was outside when reclaim scanned it
// enters after the scan, hence after the clear, and cannot find the word. So
// a reader never sees a slot reused while it is inside: it reads either the
// old entry, which is immutable apart from its atomics, or nothing. The race
// detector sees the same ordering through the atomics (the tests run under
// -race).
//
// An unconfirmed entry was never in the index, so Abandon returns its slot
// at once.

type reader struct {
	epoch atomic.Uint64 // 0: quiescent; else the epoch read at enter
	_     [56]byte      // one cache line each
}

func (t *Table) enter(r *reader) {
	if r.epoch.Load() == 0 {
		r.epoch.Store(t.epoch.Load())
	}
}

func leave(r *reader) { r.epoch.Store(0) }

// quiesce is an online quiescent state: the reader holds nothing from before
// now, and stays inside. It writes only when the global epoch moved since the
// reader last announced itself, so that the packet path runs no fence.
func (t *Table) quiesce(r *reader) {
	if g := t.epoch.Load(); r.epoch.Load() != g {
		r.epoch.Store(g)
	}
}

// addReader registers a reader record.
func (t *Table) addReader(r *reader) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.readers.Load()
	n := append(append([]*reader(nil), old...), r)
	t.readers.Store(&n)
}

func (t *Table) removeReader(r *reader) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.readers.Load()
	n := make([]*reader, 0, len(old))
	for _, x := range old {
		if x != r {
			n = append(n, x)
		}
	}
	t.readers.Store(&n)
}

type limboSlot struct {
	slot  uint32
	epoch uint64
}

// slotPool hands out slab slots. Slots are taken from free, then from the
// never-used range [next, len(slab)); deleted slots wait in limbo (FIFO, by
// non-decreasing epoch) for a grace period.
type slotPool struct {
	mu        sync.Mutex
	free      []uint32
	next      uint32
	limbo     []limboSlot
	limboHead int
}

// allocSlots moves up to len(dst) free slots into dst and returns how many.
func (t *Table) allocSlots(dst []uint32) int {
	p := &t.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	n := t.takeSlots(dst)
	if n == 0 {
		t.reclaimLocked()
		n = t.takeSlots(dst)
	}
	return n
}

func (t *Table) takeSlots(dst []uint32) int {
	p := &t.pool
	n := 0
	for n < len(dst) && len(p.free) > 0 {
		dst[n] = p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
		n++
	}
	for n < len(dst) && int(p.next) < len(t.slab) {
		dst[n] = p.next
		p.next++
		n++
	}
	return n
}

// returnSlots gives never-published slots back for immediate reuse.
func (t *Table) returnSlots(s []uint32) {
	p := &t.pool
	p.mu.Lock()
	p.free = append(p.free, s...)
	p.mu.Unlock()
}

// retire puts the slot of a deleted entry in limbo. The entry's index words
// must already be cleared.
func (t *Table) retire(slot uint32) {
	p := &t.pool
	p.mu.Lock()
	p.limbo = append(p.limbo, limboSlot{slot, t.epoch.Load()})
	if len(p.limbo)-p.limboHead >= reclaimBatch {
		t.reclaimLocked()
	}
	p.mu.Unlock()
}

// retireMany is retire for several slots.
func (t *Table) retireMany(slots []uint32) {
	if len(slots) == 0 {
		return
	}
	p := &t.pool
	p.mu.Lock()
	ep := t.epoch.Load()
	for _, s := range slots {
		p.limbo = append(p.limbo, limboSlot{s, ep})
	}
	if len(p.limbo)-p.limboHead >= reclaimBatch {
		t.reclaimLocked()
	}
	p.mu.Unlock()
}

// reclaimBatch is how many slots may wait in limbo before a delete tries to
// reclaim them.
const reclaimBatch = 1024

// reclaimLocked frees the limbo slots no reader can still see. t.pool.mu is
// held.
func (t *Table) reclaimLocked() {
	p := &t.pool
	min := t.epoch.Add(1)
	for _, r := range *t.readers.Load() {
		if e := r.epoch.Load(); e != 0 && e < min {
			min = e
		}
	}
	i := p.limboHead
	for ; i < len(p.limbo) && p.limbo[i].epoch < min; i++ {
		s := p.limbo[i].slot
		t.slab[s].status.Store(0)
		p.free = append(p.free, s)
	}
	p.limboHead = i
	if p.limboHead == len(p.limbo) {
		p.limbo, p.limboHead = p.limbo[:0], 0
	} else if p.limboHead > len(p.limbo)/2 {
		n := copy(p.limbo, p.limbo[p.limboHead:])
		p.limbo, p.limboHead = p.limbo[:n], 0
	}
}
