package nat

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

// clientAddr is the i-th client, 198.18.x.y.
func clientAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
}

// TestThousandClientsOneServer: 1,000 clients, all from port 40000, to one
// server port through one SNAT address: every connection gets its own reply
// tuple, and the replies find their way back to each client.
func TestThousandClientsOneServer(t *testing.T) {
	for _, proto := range []uint8{packet.ProtoTCP, packet.ProtoUDP, packet.ProtoICMP} {
		t.Run(fmt.Sprint(proto), func(t *testing.T) {
			seed := rand.Uint64()
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, 1))
			r := newRig(t, 4096, Options{Rand: rng.Uint32})
			server := ap("198.19.1.1:80")
			if proto == packet.ProtoICMP {
				server = ap("198.19.1.1:40000")
			}
			snat := &Request{Kind: KindSNAT, AddrMin: ad("198.19.0.1")}
			seen := map[conntrack.Tuple]int{}
			pubs := make([]netip.AddrPort, 1000)
			for i := range 1000 {
				p := pktbuild.Parsed(t, build(proto, netip.AddrPortFrom(clientAddr(i), 40000), server, false))
				if !r.hop(p, ifOutside, snat) {
					t.Fatalf("client %d dropped; %+v", i, r.n.Stats())
				}
				rt := r.t.Tuple(p.CT, conntrack.DirReply)
				if j, dup := seen[rt]; dup {
					t.Fatalf("clients %d and %d share reply tuple %v", j, i, rt)
				}
				seen[rt] = i
				pubs[i], _ = ends(p)
				if pubs[i].Addr() != ad("198.19.0.1") {
					t.Fatalf("client %d: source %v", i, pubs[i])
				}
			}
			if st := r.n.Stats(); st.Remapped != 999 || st.Exhausted != 0 {
				t.Fatalf("stats %+v", st)
			}
			for _, i := range []int{0, 1, 500, 999} {
				q := pktbuild.Parsed(t, build(proto, server, pubs[i], true))
				if proto == packet.ProtoICMP {
					q = pktbuild.Parsed(t, build(proto, netip.AddrPortFrom(server.Addr(), pubs[i].Port()), pubs[i], true))
				}
				if !r.hop(q, ifInside) {
					t.Fatal("reply dropped")
				}
				if _, d := ends(q); d.Addr() != clientAddr(i) || (proto != packet.ProtoICMP && d.Port() != 40000) {
					t.Fatalf("reply to client %d went to %v", i, d)
				}
			}
		})
	}
}

// TestPortRangeExhausted: a range of 100 ports serves 100 clients, each
// port once, and the 101st client's packet is dropped and counted.
func TestPortRangeExhausted(t *testing.T) {
	for _, fam := range []string{"ipv4", "ipv6"} {
		t.Run(fam, func(t *testing.T) {
			r := newRig(t, 0, Options{Rand: rand.Uint32})
			pub, server := ad("198.19.0.1"), ap("198.19.1.1:443")
			client := clientAddr
			if fam == "ipv6" {
				pub, server = ad("2001:db8:ff::1"), ap("[2001:db8:2::1]:443")
				client = func(i int) netip.Addr {
					return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 14: byte(i >> 8), 15: byte(i)})
				}
			}
			snat := &Request{Kind: KindSNAT, AddrMin: pub, PortMin: 10000, PortMax: 10099}
			used := map[uint16]bool{}
			for i := range 100 {
				p := pktbuild.Parsed(t, build(packet.ProtoTCP, netip.AddrPortFrom(client(i), 40000), server, false))
				if !r.hop(p, ifOutside, snat) {
					t.Fatalf("client %d dropped with %d ports used", i, len(used))
				}
				s, _ := ends(p)
				if s.Port() < 10000 || s.Port() > 10099 || used[s.Port()] {
					t.Fatalf("client %d: port %d", i, s.Port())
				}
				used[s.Port()] = true
			}
			p := pktbuild.Parsed(t, build(packet.ProtoTCP, netip.AddrPortFrom(client(100), 40000), server, false))
			if r.hop(p, ifOutside, snat) {
				t.Fatal("the 101st client got through")
			}
			if st := r.n.Stats(); st.Exhausted != 1 || st.Bindings != 100 {
				t.Fatalf("stats %+v", st)
			}
			if n := r.t.Count(); n != 100 {
				t.Fatalf("%d entries: the dropped connection left one", n)
			}
			// A connection that ends frees its port for the next client.
			r.t.Delete(r.t.Tuple(firstSlot(t, r), conntrack.DirOriginal))
			r.w.Idle()
			p = pktbuild.Parsed(t, build(packet.ProtoTCP, netip.AddrPortFrom(client(100), 40000), server, false))
			if !r.hop(p, ifOutside, snat) {
				t.Fatal("no port after one was freed")
			}
		})
	}
}

