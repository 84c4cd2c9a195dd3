package conntrack

import (
	"github.com/nfgo/nfgo/packet"
)

// batchMax is how many packets Track hashes and probes together.
const batchMax = 64

// A Worker is one engine worker's handle on the table: its statistics, its
// cache of free slots, its unconfirmed entries and scratch space for batch
// hashing. It is not safe for concurrent use; make one per worker.
type Worker struct {
	t        *Table
	r        *reader
	cache    []uint32  // free slots, private
	pend     []pending // unconfirmed entries carried by packets in flight; slot 0: gone
	pendHead int       // pend[:pendHead] are gone
	// pendSeen has a bit per hash (bits 54-63) of the original tuples in
	// pend, so that pendingFor scans pend only when a packet may join one.
	// Cleared when pend empties.
	pendSeen [16]uint64
	st       [nStats]uint64
	pub      *[nStats]atomicCounter
	quiesces int
	now      int64
	sink     uint64

	keys  [batchMax]key
	hs    [batchMax]uint64
	kinds [batchMax]kind
	cand  [batchMax]uint32 // slot<<1 | dir of a candidate entry
	seg   tcpSeg

	loans []loan   // reassembly buffers lent to packets until Quiesce
	bufs  [][]byte // free reassembly buffers
}

// pending is an unconfirmed entry and how many packets carry it.
type pending struct {
	slot uint32
	refs uint32
	h    uint64 // hash of the original tuple
	h1   uint64 // hash of the reply tuple
}

// NewWorker makes a worker handle.
func (t *Table) NewWorker() *Worker {
	w := &Worker{t: t, r: new(reader), cache: make([]uint32, 0, 64), pend: make([]pending, 0, 2*batchMax)}
	w.pub = new([nStats]atomicCounter)
	t.addReader(w.r)
	t.mu.Lock()
	t.workers = append(t.workers, w)
	t.mu.Unlock()
	return w
}

// Close releases the worker: its unconfirmed entries and cached slots go
// back, its statistics stay in the table's.
func (w *Worker) Close() {
	w.Idle()
	t := w.t
	t.returnSlots(w.cache)
	w.cache = w.cache[:0]
	t.removeReader(w.r)
	t.mu.Lock()
	for i, x := range t.workers {
		if x == w {
			t.workers = append(t.workers[:i], t.workers[i+1:]...)
			break
		}
	}
	for i := range w.pub {
		t.retired[i].Add(w.pub[i].Load())
	}
	t.mu.Unlock()
}

// Quiesce tells the table that no packet of this worker refers to an entry
// any more: the engine calls it after each batch, once every packet has its
// verdict. Until then, the slots the batch's packets carry in p.CT are not
// reused (see reclaim.go). Unconfirmed entries still pending are abandoned,
// and reassembly buffers lent to packets (Defrag) are taken back.
//
// Quiesce is cheap: it writes to shared memory only when the table's epoch
// has moved, and publishes the worker's statistics every statsEvery calls.
// A worker that stops calling it holds back the reuse of deleted entries'
// slots, so a worker about to block (an empty queue) calls Idle instead.
func (w *Worker) Quiesce() {
	if len(w.pend) == 0 && len(w.loans) == 0 && w.quiesces < statsEvery-1 && w.r.epoch.Load() == w.t.epoch.Load() {
		w.quiesces++ // the common case, inlined: nothing to do
		return
	}
	w.quiesce()
}

func (w *Worker) quiesce() {
	for len(w.pend) > 0 {
		w.release(len(w.pend) - 1)
	}
	w.t.quiesce(w.r)
	if len(w.loans) > 0 {
		w.repay()
	}
	if w.quiesces++; w.quiesces >= statsEvery {
		w.quiesces = 0
		w.flushStats()
	}
}

// statsEvery is how many batches a worker's statistics may lag behind.
const statsEvery = 64

// Idle is Quiesce for a worker that is about to wait for packets: it also
// takes the worker out of the grace-period accounting until its next Track,
// and publishes its statistics at once.
func (w *Worker) Idle() {
	w.Quiesce()
	leave(w.r)
	w.flushStats()
}

