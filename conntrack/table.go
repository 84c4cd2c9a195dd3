package conntrack

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Table. The zero value is the kernel's defaults.
type Options struct {
	// Max is the most entries, confirmed or not (nf_conntrack_max).
	// 0: 262144.
	Max int
	// Buckets is the number of 64-byte index buckets (seven words each,
	// two words per entry), rounded up to a power of two. 0: enough for
	// Max at a load of at most 5/7.
	Buckets int
	// Timeouts per protocol and state; zero fields take the kernel's.
	Timeouts Timeouts
	// Liberal marks only out-of-window RSTs INVALID
	// (nf_conntrack_tcp_be_liberal=1).
	Liberal bool
	// TCPNoLoose stops picking up TCP connections that were open before
	// nfgo started (nf_conntrack_tcp_loose=0). The default picks them up.
	TCPNoLoose bool
	// MaxRetrans is nf_conntrack_tcp_max_retrans. 0: 3.
	MaxRetrans int
	// Accounting keeps per-direction packet and byte counters
	// (nf_conntrack_acct=1). Off by default, as in the kernel: it costs
	// two atomic adds per packet.
	Accounting bool
	// Clock returns monotonic nanoseconds. It is read once per Track call.
	// nil: a coarse clock, the time since New read every millisecond by the
	// sweeper goroutine (or read directly when SweepInterval < 0). Tests
	// pass a fake clock.
	Clock func() int64
	// SweepInterval is how often a background goroutine deletes expired
	// entries (the kernel's gc_worker). 0: one second. Negative: no
	// goroutine; call Sweep. Entries are also deleted when a lookup meets
	// them expired.
	SweepInterval time.Duration
	// EventBuffer is the capacity of the event ring. 0: no events.
	EventBuffer int
	// HashSeed seeds the tuple hash. 0: random, from crypto/rand.
	HashSeed uint64
	// Defrag configures IPv4/IPv6 reassembly (Worker.Defrag).
	Defrag DefragOptions
}

// ErrConfirmed is returned when changing what only an unconfirmed entry
// may change.
var ErrConfirmed = errors.New("conntrack: entry already confirmed")

// Table is the connection table. Its methods are safe for concurrent use;
// packets go through Workers.
type Table struct {
	opts   Options
	slab   []entry
	gens   []atomic.Uint32 // per slot: how many entries it has held (ID)
	idx    index
	locks  []stripe
	lmask  uint64
	h      hasher
	clock  func() int64
	coarse atomic.Int64 // the default clock's last reading
	tick   func() int64 // reads the time for coarse; nil with Options.Clock
	max    int64
	count  atomic.Int64

	tcpTimeouts [tcpTimeoutMax]int64
	to          struct{ udp, udpStream, icmp, icmpv6, generic int64 }
	maxRetrans  int

	epoch   atomic.Uint64
	readers atomic.Pointer[[]*reader]
	pool    slotPool

	mu      sync.Mutex // readers and workers lists
	workers []*Worker
	retired [nStats]atomic.Uint64 // statistics of closed workers and of the table itself

	ctlMu sync.Mutex // one control-plane reader at a time (List, Sweep...)
	ctl   *reader

	events *eventRing
	frag   *defragger

	heldMu sync.Mutex
	held   map[uint32]pending // unconfirmed entries of queued packets (Hold)

	stop chan struct{}
	done chan struct{}
}

type stripe struct {
	sync.Mutex
	_ [56]byte
}