// TestSearchReusesExpiredConnectionsPort: the search passes over the
// ports of connections in the table without reading them, but when every
// other port is taken it finds the one whose connection has expired (and
// is not swept yet), as nf_conntrack_tuple_taken does not count expired
// entries.
func TestSearchReusesExpiredConnectionsPort(t *testing.T) {
	r := newRig(t, 0, Options{Rand: rand.Uint32})
	server := ap("198.19.1.1:443")
	snat := &Request{Kind: KindSNAT, AddrMin: ad("198.19.0.1"), PortMin: 10000, PortMax: 10009}
	hop := func(i int) (uint16, bool) {
		p := pktbuild.Parsed(t, build(packet.ProtoTCP, netip.AddrPortFrom(clientAddr(i), 40000), server, false))
		ok := r.hop(p, ifOutside, snat)
		s, _ := ends(p)
		return s.Port(), ok
	}
	old, ok := hop(0)
	if !ok {
		t.Fatal("first client dropped")
	}
	// The others a little before the first one's SYN_SENT timeout
	// (120 s) runs out, then past it.
	r.clock.Add(110e9)
	for i := 1; i < 10; i++ {
		if _, ok := hop(i); !ok {
			t.Fatalf("client %d dropped", i)
		}
	}
	r.clock.Add(20e9)
	port, ok := hop(10)
	if !ok {
		t.Fatalf("no port for the 11th client: stats %+v", r.n.Stats())
	}
	if port != old {
		t.Fatalf("the 11th client got port %d, want %d (the expired connection's)", port, old)
	}
	if _, ok := hop(11); ok {
		t.Fatal("the 12th client got through")
	}
}

// TestSearchUsesEveryFreePort drives a 16-port SNAT range with a random
// mix of new connections, clock steps that expire old ones (unswept), and
// deletions, and checks after each new connection what the search
// promises: a bound connection got a port in range that no other live
// connection holds, and a dropped one found every port held by a live
// connection.
func TestSearchUsesEveryFreePort(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	r := newRig(t, 4096, Options{Rand: rng.Uint32})
	const lo, hi = 10000, 10015
	server := ap("198.19.1.1:443")
	snat := &Request{Kind: KindSNAT, AddrMin: ad("198.19.0.1"), PortMin: lo, PortMax: hi}
	// held returns the SNAT port of each live, unexpired connection
	// other than slot, and how many hold it.
	held := func(slot uint32) map[uint16]int {
		m := map[uint16]int{}
		now := r.clock.Load()
		r.t.List(conntrack.Filter{}, func(e conntrack.Entry) bool {
			if e.Slot != slot && e.Expires > now {
				m[e.Reply.DstPort]++
			}
			return true
		})
		return m
	}
	bound, dropped := 0, 0
	for i := range 3000 {
		switch rng.IntN(10) {
		case 0, 1:
			r.clock.Add(int64(rng.IntN(40)) * 1e9) // SYN_SENT times out after 120 s
			continue
		case 2:
			var slots []uint32
			r.t.List(conntrack.Filter{}, func(e conntrack.Entry) bool { slots = append(slots, e.Slot); return true })
			if len(slots) > 0 {
				r.t.Delete(r.t.Tuple(slots[rng.IntN(len(slots))], conntrack.DirOriginal))
				r.w.Idle()
			}
			continue
		}
		p := pktbuild.Parsed(t, build(packet.ProtoTCP, netip.AddrPortFrom(clientAddr(i%1000), uint16(40000+i/1000)), server, false))
		if r.hop(p, ifOutside, snat) {
			bound++
			src, _ := ends(p)
			h := held(p.CT)
			if src.Port() < lo || src.Port() > hi || h[src.Port()] > 0 {
				t.Fatalf("step %d: port %d, held by %d other live connections", i, src.Port(), h[src.Port()])
			}
			continue
		}
		dropped++
		if h := held(0); len(h) != hi-lo+1 {
			t.Fatalf("step %d: dropped with %d of %d ports held: %v", i, len(h), hi-lo+1, h)
		}
	}
	if bound == 0 || dropped == 0 {
		t.Fatalf("%d bound, %d dropped: the mix did not reach both cases", bound, dropped)
	}
	t.Logf("%d bound, %d dropped", bound, dropped)
}