// Track runs where the kernel's nf_conntrack_in runs (PREROUTING and
// OUTPUT, priority -200). For each packet it finds or creates (unconfirmed)
// the entry, runs the protocol tracker and sets p.CT and p.CTInfo. It hashes
// the whole batch first and probes it next, so that memory latency overlaps.
//
// drop[i] is set for a packet the kernel would drop: a new connection when
// the table is full and nothing can be early-dropped. It is not cleared for
// the others. INVALID packets are not dropped: p.CT is 0 and p.CTInfo
// InfoNone, the rules decide. Packets with packet.FlagNoTrack get
// InfoUntracked.
func (w *Worker) Track(pkts []*packet.Packet, drop []bool) {
	t := w.t
	w.now = t.clock()
	t.enter(w.r)
	if len(pkts) == 1 {
		w.track1(pkts[0], &drop[0])
		return
	}
	for off := 0; off < len(pkts); off += batchMax {
		n := min(batchMax, len(pkts)-off)
		w.trackBatch(pkts[off:off+n], drop[off:off+n])
	}
}

func (w *Worker) trackBatch(pkts []*packet.Packet, drop []bool) {
	t := w.t
	buckets, mask, slab := t.idx.buckets, t.idx.mask, t.slab
	n := min(len(pkts), batchMax)
	pkts, drop = pkts[:n], drop[:n]
	var sink uint64
	// Keys and hashes first, then short loops of loads only: the home
	// buckets, then the candidate entries. Each loop issues its loads back
	// to back with nothing between them, so the out-of-order core keeps many
	// cache misses in flight instead of two or three.
	for i, p := range pkts {
		i &= batchMax - 1
		k := classifyKey(p, &w.keys[i])
		w.kinds[i] = k
		w.hs[i] = 0 // a harmless bucket to touch
		if k == kNormal || k == kRelated {
			w.hs[i] = t.h.hashKey(&w.keys[i])
		}
	}
	if n >= 4 {
		for i := range n {
			prefetchBucket(&buckets[w.hs[i&(batchMax-1)]&mask])
		}
	}
	// The candidate of each packet: the last word of its home bucket with
	// its tag, picked without a branch on which word it is; 0 if none has
	// it. The buckets are in cache by now.
	for i := range n {
		i &= batchMax - 1
		h := w.hs[i]
		c := candidate(buckets, mask, h)
		if c == 0 && buckets[h&mask].ovf.Load() != 0 {
			// The word may have overflowed into the next bucket (about
			// 2% of them at 1M entries): look there too, a miss that
			// overlaps with the other packets' instead of one that
			// trackSlow would wait for. (Here rather than in candidate,
			// which track1 shares: moved there it measured 10% slower on
			// 1M batch64.)
			if x := buckets[(h+1)&mask].pick(h); (x^h)>>32 == 0 {
				c = uint32(x)
			}
		}
		w.cand[i] = c
	}
	if n >= 4 {
		// The lines an established packet reads: the shared fields and
		// the original tuple, the reply tuple and the UDP stream time, in a
		// loop of a few instructions a packet so that the misses of the
		// whole batch are in flight at once.
		for i := range n {
			e := &slab[w.cand[i&(batchMax-1)]>>1]
			sink += uint64(e.status.Load()) + uint64(e.tup[1].Proto)
		}
		fresh := len(w.cache)
		for i := range n {
			i &= batchMax - 1
			c := w.cand[i]
			if c == 0 && w.kinds[i] == kNormal && fresh > 0 {
				// Probably a new connection: fetch the three lines of
				// the slot it will get, so that create writes to cache.
				fresh--
				prefetchEntry(&slab[w.cache[fresh]])
			}
		}
	}
	w.sink += sink
	for i, p := range pkts {
		i &= batchMax - 1
		// A candidate is good for this batch only: after Quiesce its slot
		// may be reused.
		c := w.cand[i]
		w.cand[i] = 0
		k := w.kinds[i]
		if k == kNormal {
			// Most packets: one of a live entry of UDP or another protocol
			// without state, found at the candidate.
			e := &slab[c>>1]
			d := Dir(c & 1)
			st := Status(e.status.Load())
			if w.keys[i].is(&e.tup[d]) && st&(StatusConfirmed|StatusDying) == StatusConfirmed &&
				w.now-e.loadExpires() < 0 && e.tup[0].Proto != packet.ProtoTCP {
				w.established(p, c>>1, e, d, st)
				continue
			}
		}
		w.trackSlow(i, k, p, &drop[i], c)
	}
}

