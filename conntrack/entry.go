package conntrack

import (
	"runtime"
	"sync/atomic"
	"time"

	"github.com/nfgo/nfgo/packet"
)

// Status is the entry's status word, with the kernel's IPS_* bit values
// (include/uapi/linux/netfilter/nf_conntrack_common.h).
type Status uint32

const (
	StatusExpected     Status = 1 << 0  // IPS_EXPECTED
	StatusSeenReply    Status = 1 << 1  // IPS_SEEN_REPLY
	StatusAssured      Status = 1 << 2  // IPS_ASSURED
	StatusConfirmed    Status = 1 << 3  // IPS_CONFIRMED
	StatusSrcNAT       Status = 1 << 4  // IPS_SRC_NAT
	StatusDstNAT       Status = 1 << 5  // IPS_DST_NAT
	StatusSeqAdjust    Status = 1 << 6  // IPS_SEQ_ADJUST
	StatusSrcNATDone   Status = 1 << 7  // IPS_SRC_NAT_DONE
	StatusDstNATDone   Status = 1 << 8  // IPS_DST_NAT_DONE
	StatusDying        Status = 1 << 9  // IPS_DYING
	StatusFixedTimeout Status = 1 << 10 // IPS_FIXED_TIMEOUT
	StatusNATClash     Status = 1 << 12 // IPS_NAT_CLASH

	// statusAlloc marks a slot that holds an entry, confirmed or not. An
	// unconfirmed entry may be read (Entry, Tuple) only by the worker that
	// created it, through the packet that carries its slot.
	statusAlloc Status = 1 << 30

	statusPrivate = statusAlloc

	// StatusNATMask are the bits the nat package may set with SetStatus.
	StatusNATMask = StatusSrcNAT | StatusDstNAT | StatusSeqAdjust | StatusSrcNATDone | StatusDstNATDone
)

// Counter is one direction's packet and byte count (nf_conn_acct).
type Counter struct {
	Packets, Bytes uint64
}

// entry is one connection in the slab. It holds no pointers, so the
// garbage collector does not scan the slab.
//
// tuple is written before the entry is published (by Confirm, through an
// atomic index store) and not changed while it is published; the reply
// tuple may change before that (SetReplyTuple, for NAT). The other fields
// that readers share are atomics; the protocol state is guarded by mu (the
// kernel's ct->lock).
type entry struct {
	// First cache line: what a lookup in the original direction reads: the
	// shared fields, then the original tuple. The reply tuple starts the
	// second line. The tuples are an array so that the one of a direction is
	// picked by index, without a branch on the direction (a lookup's
	// direction comes from its index word, a cache miss: a mispredicted
	// branch on it would stall the packets behind it).
	status  atomic.Uint32 // Status
	mark    uint32        // connmark (atomic once published)
	expires int64         // clock value at which it times out (atomic once published)
	nat     uint32        // free for the nat package (atomic once published)
	mu      spinLock      // guards proto (the kernel's ct->lock)
	tup     [2]Tuple      // by Dir: tup[0] ends the first line, tup[1] starts the second

	proto protoState
	acct  [2]struct{ packets, bytes atomic.Uint64 }
}

// entrySize is the size the layout above is made for: three cache lines.
const entrySize = 192

// mark, expires and nat are plain fields so that create can fill them
// without a fence per field while the entry is private; once it is
// published they are read and written with these atomic accessors.
func (e *entry) loadMark() uint32     { return atomic.LoadUint32(&e.mark) }
func (e *entry) loadExpires() int64   { return atomic.LoadInt64(&e.expires) }
func (e *entry) storeExpires(v int64) { atomic.StoreInt64(&e.expires, v) }
func (e *entry) loadNAT() uint32      { return atomic.LoadUint32(&e.nat) }

func (e *entry) tuple(d Dir) *Tuple { return &e.tup[d&1] }

// spinLock is a 4-byte lock for the protocol state, held for a few hundred
// nanoseconds at most. Contention is rare: it needs the two directions of one
// connection in two workers at the same instant.
type spinLock struct{ v atomic.Uint32 }

func (l *spinLock) lock() {
	for i := 0; !l.v.CompareAndSwap(0, 1); i++ {
		if i > 64 {
			runtime.Gosched()
		}
	}
}

