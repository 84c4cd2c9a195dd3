package conntrack

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

func TestEntryIsThreeCacheLines(t *testing.T) {
	if s := unsafe.Sizeof(entry{}); s != entrySize {
		t.Fatalf("entry is %d bytes, want %d", s, entrySize)
	}
	if s := unsafe.Sizeof(bucket{}); s != 64 {
		t.Fatalf("bucket is %d bytes", s)
	}
	if o := unsafe.Offsetof(entry{}.tup) + unsafe.Sizeof(Tuple{}); o != 64 {
		t.Fatalf("reply tuple at %d, want 64", o)
	}
}

func TestTupleInvertAndString(t *testing.T) {
	k := TupleFrom(client, server, packet.ProtoTCP)
	r, ok := k.invert()
	if !ok || r.SrcAddr() != server.Addr() || r.DstPort != client.Port() {
		t.Fatalf("invert %v", r)
	}
	if s := k.String(); s != "tcp src=198.18.0.1 dst=198.19.0.1 sport=40000 dport=80" {
		t.Fatalf("String %q", s)
	}
}

// flowPkt builds a UDP packet of flow i (i odd: IPv6) in direction d.
func flowPkt(tb testing.TB, i int, reply bool) *packet.Packet {
	var a, b netip.Addr
	if i%2 == 0 {
		a = netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		b = netip.MustParseAddr("198.19.0.1")
	} else {
		a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)})
		b = netip.MustParseAddr("2001:db8::ffff")
	}
	src, dst := netip.AddrPortFrom(a, uint16(1024+i)), netip.AddrPortFrom(b, 53)
	if reply {
		src, dst = dst, src
	}
	return pktbuild.Parsed(tb, pktbuild.UDP(src, dst, []byte("x"), nil))
}

func TestSYNFloodEarlyDropsButEstablishedConnectionsKeepWorking(t *testing.T) {
	tab, _ := newTestTable(t, Options{Max: 1024})
	w := tab.NewWorker()
	const nest = 200
	var convs []*conv
	for i := range nest {
		c := newConv(t, tab)
		c.w = w
		c.cli = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 1, byte(i)}), uint16(2000+i))
		c.handshake()
		convs = append(convs, c)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	accepted := 0
	for i := range 20000 {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 200 + byte(i%50), byte(rng.IntN(256))}), uint16(rng.IntN(60000)+1024))
		if through(w, pktbuild.Parsed(t, pktbuild.TCP4(src, server, fS, rng.Uint32(), 0, nil))) {
			accepted++
		}
		if tab.Count() > tab.Max() {
			t.Fatalf("count %d over max", tab.Count())
		}
	}
	st := tab.Stats()
	if st.EarlyDrop == 0 || accepted < 19000 {
		t.Fatalf("flood: accepted %d, stats %+v", accepted, st)
	}
	for _, c := range convs {
		info, state := c.send(true, fA, 1001, 5001, 0, nil)
		if info != InfoEstablished || state != TCPEstablished {
			t.Fatalf("established connection lost: %v %v", info, state)
		}
	}
	t.Logf("accepted %d of 20000 SYNs; early_drop %d, drop %d, count %d", accepted, st.EarlyDrop, st.Drop, tab.Count())
}

func TestFullTableOfAssuredEntriesDropsNewConnections(t *testing.T) {
	tab, _ := newTestTable(t, Options{Max: 64})
	w := tab.NewWorker()
	for i := range 64 {
		c := newConv(t, tab)
		c.w = w
		c.cli = netip.AddrPortFrom(client.Addr(), uint16(3000+i))
		c.handshake()
	}
	if through(w, pktbuild.Parsed(t, pktbuild.TCP4(client, server, fS, 1, 0, nil))) {
		t.Fatal("new connection accepted in a table full of assured entries")
	}
	if st := tab.Stats(); st.Drop != 1 || tab.Count() != 64 {
		t.Fatalf("stats %+v count %d", st, tab.Count())
	}
}

func TestEstablishedTrackDoesNotAllocate(t *testing.T) {
	tab, _ := newTestTable(t, Options{})
	w := tab.NewWorker()
	var ps []*packet.Packet
	for i := range 64 {
		p := flowPkt(t, i, false)
		through(w, p)
		ps = append(ps, p)
	}
	drop := make([]bool, len(ps))
	n := testing.AllocsPerRun(100, func() {
		for _, p := range ps {
			p.CT, p.CTInfo = 0, 0
		}
		w.Track(ps, drop)
		for _, p := range ps {
			w.Confirm(p)
		}
		w.Quiesce()
	})
	if n != 0 {
		t.Fatalf("%v allocs per batch", n)
	}
	for _, p := range ps {
		if CTInfo(p.CTInfo) != InfoNew || p.CT == 0 {
			t.Fatalf("not found: %v", CTInfo(p.CTInfo))
		}
	}
}