// track1 is trackBatch for a batch of one packet, with nothing to overlap:
// the fewer instructions it runs, the more lookups of consecutive calls the
// out-of-order core keeps in flight at once.
func (w *Worker) track1(p *packet.Packet, drop *bool) {
	t := w.t
	k := &w.keys[0]
	kd := classifyKey(p, k)
	var h uint64
	var c uint32
	if kd == kNormal || kd == kRelated {
		h = t.h.hashKey(k)
		c = candidate(t.idx.buckets, t.idx.mask, h)
		if kd == kNormal {
			e := &t.slab[c>>1]
			d := Dir(c & 1)
			st := Status(e.status.Load())
			if k.is(&e.tup[d]) && st&(StatusConfirmed|StatusDying) == StatusConfirmed &&
				w.now-e.loadExpires() < 0 && e.tup[0].Proto != packet.ProtoTCP {
				w.established(p, c>>1, e, d, st)
				return
			}
		}
	}
	w.hs[0] = h
	w.trackSlow(0, kd, p, drop, c)
}

// candidate is the word (slot<<1 | dir) of the home bucket of hash h with
// its tag, or 0.
func candidate(buckets []bucket, mask, h uint64) uint32 {
	c := buckets[h&mask].pick(h)
	if (c^h)>>32 != 0 {
		c = 0
	}
	return uint32(c)
}

// trackSlow is the rest of trackBatch, for a packet whose key is w.keys[i].
func (w *Worker) trackSlow(i int, k kind, p *packet.Packet, drop *bool, c uint32) {
	t := w.t
	switch k {
	case kSkip:
		if p.CT != 0 {
			w.st[sIgnore]++
		}
	case kInvalid:
		w.invalid(p)
	case kUntracked:
		p.CT, p.CTInfo = 0, uint8(InfoUntracked)
	case kRelated:
		key := w.keys[i].tuple()
		slot, d, ok := t.find(&key, w.hs[i], w.now)
		if !ok {
			w.st[sError]++ // an error about no known connection
			w.invalid(p)
			return
		}
		w.st[sFound]++
		p.CT, p.CTInfo = slot, uint8(InfoRelated)
		if d == DirReply {
			p.CTInfo = uint8(InfoRelatedReply)
		}
	case kNormal:
		key := w.keys[i].tuple()
		if !w.trackOne(p, &key, w.hs[i], c) {
			*drop = true
		}
	}
}

// establishedInfo is the ctinfo of a packet of an established entry, by
// direction<<1 | SEEN_REPLY.
var establishedInfo = [4]uint8{uint8(InfoNew), uint8(InfoEstablished), uint8(InfoEstablishedReply), uint8(InfoEstablishedReply)}

// established is trackOne and update for a packet of a confirmed, live
// entry of a protocol other than TCP, in direction d: the packet path of
// most packets. st is the entry's status. It has no branch on the
// direction, and none that is not nearly always taken the same way.
func (w *Worker) established(p *packet.Packet, slot uint32, e *entry, d Dir, st Status) {
	t := w.t
	w.st[sFound]++
	timeout, assured := t.simpleTimeout(e, st, w.now)
	refresh(e, w.now+timeout)
	if assured && Status(e.status.Or(uint32(StatusAssured)))&StatusAssured == 0 {
		t.emit(EventUpdate, slot, e)
	}
	seen := uint32(st>>1) & 1 // StatusSeenReply
	p.CT, p.CTInfo = slot, establishedInfo[uint32(d)<<1|seen]
	if uint32(d)&^seen != 0 {
		// The first packet in the reply direction.
		w.seenReply(slot, e)
	}
	if t.opts.Accounting {
		e.acct[d&1].packets.Add(1)
		e.acct[d&1].bytes.Add(uint64(p.Len()))
	}
}