func firstSlot(t *testing.T, r *rig) uint32 {
	var slot uint32
	r.t.List(conntrack.Filter{}, func(e conntrack.Entry) bool { slot = e.Slot; return false })
	if slot == 0 {
		t.Fatal("no entry")
	}
	return slot
}

// TestMaxSearchBoundsTheSearch: with Options.MaxSearch the search stops
// after that many tries, as the kernel's bounded search does.
func TestMaxSearchBoundsTheSearch(t *testing.T) {
	r := newRig(t, 0, Options{MaxSearch: 3})
	snat := &Request{Kind: KindSNAT, AddrMin: ad("198.19.0.1"), PortMin: 10000, PortMax: 10099}
	for i := range 3 {
		p := pktbuild.Parsed(t, build(packet.ProtoUDP, netip.AddrPortFrom(clientAddr(i), 40000), ap("198.19.1.1:53"), false))
		if !r.hop(p, ifOutside, snat) {
			t.Fatalf("client %d dropped", i)
		}
	}
	// Rand gives 0: the search starts at 10000, which is taken, and so
	// are the next two.
	p := pktbuild.Parsed(t, build(packet.ProtoUDP, netip.AddrPortFrom(clientAddr(3), 40000), ap("198.19.1.1:53"), false))
	if r.hop(p, ifOutside, snat) {
		t.Fatal("passed")
	}
	if st := r.n.Stats(); st.Exhausted != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestMasqueradeCleanup: connections masqueraded on an interface are
// deleted when it goes down or their address goes away; a packet that
// leaves by another interface kills its connection.
func TestMasqueradeCleanup(t *testing.T) {
	r := newRig(t, 0, Options{})
	server := ap("198.19.1.1:80")
	type conn struct {
		out  uint32
		addr string
	}
	conns := []conn{{2, "198.19.0.1"}, {2, "198.19.0.2"}, {3, "198.19.5.1"}, {3, "198.19.5.1"}}
	for i, c := range conns {
		p := pktbuild.Parsed(t, build(packet.ProtoTCP, netip.AddrPortFrom(clientAddr(i), 40000), server, false))
		if !r.hop(p, c.out, &Request{Kind: KindMasquerade, Local: ad(c.addr)}) {
			t.Fatal("dropped")
		}
	}
	// An unrelated SNAT connection stays through all of it.
	p := pktbuild.Parsed(t, build(packet.ProtoTCP, netip.AddrPortFrom(clientAddr(9), 40000), server, false))
	if !r.hop(p, 2, &Request{Kind: KindSNAT, AddrMin: ad("198.19.0.1")}) {
		t.Fatal("dropped")
	}
	if n := r.n.AddressGone(2, ad("198.19.0.2")); n != 1 {
		t.Fatalf("address gone: %d deleted", n)
	}
	if n := r.n.InterfaceDown(3); n != 2 {
		t.Fatalf("interface down: %d deleted", n)
	}
	if n := r.t.Count(); n != 2 {
		t.Fatalf("%d entries left", n)
	}
	// The connection masqueraded on 2 now leaves by 4: killed.
	p = pktbuild.Parsed(t, build(packet.ProtoTCP, netip.AddrPortFrom(clientAddr(0), 40000), server, false))
	if r.hop(p, 4) {
		t.Fatal("passed by another interface")
	}
	if st := r.n.Stats(); st.OIFChanged != 1 || st.MasqFlushed != 3 || r.t.Count() != 1 {
		t.Fatalf("stats %+v, %d entries", st, r.t.Count())
	}
}

// TestMasqueradeWithoutAddressDrops: no address on the out interface (or
// the in interface for redirect) drops the packet and counts it.
func TestMasqueradeWithoutAddressDrops(t *testing.T) {
	r := newRig(t, 0, Options{})
	for _, k := range []Kind{KindMasquerade, KindRedirect} {
		p := pktbuild.Parsed(t, build(packet.ProtoUDP, ap("198.18.0.1:40000"), ap("198.19.1.1:53"), false))
		if r.hop(p, ifOutside, &Request{Kind: k}) {
			t.Fatalf("%v passed", k)
		}
	}
	if st := r.n.Stats(); st.NoAddress != 2 || r.t.Count() != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestBadRequests: a request of the wrong family is refused and counted.
func TestBadRequests(t *testing.T) {
	r := newRig(t, 0, Options{})
	p := pktbuild.Parsed(t, build(packet.ProtoUDP, ap("198.18.0.1:40000"), ap("198.19.1.1:53"), false))
	if r.hop(p, ifOutside, &Request{Kind: KindSNAT, AddrMin: ad("2001:db8::1")}) {
		t.Fatal("passed")
	}
	if st := r.n.Stats(); st.BadRequest != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestEstablishedPathDoesNotAllocate pins the established path at zero
// allocations, in both directions, with and without a translation.
func TestEstablishedPathDoesNotAllocate(t *testing.T) {
	r := newRig(t, 0, Options{})
	orig, reply := establish(t, r, ad("198.18.0.10"), ad("198.19.1.1"), &Request{Kind: KindSNAT, AddrMin: ad("198.19.0.1")})
	plain, _ := establish(t, r, ad("198.18.0.11"), ad("198.19.1.1"), nil)
	for _, p := range []*packet.Packet{orig, reply, plain} {
		if a := testing.AllocsPerRun(1000, func() {
			r.n.Do(p, ManipDst)
			r.n.Do(p, ManipSrc)
		}); a != 0 {
			t.Fatalf("%v allocs per packet", a)
		}
	}
}

// establish opens a TCP connection from client to server:80 through the
// router with req and returns a packet of each direction, with p.CT and
// p.CTInfo set as conntrack sets them for established packets.
func establish(tb testing.TB, r *rig, client, server netip.Addr, req *Request) (orig, reply *packet.Packet) {
	tb.Helper()
	var reqs []*Request
	if req != nil {
		reqs = append(reqs, req)
	}
	p := pktbuild.Parsed(tb, build(packet.ProtoTCP, netip.AddrPortFrom(client, 40000), netip.AddrPortFrom(server, 80), false))
	if !r.hop(p, ifOutside, reqs...) {
		tb.Fatal("dropped")
	}
	rt := r.t.Tuple(p.CT, conntrack.DirReply)
	q := pktbuild.Parsed(tb, build(packet.ProtoTCP, netip.AddrPortFrom(rt.SrcAddr(), rt.SrcPort), netip.AddrPortFrom(rt.DstAddr(), rt.DstPort), true))
	if !r.hop(q, ifInside) {
		tb.Fatal("reply dropped")
	}
	orig = pktbuild.Parsed(tb, build(packet.ProtoTCP, netip.AddrPortFrom(client, 40000), netip.AddrPortFrom(server, 80), false))
	orig.CT, orig.CTInfo, orig.OutIf = p.CT, uint8(conntrack.InfoEstablished), ifOutside
	reply = pktbuild.Parsed(tb, build(packet.ProtoTCP, netip.AddrPortFrom(rt.SrcAddr(), rt.SrcPort), netip.AddrPortFrom(rt.DstAddr(), rt.DstPort), true))
	reply.CT, reply.CTInfo, reply.OutIf = p.CT, uint8(conntrack.InfoEstablishedReply), ifInside
	return orig, reply
}