// New makes a table. Close stops its sweeper.
func New(opts Options) *Table {
	if opts.Max <= 0 {
		opts.Max = 262144
	}
	if opts.MaxRetrans <= 0 {
		opts.MaxRetrans = 3
	}
	opts.Timeouts = opts.Timeouts.withDefaults()
	t := &Table{opts: opts, max: int64(opts.Max), maxRetrans: opts.MaxRetrans}
	t.clock = opts.Clock
	if t.clock == nil {
		start := time.Now()
		direct := func() int64 { return int64(time.Since(start)) }
		t.clock = direct
		if opts.SweepInterval >= 0 {
			// A coarse clock: the sweeper goroutine reads the time every
			// millisecond, the packet path loads it.
			t.coarse.Store(direct())
			t.tick = direct
			t.clock = t.coarse.Load
		}
	}
	seed := opts.HashSeed
	if seed == 0 {
		var b [8]byte
		rand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	for i := range t.h.s {
		seed += 0x9e3779b97f4a7c15 // splitmix64
		z := seed
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		t.h.s[i] = z ^ z>>31
	}
	// Slots beyond Max hold deleted entries waiting for their grace period.
	t.slab = make([]entry, opts.Max+opts.Max/16+1024)
	t.gens = make([]atomic.Uint32, len(t.slab))
	t.pool.next = 1 // slot 0 means "no entry"
	if opts.Buckets > 0 {
		t.idx = newIndex(opts.Buckets * 5)
	} else {
		t.idx = newIndex(2 * len(t.slab))
	}
	nl := uint64(1024)
	for nl > uint64(len(t.idx.buckets)) {
		nl >>= 1
	}
	t.locks = make([]stripe, nl)
	t.lmask = nl - 1
	adviseHuge(t.slab, t.idx.buckets)
	t.tcpTimeouts = opts.Timeouts.tcpTable()
	t.to.udp = int64(opts.Timeouts.UDP)
	t.to.udpStream = int64(opts.Timeouts.UDPStream)
	t.to.icmp = int64(opts.Timeouts.ICMP)
	t.to.icmpv6 = int64(opts.Timeouts.ICMPv6)
	t.to.generic = int64(opts.Timeouts.Generic)

	t.epoch.Store(1)
	t.ctl = new(reader)
	t.readers.Store(&[]*reader{t.ctl})
	if opts.EventBuffer > 0 {
		t.events = newEventRing(opts.EventBuffer)
	}
	t.frag = newDefragger(opts.Defrag)
	if opts.SweepInterval >= 0 {
		iv := opts.SweepInterval
		if iv == 0 {
			iv = time.Second
		}
		t.stop, t.done = make(chan struct{}), make(chan struct{})
		go t.sweeper(iv)
	}
	return t
}

// Close stops the background sweeper. The table stays usable.
func (t *Table) Close() {
	if t.stop != nil {
		close(t.stop)
		<-t.done
		t.stop = nil
	}
}

func (t *Table) now() int64 { return t.clock() }

// Count is the number of entries, confirmed or not (the kernel's
// nf_conntrack_count).
func (t *Table) Count() int { return int(t.count.Load()) }

// Max is the entry limit.
func (t *Table) Max() int { return int(t.max) }

// lock2 locks the stripes of two hashes in order and returns the unlock.
func (t *Table) lock2(h0, h1 uint64) (a, b *stripe) {
	i, j := h0&t.lmask, h1&t.lmask
	if i > j {
		i, j = j, i
	}
	a = &t.locks[i]
	a.Lock()
	if j != i {
		b = &t.locks[j]
		b.Lock()
	}
	return a, b
}

func unlock2(a, b *stripe) {
	if b != nil {
		b.Unlock()
	}
	a.Unlock()
}

// find looks key up. The caller is inside a read section (enter). An entry
// met expired is killed and skipped, as nf_ct_gc_expired; a dying one is
// skipped.
func (t *Table) find(key *Tuple, h uint64, now int64) (slot uint32, d Dir, ok bool) {
	return t.lookup(key, h, now, true)
}

// clashes reports a live entry with tuple key, expired or not; the caller
// holds its stripe (so nothing is killed here).
func (t *Table) clashes(key *Tuple, h uint64) (uint32, bool) {
	s, _, ok := t.lookup(key, h, 0, false)
	return s, ok
}

// lookup is find, killing what it meets expired when expire is set, else
// taking expiry as it comes.
func (t *Table) lookup(key *Tuple, h uint64, now int64, expire bool) (slot uint32, d Dir, ok bool) {
	tag := h >> 32
	b := h & t.idx.mask
	for range len(t.idx.buckets) {
		bk := &t.idx.buckets[b]
		// A free word is 0; its tag can equal tag only when tag is 0, and
		// then slot 0's zero tuple never equals a key. pick tells, without
		// a branch per word, whether any word has the tag.
		if (bk.pick(h)^h)>>32 != 0 {
			goto next
		}
		for m := bk.match(tag); m != 0; m &= m - 1 {
			w := bk.w[bits.TrailingZeros32(m)].Load()
			if s, dir, ok := t.check(uint32(w), key, now, expire); ok {
				return s, dir, true
			}
		}
	next:
		if bk.ovf.Load() == 0 {
			break
		}
		b = (b + 1) & t.idx.mask
	}
	return 0, 0, false
}

// mayHold reports whether the index has a word with the tag of hash h for
// a slot other than ignore. False means that no entry's tuple has hash h;
// true that one probably does (tags are 32 bits), maybe an expired one. It
// reads the index only, not the entries.
func (t *Table) mayHold(h uint64, ignore uint32) bool {
	tag := h >> 32
	b := h & t.idx.mask
	for range len(t.idx.buckets) {
		bk := &t.idx.buckets[b]
		for m := bk.match(tag); m != 0; m &= m - 1 {
			if w := bk.w[bits.TrailingZeros32(m)].Load(); w != 0 && uint32(w)>>1 != ignore {
				return true
			}
		}
		if bk.ovf.Load() == 0 {
			break
		}
		b = (b + 1) & t.idx.mask
	}
	return false
}

// check tells whether candidate c (slot<<1 | dir) is the live entry of key;
// with expire, an expired one is killed and is not.
func (t *Table) check(c uint32, key *Tuple, now int64, expire bool) (uint32, Dir, bool) {
	s, dir := c>>1, Dir(c&1)
	e := &t.slab[s]
	if !e.tuple(dir).equal(key) || Status(e.status.Load())&StatusDying != 0 {
		return 0, 0, false
	}
	if expire && now-e.loadExpires() >= 0 {
		t.kill(s)
		return 0, 0, false
	}
	return s, dir, true
}

// kill deletes a confirmed entry: marks it dying (one caller wins), takes
// its words out of the index, emits DESTROY and retires the slot. It reports
// whether this call deleted it.
func (t *Table) kill(slot uint32) bool {
	if !t.unlink(slot) {
		return false
	}
	t.retire(slot)
	return true
}

// unlink is kill without the retire.
func (t *Table) unlink(slot uint32) bool {
	h0, h1 := t.hashes(slot)
	if !t.unlinkHashed(slot, h0, h1) {
		return false
	}
	t.count.Add(-1)
	return true
}

// hashes are the hashes of the two tuples of the entry in slot.
func (t *Table) hashes(slot uint32) (h0, h1 uint64) {
	e := &t.slab[slot]
	return t.h.hash(&e.tup[0]), t.h.hash(&e.tup[1])
}

// unlinkHashed is unlink with the hashes of the entry's tuples, without
// the count's update, which the caller makes (killBatch once for many: an
// atomic add is a full barrier).
func (t *Table) unlinkHashed(slot uint32, h0, h1 uint64) bool {
	e := &t.slab[slot]
	for {
		st := e.status.Load()
		if Status(st)&StatusConfirmed == 0 || Status(st)&StatusDying != 0 {
			return false
		}
		if e.status.CompareAndSwap(st, st|uint32(StatusDying)) {
			break
		}
	}
	a, b := t.lock2(h0, h1)
	t.idx.remove(h0, slot, DirOriginal)
	t.idx.remove(h1, slot, DirReply)
	unlock2(a, b)
	t.emit(EventDestroy, slot, e)
	return true
}

// killBatch kills the entries in slots, which were seen expired or
// selected, and returns how many it deleted. It loads their home buckets
// first so that the misses overlap, and retires the slots under one lock.
func (t *Table) killBatch(slots []uint32) int {
	var hs [2 * sweepBatchMax]uint64
	for i, s := range slots[:min(len(slots), sweepBatchMax)] {
		h0, h1 := t.hashes(s)
		hs[2*i], hs[2*i+1] = h0, h1
		prefetchBucket(&t.idx.buckets[h0&t.idx.mask])
		prefetchBucket(&t.idx.buckets[h1&t.idx.mask])
	}
	n := 0
	for i, s := range slots {
		var ok bool
		if i < sweepBatchMax {
			ok = t.unlinkHashed(s, hs[2*i], hs[2*i+1])
		} else {
			h0, h1 := t.hashes(s)
			ok = t.unlinkHashed(s, h0, h1)
		}
		if ok {
			slots[n] = s
			n++
		}
	}
	t.count.Add(-int64(n))
	t.retireMany(slots[:n])
	return n
}

// sweepBatchMax is how many slots killBatch hashes ahead.
const sweepBatchMax = 64

// earlyDropScan is how many buckets early drop looks at
// (NF_CT_EVICTION_RANGE).
const earlyDropScan = 8

// earlyDrop makes room for a new entry whose hash is h by deleting a
// confirmed entry that is not assured, or expired, or closing, from the
// buckets near h (early_drop). The caller is inside a read section.
func (t *Table) earlyDrop(h uint64, now int64) bool {
	b := h & t.idx.mask
	for range earlyDropScan {
		bk := &t.idx.buckets[b]
		for i := range bk.w {
			w := bk.w[i].Load()
			if w == 0 {
				continue
			}
			s := uint32(w) >> 1
			e := &t.slab[s]
			st := Status(e.status.Load())
			if st&StatusConfirmed == 0 || st&StatusDying != 0 {
				continue
			}
			drop := st&StatusAssured == 0 || now-e.loadExpires() >= 0
			if !drop && e.tup[0].Proto == protoTCP {
				e.mu.lock()
				drop = tcpCanEarlyDrop(TCPState(e.proto.tcp.state))
				e.mu.unlock()
			}
			if drop && t.kill(s) {
				return true
			}
		}
		b = (b + 1) & t.idx.mask
	}
	return false
}

const protoTCP = 6

// memory is the bytes the table's slab and index take.
func (t *Table) memory() int {
	return len(t.slab)*entrySize + len(t.idx.buckets)*64
}