func (w *Worker) seenReply(slot uint32, e *entry) {
	if Status(e.status.Load())&(StatusSeenReply|StatusDying) == 0 &&
		Status(e.status.Or(uint32(StatusSeenReply)))&StatusSeenReply == 0 {
		w.t.emit(EventUpdate, slot, e)
	}
}

func (w *Worker) invalid(p *packet.Packet) {
	p.CT, p.CTInfo = 0, uint8(InfoNone)
	w.st[sInvalid]++
}

// trackOne tracks a packet with tuple key; false means drop it. cand is the
// entry the batch's probe found under key's tag, if any, tried first.
func (w *Worker) trackOne(p *packet.Packet, key *Tuple, h uint64, cand uint32) bool {
	t := w.t
	seg := &w.seg // reused: no zeroing per packet
	if key.Proto == packet.ProtoTCP {
		var ok bool
		if *seg, ok = parseTCP(p.Frame[p.L4Off:p.L3End]); !ok {
			w.invalid(p)
			return true
		}
	}
	for range 3 {
		var slot uint32
		var d Dir
		found := false
		if cand != 0 {
			slot, d, found = t.check(cand, key, w.now, true)
			cand = 0
		}
		if !found {
			slot, d, found = t.find(key, h, w.now)
		}
		pi := -1
		if found {
			w.st[sFound]++
		} else if pi = w.pendingFor(key, h); pi >= 0 {
			w.pend[pi].refs++
			slot, d = w.pend[pi].slot, DirOriginal
		} else {
			var ok bool
			slot, ok = w.create(key, h, seg)
			if slot == 0 {
				if ok {
					w.invalid(p) // cannot start a connection
					return true
				}
				p.CT, p.CTInfo = 0, uint8(InfoNone)
				w.st[sDrop]++
				return false
			}
			pi = len(w.pend) - 1
		}
		e := &t.slab[slot]
		switch w.update(p, slot, e, d, found, seg) {
		case vRepeat:
			t.kill(slot)
			continue
		case vInvalid:
			if pi >= 0 {
				w.release(pi)
			}
			w.invalid(p)
			return true
		}
		p.CT = slot
		if d == DirReply {
			p.CTInfo = uint8(InfoEstablishedReply)
			w.seenReply(slot, e)
		} else if Status(e.status.Load())&StatusSeenReply != 0 {
			p.CTInfo = uint8(InfoEstablished)
		} else {
			p.CTInfo = uint8(InfoNew)
		}
		if t.opts.Accounting {
			e.acct[d].packets.Add(1)
			e.acct[d].bytes.Add(uint64(p.Len()))
		}
		return true
	}
	w.invalid(p)
	return true
}

// refreshSlack: a timeout that would move the expiry later by less than this
// is not written, to spare a store per packet (the clock is coarse anyway).
const refreshSlack = 1 << 27 // ~134ms

func refresh(e *entry, exp int64) {
	if d := exp - e.loadExpires(); d < 0 || d > refreshSlack {
		e.storeExpires(exp)
	}
}

// update runs the protocol tracker on an entry and applies its result.
func (w *Worker) update(p *packet.Packet, slot uint32, e *entry, d Dir, confirmed bool, seg *tcpSeg) verdict {
	t := w.t
	st := Status(e.status.Load())
	if e.tup[0].Proto != packet.ProtoTCP {
		v, timeout, assured := t.simplePacket(e, st, confirmed, w.now)
		if v != vAccept {
			return v
		}
		refresh(e, w.now+timeout)
		if assured && Status(e.status.Or(uint32(StatusAssured)))&StatusAssured == 0 {
			t.emit(EventUpdate, slot, e)
		}
		return vAccept
	}
	e.mu.lock()
	r := t.tcpPacket(&e.proto.tcp, st, d, seg, e.loadExpires(), w.now)
	e.mu.unlock()
	switch r.v {
	case vInvalid:
		if r.expires != 0 {
			e.storeExpires(r.expires)
		}
		return vInvalid
	case vRepeat:
		if !confirmed {
			return vAccept
		}
		return vRepeat
	}
	if r.timeout != 0 {
		refresh(e, w.now+r.timeout)
	}
	event := r.changed
	if r.assured && Status(e.status.Or(uint32(StatusAssured)))&StatusAssured == 0 {
		event = true
	}
	if r.kill {
		if confirmed {
			t.kill(slot)
		} else {
			e.status.Or(uint32(StatusDying))
		}
		return vAccept
	}
	if event && confirmed {
		t.emit(EventUpdate, slot, e)
	}
	return vAccept
}

