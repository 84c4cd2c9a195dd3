package conntrack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

func TestUDPUnrepliedThenStream(t *testing.T) {
	tab, clk := newTestTable(t, Options{})
	w := tab.NewWorker()
	out := pktbuild.Parsed(t, pktbuild.UDP4(client, server, []byte("q")))
	through(w, out)
	if CTInfo(out.CTInfo) != InfoNew {
		t.Fatalf("first packet: %v", CTInfo(out.CTInfo))
	}
	k := TupleFrom(client, server, packet.ProtoUDP)
	if e, _ := tab.Get(k); e.Timeout != 30*time.Second || e.Status&StatusSeenReply != 0 {
		t.Fatalf("unreplied entry: %+v", e)
	}
	back := pktbuild.Parsed(t, pktbuild.UDP4(server, client, []byte("a")))
	through(w, back)
	if CTInfo(back.CTInfo) != InfoEstablishedReply {
		t.Fatalf("reply: %v", CTInfo(back.CTInfo))
	}
	again := pktbuild.Parsed(t, pktbuild.UDP4(client, server, []byte("q")))
	through(w, again)
	if CTInfo(again.CTInfo) != InfoEstablished {
		t.Fatalf("after reply: %v", CTInfo(again.CTInfo))
	}
	if e, _ := tab.Get(k); e.Status&StatusAssured != 0 {
		t.Fatalf("assured within two seconds of creation")
	}
	clk.advance(3 * time.Second)
	through(w, pktbuild.Parsed(t, pktbuild.UDP4(client, server, []byte("q"))))
	e, _ := tab.Get(k)
	if e.Status&StatusAssured == 0 || e.Timeout != 120*time.Second {
		t.Fatalf("stream: status %#x timeout %v", e.Status, e.Timeout)
	}
	clk.advance(121 * time.Second)
	if tab.Sweep() != 1 || tab.Count() != 0 {
		t.Fatalf("stream entry did not expire")
	}
}

func TestICMPEchoUsesTheIdentifier(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		tab, _ := newTestTable(t, Options{})
		w := tab.NewWorker()
		a, b := client.Addr(), server.Addr()
		build := pktbuild.ICMP4Echo
		if v6 {
			a, b = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
			build = pktbuild.ICMP6Echo
		}
		req := pktbuild.Parsed(t, build(a, b, 7, 1, false))
		through(w, req)
		other := pktbuild.Parsed(t, build(b, a, 8, 1, true)) // reply with another id
		through(w, other)
		rep := pktbuild.Parsed(t, build(b, a, 7, 1, true))
		through(w, rep)
		if CTInfo(req.CTInfo) != InfoNew || CTInfo(rep.CTInfo) != InfoEstablishedReply || other.CTInfo != 0 {
			t.Fatalf("v6=%v: request %v, reply %v, unmatched reply %v", v6,
				CTInfo(req.CTInfo), CTInfo(rep.CTInfo), CTInfo(other.CTInfo))
		}
		if tab.Count() != 1 {
			t.Fatalf("count %d", tab.Count())
		}
	}
}

func TestICMPErrorIsRelatedToTheQuotedConnection(t *testing.T) {
	tab, _ := newTestTable(t, Options{})
	w := tab.NewWorker()
	syn := pktbuild.TCP4(client, server, fS, 1000, 0, nil)
	through(w, pktbuild.Parsed(t, syn))
	router := netip.MustParseAddr("198.18.9.9")
	// The router quotes the SYN back to the client: related, original
	// direction's reverse... the error travels towards the client.
	e1 := pktbuild.Parsed(t, pktbuild.ICMPError(router, client.Addr(), 11, 0, 0, syn, nil))
	through(w, e1)
	if CTInfo(e1.CTInfo) != InfoRelatedReply || e1.CT == 0 {
		t.Fatalf("time exceeded for the SYN: %v", CTInfo(e1.CTInfo))
	}
	// An error quoting a packet of no connection is invalid.
	stray := pktbuild.TCP4(client, netip.MustParseAddrPort("198.19.0.2:81"), fS, 1, 0, nil)
	e2 := pktbuild.Parsed(t, pktbuild.ICMPError(router, client.Addr(), 3, 1, 0, stray, nil))
	through(w, e2)
	if e2.CTInfo != 0 || e2.CT != 0 {
		t.Fatalf("unrelated error: %v", CTInfo(e2.CTInfo))
	}
	// IPv6: packet too big quoting a UDP datagram.
	c6, s6 := netip.MustParseAddrPort("[2001:db8::1]:5000"), netip.MustParseAddrPort("[2001:db8::2]:53")
	u := pktbuild.UDP6(c6, s6, []byte("x"))
	through(w, pktbuild.Parsed(t, u))
	e3 := pktbuild.Parsed(t, pktbuild.ICMPError(s6.Addr(), c6.Addr(), 2, 0, 1280, u, nil))
	through(w, e3)
	if CTInfo(e3.CTInfo) != InfoRelatedReply {
		t.Fatalf("packet too big: %v", CTInfo(e3.CTInfo))
	}
}