// TestConcurrentTrackExpireFlush runs workers, a sweeper with a moving clock,
// Flush and List at once (run it with -race), then checks that the count
// matches the entries.
func TestConcurrentTrackExpireFlush(t *testing.T) {
	tab, clk := newTestTable(t, Options{Max: 2048, Timeouts: Timeouts{UDP: time.Second, UDPStream: 2 * time.Second}})
	const flows = 3000
	pkts := make([][2]*packet.Packet, flows)
	for i := range pkts {
		pkts[i] = [2]*packet.Packet{flowPkt(t, i, false), flowPkt(t, i, true)}
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	n := 4
	if testing.Short() {
		n = 2
	}
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := tab.NewWorker()
			defer w.Close()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			batch := make([]*packet.Packet, 16)
			drop := make([]bool, 16)
			for it := 0; !stop.Load(); it++ {
				for i := range batch {
					f := rng.IntN(flows)
					// Packets are per worker copies: the engine never shares one.
					src := pkts[f][rng.IntN(2)]
					p := &packet.Packet{}
					*p = *src
					p.CT, p.CTInfo = 0, 0
					batch[i], drop[i] = p, false
				}
				w.Track(batch, drop)
				for i, p := range batch {
					if p.CT != 0 {
						e, ok := tab.Entry(p.CT)
						_ = e
						_ = ok
					}
					if drop[i] || rng.IntN(10) == 0 {
						w.Abandon(p)
					} else {
						w.Confirm(p)
					}
				}
				w.Quiesce()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			clk.advance(300 * time.Millisecond)
			tab.Sweep()
			if i%5 == 0 {
				tab.Flush(Filter{Family: packet.FamilyIPv6})
			}
			tab.List(Filter{}, func(Entry) bool { return true })
			runtime.Gosched()
		}
	}()
	d := 2 * time.Second
	if testing.Short() {
		d = 300 * time.Millisecond
	}
	time.Sleep(d) // run time of the load, not a wait for expiry
	stop.Store(true)
	wg.Wait()
	listed := 0
	tab.List(Filter{}, func(Entry) bool { listed++; return true })
	if listed != tab.Count() {
		t.Fatalf("count %d, listed %d", tab.Count(), listed)
	}
	st := tab.Stats()
	t.Logf("stats %+v", st)
	if st.Insert == 0 || st.Found == 0 {
		t.Fatal("no work done")
	}
	clk.advance(time.Hour)
	tab.Sweep()
	if tab.Count() != 0 {
		t.Fatalf("count %d after every timeout", tab.Count())
	}
}

// TestSlotsAreNotReusedUnderAReader checks the grace period: a slot deleted
// while a worker is inside its batch is not handed out again until the
// worker quiesces.
func TestSlotsAreNotReusedUnderAReader(t *testing.T) {
	tab, _ := newTestTable(t, Options{Max: 16})
	w, other := tab.NewWorker(), tab.NewWorker()
	p := flowPkt(t, 0, false)
	through(w, p)
	q := flowPkt(t, 0, false)
	var d [1]bool
	q.CT = 0
	w.Track([]*packet.Packet{q}, d[:]) // inside, holding q.CT
	slot := q.CT
	tab.Flush(Filter{})
	for i := range 200 {
		r := flowPkt(t, i+1, false)
		through(other, r)
		if r.CT == slot {
			t.Fatalf("slot %d reused while a reader holds it", slot)
		}
		tab.Flush(Filter{})
	}
	w.Idle()
	tab.Sweep() // reclaims
	seen := false
	for i := range 1000 {
		r := flowPkt(t, i+1, false)
		through(other, r)
		seen = seen || r.CT == slot
		tab.Flush(Filter{})
	}
	if !seen {
		t.Fatal("slot never reused after the reader quiesced")
	}
}

// twoWorkers makes a table with two workers, the first of which has
// tracked (not confirmed) the first packet of a UDP connection, p.
func twoWorkers(t *testing.T) (tb *Table, w1, w2 *Worker, p *packet.Packet) {
	tb = New(Options{SweepInterval: -1})
	w1, w2 = tb.NewWorker(), tb.NewWorker()
	t.Cleanup(w2.Close)
	t.Cleanup(w1.Close)
	p = pktbuild.Parsed(t, pktbuild.UDP4(client, server, []byte("x")))
	w1.Track([]*packet.Packet{p}, []bool{false})
	return tb, w1, w2, p
}

// TestHoldAdopt: an unconfirmed entry held for a queued packet survives its
// worker's Quiesce and is confirmed by the worker that adopts it.
func TestHoldAdopt(t *testing.T) {
	tb, w1, w2, p := twoWorkers(t)
	w1.Hold(p)
	w1.Quiesce()
	if tb.Count() != 1 || tb.Held() != 1 {
		t.Fatalf("after Quiesce: count %d held %d", tb.Count(), tb.Held())
	}
	if !w2.Confirm(p) || tb.Count() != 1 {
		t.Fatal("confirm before adopt")
	}
	if _, ok := tb.Get(tb.Tuple(p.CT, DirOriginal)); ok {
		t.Fatal("confirmed by a worker that did not adopt it")
	}
	w2.Adopt(p)
	if tb.Held() != 0 || !w2.Confirm(p) {
		t.Fatal("adopt")
	}
	w2.Quiesce()
	if _, ok := tb.Get(tb.Tuple(p.CT, DirOriginal)); !ok {
		t.Fatal("not confirmed after adopt")
	}
}

// TestWorkerStats: each worker's counters on a line of its own, summing to
// Stats.
func TestWorkerStats(t *testing.T) {
	tb, w1, w2, p := twoWorkers(t)
	drop := []bool{false}
	w1.Confirm(p)
	w1.Idle()
	for range 3 {
		q := pktbuild.Parsed(t, pktbuild.UDP4(client, server, []byte("y")))
		w2.Track([]*packet.Packet{q}, drop)
	}
	w2.Idle()
	ws := tb.WorkerStats()
	if len(ws) != 2 || ws[0].New != 1 || ws[0].Insert != 1 || ws[0].Found != 0 || ws[1].Found != 3 || ws[1].New != 0 {
		t.Fatalf("per worker: %+v", ws)
	}
	if s := tb.Stats(); s.Found != ws[0].Found+ws[1].Found || s.Insert != 1 || ws[1].Entries != 1 {
		t.Fatalf("sum %+v, lines %+v", s, ws)
	}
}