// create makes an unconfirmed entry for key. slot 0 with ok means the packet
// cannot start a connection (INVALID); slot 0 without ok means no room.
func (w *Worker) create(key *Tuple, h uint64, seg *tcpSeg) (slot uint32, ok bool) {
	t := w.t
	if !key.invertible() {
		return 0, true
	}
	var st tcpState
	if key.Proto == packet.ProtoTCP && !t.tcpNew(&st, seg) {
		return 0, true
	}
	if t.count.Add(1) > t.max {
		if !t.earlyDrop(h, w.now) {
			t.count.Add(-1)
			return 0, false
		}
		w.st[sEarlyDrop]++
	}
	slot = w.allocSlot()
	if slot == 0 {
		t.count.Add(-1)
		return 0, false
	}
	e := &t.slab[slot]
	t.gens[slot].Add(1)
	e.tup[0] = *key
	key.invertTo(&e.tup[1])
	// Private until published: plain writes, and one atomic store last.
	e.mark, e.nat, e.expires = 0, 0, w.now
	e.proto = protoState{tcp: st}
	if t.opts.Accounting {
		for d := range e.acct {
			e.acct[d].packets.Store(0)
			e.acct[d].bytes.Store(0)
		}
	}
	e.status.Store(uint32(statusAlloc))
	// Confirm will probe the reply tuple's bucket: fetch it now.
	h1 := t.h.hash(&e.tup[1])
	prefetchBucket(&t.idx.buckets[h1&t.idx.mask])
	w.pend = append(w.pend, pending{slot: slot, refs: 1, h: h, h1: h1})
	w.pendSeen[h>>60] |= 1 << (h >> 54 & 63)
	w.st[sNew]++
	return slot, true
}

func (w *Worker) allocSlot() uint32 {
	if len(w.cache) == 0 {
		n := w.t.allocSlots(w.cache[:cap(w.cache)/2])
		w.cache = w.cache[:n]
		if n == 0 {
			return 0
		}
	}
	s := w.cache[len(w.cache)-1]
	w.cache = w.cache[:len(w.cache)-1]
	return s
}

// pendingFor finds an unconfirmed entry of this worker with original tuple
// key: a second packet of a new connection in the same batch joins it.
func (w *Worker) pendingFor(key *Tuple, h uint64) int {
	if w.pendSeen[h>>60]&(1<<(h>>54&63)) == 0 {
		return -1
	}
	for i := w.pendHead; i < len(w.pend); i++ {
		if w.pend[i].h == h && w.pend[i].slot != 0 && w.t.slab[w.pend[i].slot].tup[0].equal(key) {
			return i
		}
	}
	return -1
}

func (w *Worker) pendingSlot(slot uint32) int {
	if slot == 0 {
		return -1
	}
	for i := w.pendHead; i < len(w.pend); i++ {
		if w.pend[i].slot == slot {
			return i
		}
	}
	return -1
}

// release drops one packet's hold on pending entry i and frees the entry
// when no packet holds it.
func (w *Worker) release(i int) {
	pd := &w.pend[i]
	if pd.refs--; pd.refs > 0 {
		return
	}
	t := w.t
	t.slab[pd.slot].status.Store(0)
	t.count.Add(-1)
	if len(w.cache) < cap(w.cache) {
		w.cache = append(w.cache, pd.slot)
	} else {
		t.returnSlots([]uint32{pd.slot})
	}
	w.dropPending(i)
}