func TestNoTrackAndNeighbourDiscoveryAreUntracked(t *testing.T) {
	tab, _ := newTestTable(t, Options{})
	w := tab.NewWorker()
	p := pktbuild.Parsed(t, pktbuild.UDP4(client, server, nil))
	p.Flags |= packet.FlagNoTrack
	through(w, p)
	a, b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("ff02::1")
	ns := pktbuild.Parsed(t, pktbuild.ICMP(a, b, 135, 0, 0, make([]byte, 16), nil))
	through(w, ns)
	if CTInfo(p.CTInfo) != InfoUntracked || CTInfo(ns.CTInfo) != InfoUntracked || tab.Count() != 0 {
		t.Fatalf("notrack %v, ns %v, count %d", CTInfo(p.CTInfo), CTInfo(ns.CTInfo), tab.Count())
	}
}

func TestGenericProtocolAndZones(t *testing.T) {
	tab, _ := newTestTable(t, Options{})
	w := tab.NewWorker()
	gre := pktbuild.IPv4(client.Addr(), server.Addr(), 47, make([]byte, 8), nil)
	p := pktbuild.Parsed(t, gre)
	through(w, p)
	q := pktbuild.Parsed(t, gre)
	q.Zone = 3
	through(w, q)
	if tab.Count() != 2 || CTInfo(q.CTInfo) != InfoNew {
		t.Fatalf("zones do not separate entries: count %d", tab.Count())
	}
	e, _ := tab.Entry(q.CT)
	if e.Zone != 3 || e.Timeout != 600*time.Second {
		t.Fatalf("entry %+v", e)
	}
}

func TestADroppedFirstPacketLeavesNoEntry(t *testing.T) {
	tab, _ := newTestTable(t, Options{})
	w := tab.NewWorker()
	p := pktbuild.Parsed(t, pktbuild.UDP4(client, server, nil))
	var drop [1]bool
	w.Track([]*packet.Packet{p}, drop[:])
	if p.CT == 0 || tab.Count() != 1 {
		t.Fatalf("no unconfirmed entry")
	}
	if _, ok := tab.Get(TupleFrom(client, server, packet.ProtoUDP)); ok {
		t.Fatalf("unconfirmed entry is visible")
	}
	w.Abandon(p)
	w.Quiesce()
	if tab.Count() != 0 {
		t.Fatalf("count %d after abandon", tab.Count())
	}
}

func TestPacketsOfANewFlowInOneBatchShareTheEntry(t *testing.T) {
	tab, _ := newTestTable(t, Options{})
	w := tab.NewWorker()
	ps := []*packet.Packet{
		pktbuild.Parsed(t, pktbuild.UDP4(client, server, nil)),
		pktbuild.Parsed(t, pktbuild.UDP4(client, server, nil)),
		pktbuild.Parsed(t, pktbuild.UDP4(client, server, nil)),
	}
	drop := make([]bool, 3)
	w.Track(ps, drop)
	if ps[0].CT != ps[1].CT || ps[1].CT != ps[2].CT {
		t.Fatalf("slots %d %d %d", ps[0].CT, ps[1].CT, ps[2].CT)
	}
	w.Abandon(ps[0]) // the first is dropped, the others pass
	for _, p := range ps[1:] {
		if !w.Confirm(p) {
			t.Fatal("confirm failed")
		}
	}
	w.Idle()
	if tab.Count() != 1 || tab.Stats().Insert != 1 {
		t.Fatalf("count %d, stats %+v", tab.Count(), tab.Stats())
	}
}

func TestConfirmClash(t *testing.T) {
	for _, proto := range []string{"udp", "tcp"} {
		tab, _ := newTestTable(t, Options{})
		w1, w2 := tab.NewWorker(), tab.NewWorker()
		b := pktbuild.UDP4(client, server, nil)
		if proto == "tcp" {
			b = pktbuild.TCP4(client, server, fS, 1, 0, nil)
		}
		p1, p2 := pktbuild.Parsed(t, b), pktbuild.Parsed(t, b)
		var d [1]bool
		w1.Track([]*packet.Packet{p1}, d[:])
		w2.Track([]*packet.Packet{p2}, d[:])
		if !w1.Confirm(p1) {
			t.Fatal("first confirm failed")
		}
		ok := w2.Confirm(p2)
		w1.Idle()
		w2.Idle()
		st := tab.Stats()
		if proto == "udp" && (!ok || p2.CT != p1.CT || st.ClashResolve != 1) {
			t.Fatalf("udp clash not resolved: ok=%v %+v", ok, st)
		}
		if proto == "tcp" && (ok || st.InsertFailed != 1) {
			t.Fatalf("tcp clash not refused: ok=%v %+v", ok, st)
		}
		if tab.Count() != 1 {
			t.Fatalf("%s: count %d", proto, tab.Count())
		}
	}
}