func (l *spinLock) unlock() { l.v.Store(0) }

// Entry is a copy of one connection, for rules, NAT and the control plane.
type Entry struct {
	Slot     uint32
	Orig     Tuple // the original direction (tuplehash[IP_CT_DIR_ORIGINAL])
	Reply    Tuple // the reply direction, after NAT
	Status   Status
	Mark     uint32
	Zone     uint16
	Expires  int64         // clock value at which it times out
	Timeout  time.Duration // time left, at the moment of the copy
	TCPState TCPState      // TCPNone for other protocols
	Counters [2]Counter    // per direction; zero unless Options.Accounting
	NATData  uint32
}

// Entry returns a copy of the entry in slot, and false if the slot holds no
// confirmed or in-use entry. Slot numbers come from packet.Packet.CT.
func (t *Table) Entry(slot uint32) (Entry, bool) {
	if slot == 0 || int(slot) >= len(t.slab) {
		return Entry{}, false
	}
	e := &t.slab[slot]
	st := Status(e.status.Load())
	if st&(StatusConfirmed|statusAlloc) == 0 {
		return Entry{}, false
	}
	return t.snapshot(slot, e, st&^statusPrivate), true
}

func (t *Table) snapshot(slot uint32, e *entry, st Status) Entry {
	x := Entry{
		Slot:    slot,
		Orig:    e.tup[0],
		Reply:   e.tup[1],
		Status:  st,
		Mark:    e.loadMark(),
		Zone:    e.tup[0].Zone,
		Expires: e.loadExpires(),
		NATData: e.loadNAT(),
	}
	x.Timeout = time.Duration(x.Expires - t.now())
	if x.Timeout < 0 {
		x.Timeout = 0
	}
	if x.Orig.Proto == packet.ProtoTCP {
		e.mu.lock()
		x.TCPState = TCPState(e.proto.tcp.state)
		e.mu.unlock()
	}
	for d := range 2 {
		x.Counters[d] = Counter{e.acct[d].packets.Load(), e.acct[d].bytes.Load()}
	}
	return x
}

// Tuple is the tuple of one direction of the entry in slot.
func (t *Table) Tuple(slot uint32, d Dir) Tuple { return *t.slab[slot].tuple(d & 1) }

// CopyTuple is Tuple written into dst, without the copy through the stack
// that returning 40 bytes costs.
func (t *Table) CopyTuple(dst *Tuple, slot uint32, d Dir) { *dst = *t.slab[slot].tuple(d & 1) }

// Status is the status word of the entry in slot.
func (t *Table) Status(slot uint32) Status {
	return Status(t.slab[slot].status.Load()) &^ statusPrivate
}

// SetStatus sets the bits of set that are in StatusNATMask.
func (t *Table) SetStatus(slot uint32, set Status) {
	t.slab[slot].status.Or(uint32(set & StatusNATMask))
}

// Mark is the connmark of the entry in slot (ct mark).
func (t *Table) Mark(slot uint32) uint32 { return t.slab[slot].loadMark() }

// SetMark sets the connmark (ct mark set). An UPDATE event follows if it
// changed.
func (t *Table) SetMark(slot uint32, mark uint32) {
	e := &t.slab[slot]
	if atomic.SwapUint32(&e.mark, mark) != mark && Status(e.status.Load())&StatusConfirmed != 0 {
		t.emit(EventUpdate, slot, e)
	}
}

// NATData and SetNATData keep 32 bits for the nat package on the entry.
func (t *Table) NATData(slot uint32) uint32       { return t.slab[slot].loadNAT() }
func (t *Table) SetNATData(slot uint32, v uint32) { atomic.StoreUint32(&t.slab[slot].nat, v) }

// TCPStateOf is the TCP state of the entry in slot.
func (t *Table) TCPStateOf(slot uint32) TCPState {
	e := &t.slab[slot]
	e.mu.lock()
	s := TCPState(e.proto.tcp.state)
	e.mu.unlock()
	return s
}

// Counters are the entry's per-direction counters (Options.Accounting).
func (t *Table) Counters(slot uint32) [2]Counter {
	e := &t.slab[slot]
	return [2]Counter{
		{e.acct[0].packets.Load(), e.acct[0].bytes.Load()},
		{e.acct[1].packets.Load(), e.acct[1].bytes.Load()},
	}
}