func (w *Worker) dropPending(i int) {
	// Entries are confirmed mostly in the order they were made: the entry
	// is marked gone (slot 0) and the live ones stay in order between
	// pendHead and the end, both of which are kept on a live entry, so that
	// pendingSlot finds the next one to confirm first.
	w.pend[i] = pending{}
	for w.pendHead < len(w.pend) && w.pend[w.pendHead].slot == 0 {
		w.pendHead++
	}
	for len(w.pend) > w.pendHead && w.pend[len(w.pend)-1].slot == 0 {
		w.pend = w.pend[:len(w.pend)-1]
	}
	if w.pendHead == len(w.pend) {
		w.pend, w.pendHead = w.pend[:0], 0
		w.pendSeen = [16]uint64{}
	}
}

// Confirm runs at the end of POSTROUTING and INPUT (priority MaxInt32,
// nf_conntrack_confirm): it inserts the packet's unconfirmed entry into the
// table. It returns false if the packet must be dropped: its tuple clashed
// with an entry inserted meanwhile and the clash cannot be resolved
// (insert_failed). A clash of a UDP, ICMP or generic entry with an identical
// one is resolved by moving the packet to the existing entry (clash_resolve).
func (w *Worker) Confirm(p *packet.Packet) bool {
	slot := p.CT
	if slot == 0 {
		return true
	}
	t := w.t
	e := &t.slab[slot]
	st := Status(e.status.Load())
	if st&StatusConfirmed != 0 {
		return true
	}
	pi := w.pendingSlot(slot)
	if pi < 0 {
		return true
	}
	if st&StatusDying != 0 {
		w.release(pi)
		return true
	}
	h0, h1 := w.pend[pi].h, w.pend[pi].h1
	var a, b *stripe
	for try := 0; ; try++ {
		a, b = t.lock2(h0, h1)
		other, clash := t.clashes(&e.tup[0], h0)
		if !clash {
			other, clash = t.clashes(&e.tup[1], h1)
		}
		if !clash {
			break
		}
		unlock2(a, b)
		if try < 2 && w.now-t.slab[other].loadExpires() >= 0 {
			t.kill(other) // an expired entry in the way: delete it, try again
			continue
		}
		return w.clash(p, pi, e, other)
	}
	if !t.idx.insert(h0, slot, DirOriginal) || !t.idx.insert(h1, slot, DirReply) {
		panic("conntrack: index full") // sized for every slot: cannot happen
	}
	e.status.Or(uint32(StatusConfirmed))
	unlock2(a, b)
	w.dropPending(pi)
	w.st[sInsert]++
	t.emit(EventNew, slot, e)
	return true
}

func (w *Worker) clash(p *packet.Packet, pi int, e *entry, other uint32) bool {
	t := w.t
	o := &t.slab[other]
	if allowClash(e.tup[0].Proto) && o.tup[0] == e.tup[0] && o.tup[1] == e.tup[1] {
		w.release(pi)
		p.CT = other
		if Status(o.status.Load())&StatusSeenReply != 0 {
			p.CTInfo = uint8(InfoEstablished)
		}
		w.st[sClashResolve]++
		return true
	}
	w.release(pi)
	p.CT, p.CTInfo = 0, uint8(InfoNone)
	w.st[sInsertFailed]++
	w.st[sDrop]++
	return false
}

// Abandon releases the unconfirmed entry of a packet that was dropped
// before confirmation, so that a dropped first packet leaves no entry. It
// does nothing for a confirmed entry.
func (w *Worker) Abandon(p *packet.Packet) {
	if p.CT == 0 {
		return
	}
	if Status(w.t.slab[p.CT].status.Load())&StatusConfirmed != 0 {
		return
	}
	if pi := w.pendingSlot(p.CT); pi >= 0 {
		w.release(pi)
		p.CT = 0
	}
}