func TestNATChangesTheReplyTupleBeforeConfirm(t *testing.T) {
	tab, _ := newTestTable(t, Options{})
	w := tab.NewWorker()
	p := pktbuild.Parsed(t, pktbuild.UDP4(client, server, nil))
	var d [1]bool
	w.Track([]*packet.Packet{p}, d[:])
	r := tab.Tuple(p.CT, DirReply)
	r.SetDstAddr(netip.MustParseAddr("198.18.100.1")) // SNAT to 198.18.100.1:1024
	r.DstPort = 1024
	if w.TupleTaken(&r, p.CT) || w.TupleMayBeTaken(&r, w.Prefetch(&r), p.CT) {
		t.Fatal("free tuple reported taken")
	}
	if err := w.SetReplyTuple(p.CT, r); err != nil {
		t.Fatal(err)
	}
	// The unconfirmed entry of this worker counts, except for itself.
	if !w.TupleMayBeTaken(&r, w.Prefetch(&r), 0) || w.TupleMayBeTaken(&r, w.Prefetch(&r), p.CT) {
		t.Fatal("TupleMayBeTaken: the worker's unconfirmed entry")
	}
	tab.SetStatus(p.CT, StatusSrcNAT)
	w.Confirm(p)
	w.Quiesce()
	if err := w.SetReplyTuple(p.CT, r); err != ErrConfirmed {
		t.Fatalf("SetReplyTuple after confirm: %v", err)
	}
	if !w.TupleTaken(&r, 0) || !w.TupleMayBeTaken(&r, w.Prefetch(&r), 0) {
		t.Fatal("NAT tuple not taken")
	}
	if w.TupleMayBeTaken(&r, w.Prefetch(&r), p.CT) {
		t.Fatal("TupleMayBeTaken counts the entry it is told to ignore")
	}
	back := pktbuild.Parsed(t, pktbuild.UDP4(server, netip.AddrPortFrom(netip.MustParseAddr("198.18.100.1"), 1024), nil))
	through(w, back)
	if back.CT != p.CT || CTInfo(back.CTInfo) != InfoEstablishedReply {
		t.Fatalf("reply to the NAT address not matched: %v", CTInfo(back.CTInfo))
	}
	if tab.Status(p.CT)&StatusSrcNAT == 0 {
		t.Fatal("nat status lost")
	}
}

func TestMarkListFlushAndEvents(t *testing.T) {
	tab, _ := newTestTable(t, Options{EventBuffer: 4})
	w := tab.NewWorker()
	var slots []uint32
	for i := range 6 {
		p := pktbuild.Parsed(t, pktbuild.UDP4(netip.AddrPortFrom(client.Addr(), uint16(1000+i)), server, nil))
		through(w, p)
		slots = append(slots, p.CT)
	}
	tab.SetMark(slots[0], 7)
	if tab.Mark(slots[0]) != 7 {
		t.Fatal("mark not set")
	}
	n := 0
	tab.List(Filter{MarkMask: 0xff, Mark: 7}, func(Entry) bool { n++; return true })
	if n != 1 {
		t.Fatalf("listed %d marked entries", n)
	}
	n = 0
	tab.List(Filter{Proto: packet.ProtoUDP, Src: netip.MustParsePrefix("198.18.0.0/15")}, func(Entry) bool { n++; return true })
	if n != 6 {
		t.Fatalf("listed %d", n)
	}
	evs := make([]Event, 10)
	if got := tab.ReadEvents(evs); got != 4 || evs[0].Type != EventNew {
		t.Fatalf("read %d events, first %v", got, evs[0].Type)
	}
	if tab.Stats().EventsLost != 3 { // 6 NEW + 1 UPDATE into a ring of 4
		t.Fatalf("lost %d", tab.Stats().EventsLost)
	}
	if got := tab.Flush(Filter{}); got != 6 || tab.Count() != 0 {
		t.Fatalf("flushed %d, count %d", got, tab.Count())
	}
	if got := tab.ReadEvents(evs); got != 4 || evs[0].Type != EventDestroy {
		t.Fatalf("read %d events after flush", got)
	}
}