// Hold takes the unconfirmed entry that p carries, if any, out of this
// worker's pending entries, for a packet that leaves its batch before its
// verdict (a QUEUE verdict): Quiesce would abandon it, while the kernel
// keeps a queued packet's conntrack until the packet is re-injected. The
// worker that goes on with the packet takes the entry back with Adopt,
// then confirms or abandons it as usual. Other packets of the batch that
// joined the same new connection find it gone and leave it alone (Confirm
// and Abandon see an entry that is not theirs). A packet that is never
// re-injected keeps its entry, and its slot, for good.
func (w *Worker) Hold(p *packet.Packet) {
	pi := w.pendingSlot(p.CT)
	if pi < 0 {
		return
	}
	pd := w.pend[pi]
	pd.refs = 1
	w.dropPending(pi)
	t := w.t
	t.heldMu.Lock()
	if t.held == nil {
		t.held = make(map[uint32]pending)
	}
	t.held[pd.slot] = pd
	t.heldMu.Unlock()
}

// Adopt makes the entry that Hold took for p a pending entry of this
// worker. It does nothing for a packet whose entry was not held.
func (w *Worker) Adopt(p *packet.Packet) {
	if p.CT == 0 {
		return
	}
	t := w.t
	t.heldMu.Lock()
	pd, ok := t.held[p.CT]
	if ok {
		delete(t.held, p.CT)
	}
	t.heldMu.Unlock()
	if ok {
		w.pend = append(w.pend, pd)
		w.pendSeen[pd.h>>60] |= 1 << (pd.h >> 54 & 63)
	}
}

// Held is how many entries Hold holds for packets not yet re-injected.
func (t *Table) Held() int {
	t.heldMu.Lock()
	defer t.heldMu.Unlock()
	return len(t.held)
}

// SetReplyTuple changes the reply tuple of an unconfirmed entry of this
// worker, as nf_nat_setup_info does through nf_conntrack_alter_reply. It
// fails with ErrConfirmed once the entry is confirmed.
func (w *Worker) SetReplyTuple(slot uint32, r Tuple) error {
	pi := w.pendingSlot(slot)
	if pi < 0 {
		return ErrConfirmed
	}
	w.t.slab[slot].tup[1] = r
	w.pend[pi].h1 = w.t.h.hash(&r)
	return nil
}

// Prefetch starts fetching the index bucket that TupleTaken(r, ...) reads
// and returns at once, so that a search that will try several tuples has
// their cache misses overlap. It returns r's hash, for TupleTakenHash.
func (w *Worker) Prefetch(r *Tuple) uint64 {
	t := w.t
	h := t.h.hash(r)
	prefetchBucket(&t.idx.buckets[h&t.idx.mask])
	return h
}

// TupleTaken reports whether a connection other than slot ignore uses tuple
// r in either direction (nf_conntrack_tuple_taken), counting this worker's
// unconfirmed entries. NAT calls it with a candidate reply tuple.
func (w *Worker) TupleTaken(r *Tuple, ignore uint32) bool {
	return w.TupleTakenHash(r, w.t.h.hash(r), ignore)
}

// TupleTakenHash is TupleTaken for a tuple whose hash Prefetch returned.
func (w *Worker) TupleTakenHash(r *Tuple, h uint64, ignore uint32) bool {
	t := w.t
	t.enter(w.r)
	if s, _, ok := t.find(r, h, t.clock()); ok && s != ignore {
		return true
	}
	return w.pendingTaken(r, ignore)
}

// TupleMayBeTaken is TupleTakenHash without reading the entries of the
// connections in the table, which are cache misses: false means, as
// TupleTakenHash's false, that no connection other than ignore uses r;
// true that one probably does (or did: it may have expired). A search that
// may pick any free tuple skips the probable ones, and asks TupleTakenHash
// only if it finds nothing else.
func (w *Worker) TupleMayBeTaken(r *Tuple, h uint64, ignore uint32) bool {
	t := w.t
	t.enter(w.r)
	return t.mayHold(h, ignore) || w.pendingTaken(r, ignore)
}

// pendingTaken reports whether one of the worker's unconfirmed entries
// other than ignore has tuple r.
func (w *Worker) pendingTaken(r *Tuple, ignore uint32) bool {
	t := w.t
	for _, pd := range w.pend {
		if e := &t.slab[pd.slot]; pd.slot != 0 && pd.slot != ignore && (e.tup[1].equal(r) || e.tup[0].equal(r)) {
			return true
		}
	}
	return false
}
