package nat

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

// The router of the tests: inside 198.18.0.0/24 and 2001:db8:1::/64 on
// interface 1 (its address .254 / ::fe), outside on interface 2 with the
// public address 198.19.0.1 / 2001:db8:ff::1; servers in 198.19.1.0/24 and
// 2001:db8:2::/64.
const (
	ifInside  = 1
	ifOutside = 2
)

type family struct {
	name                        string
	client, server, pub, inside string // addresses
	server2                     string
}

var families = []family{
	{"ipv4", "198.18.0.10", "198.19.1.1", "198.19.0.1", "198.18.0.254", "198.18.0.20"},
	{"ipv6", "2001:db8:1::10", "2001:db8:2::1", "2001:db8:ff::1", "2001:db8:1::fe", "2001:db8:1::20"},
}

var protos = []struct {
	name  string
	proto uint8
}{{"tcp", packet.ProtoTCP}, {"udp", packet.ProtoUDP}, {"icmp", packet.ProtoICMP}}

func addrPort(a string, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(ad(a), port)
}

// TestNATKinds runs each kind of NAT for each protocol and family: the first
// packet is translated as the rule says, the reply is translated back, and
// a later packet of the connection is translated without the rule. Every
// rewritten packet's checksums must verify.
func TestNATKinds(t *testing.T) {
	type kase struct {
		name           string
		req            func(f family) *Request
		dst            func(f family, port uint16) netip.AddrPort // where the client sends
		wantSrc        func(f family, port uint16) netip.AddrPort // after the router
		wantDst        func(f family, port uint16) netip.AddrPort
		noICMP, noPort bool
	}
	cases := []kase{
		{
			name:    "snat to an address keeps the client's port",
			req:     func(f family) *Request { return &Request{Kind: KindSNAT, AddrMin: ad(f.pub)} },
			dst:     func(f family, p uint16) netip.AddrPort { return addrPort(f.server, p) },
			wantSrc: func(f family, p uint16) netip.AddrPort { return addrPort(f.pub, 40000) },
			wantDst: func(f family, p uint16) netip.AddrPort { return addrPort(f.server, p) },
		},
		{
			name: "snat to a port range picks a port in it",
			req: func(f family) *Request {
				return &Request{Kind: KindSNAT, AddrMin: ad(f.pub), PortMin: 2000, PortMax: 2099}
			},
			dst:     func(f family, p uint16) netip.AddrPort { return addrPort(f.server, p) },
			wantSrc: func(f family, p uint16) netip.AddrPort { return addrPort(f.pub, 2000) }, // Rand gives 0
			wantDst: func(f family, p uint16) netip.AddrPort { return addrPort(f.server, p) },
			noPort:  true,
		},
		{
			name:    "masquerade uses the out interface's address",
			req:     func(f family) *Request { return &Request{Kind: KindMasquerade, Local: ad(f.pub)} },
			dst:     func(f family, p uint16) netip.AddrPort { return addrPort(f.server, p) },
			wantSrc: func(f family, p uint16) netip.AddrPort { return addrPort(f.pub, 40000) },
			wantDst: func(f family, p uint16) netip.AddrPort { return addrPort(f.server, p) },
		},
		{
			name:    "dnat to an address forwards to the server",
			req:     func(f family) *Request { return &Request{Kind: KindDNAT, AddrMin: ad(f.server)} },
			dst:     func(f family, p uint16) netip.AddrPort { return addrPort(f.pub, p) },
			wantSrc: func(f family, p uint16) netip.AddrPort { return addrPort(f.client, 40000) },
			wantDst: func(f family, p uint16) netip.AddrPort { return addrPort(f.server, p) },
		},
		{
			name: "dnat to address:port forwards a port",
			req: func(f family) *Request {
				return &Request{Kind: KindDNAT, AddrMin: ad(f.server), PortMin: 8080}
			},
			dst:     func(f family, p uint16) netip.AddrPort { return addrPort(f.pub, p) },
			wantSrc: func(f family, p uint16) netip.AddrPort { return addrPort(f.client, 40000) },
			wantDst: func(f family, p uint16) netip.AddrPort { return addrPort(f.server, 8080) },
			noICMP:  true,
		},
		{
			name: "redirect sends to a local port",
			req: func(f family) *Request {
				return &Request{Kind: KindRedirect, PortMin: 3128, Local: ad(f.inside)}
			},
			dst:     func(f family, p uint16) netip.AddrPort { return addrPort(f.server, p) },
			wantSrc: func(f family, p uint16) netip.AddrPort { return addrPort(f.client, 40000) },
			wantDst: func(f family, p uint16) netip.AddrPort { return addrPort(f.inside, 3128) },
			noICMP:  true,
		},
		{
			name:    "no rule leaves the connection as it is",
			req:     func(f family) *Request { return nil },
			dst:     func(f family, p uint16) netip.AddrPort { return addrPort(f.server, p) },
			wantSrc: func(f family, p uint16) netip.AddrPort { return addrPort(f.client, 40000) },
			wantDst: func(f family, p uint16) netip.AddrPort { return addrPort(f.server, p) },
		},
	}
	for _, c := range cases {
		for _, f := range families {
			for _, pr := range protos {
				if pr.proto == packet.ProtoICMP && c.noICMP {
					continue
				}
				proto := pr.proto
				if proto == packet.ProtoICMP && f.name == "ipv6" {
					proto = packet.ProtoICMPv6
				}
				t.Run(fmt.Sprintf("%s/%s/%s", c.name, f.name, pr.name), func(t *testing.T) {
					r := newRig(t, 0, Options{})
					dport := uint16(80)
					if proto == packet.ProtoICMP || proto == packet.ProtoICMPv6 {
						dport = 40000 // the echo id on both ends
					}
					src := addrPort(f.client, 40000)
					dst := c.dst(f, dport)
					wantSrc, wantDst := c.wantSrc(f, dport), c.wantDst(f, dport)
					if proto == packet.ProtoICMP || proto == packet.ProtoICMPv6 {
						// The id is one value: both ends carry what the source's is.
						wantDst = netip.AddrPortFrom(wantDst.Addr(), wantSrc.Port())
					}
					var reqs []*Request
					if q := c.req(f); q != nil {
						reqs = append(reqs, q)
					}
					for i := range 2 { // the first packet, then one bound already
						p := pktbuild.Parsed(t, build(proto, src, dst, false))
						if !r.hop(p, ifOutside, reqs...) {
							t.Fatalf("packet %d dropped; stats %+v", i, r.n.Stats())
						}
						if s, d := ends(p); s != wantSrc || d != wantDst {
							t.Fatalf("packet %d: %v -> %v, want %v -> %v", i, s, d, wantSrc, wantDst)
						}
						verify(t, p.Frame)
					}
					// The reply, from where the packet went to where it came from.
					q := pktbuild.Parsed(t, build(proto, wantDst, wantSrc, true))
					if !r.hop(q, ifInside) {
						t.Fatal("reply dropped")
					}
					if got := conntrack.CTInfo(q.CTInfo); got != conntrack.InfoEstablishedReply {
						t.Fatalf("reply ctinfo %v", got)
					}
					if s, d := ends(q); s != dst || d != src {
						t.Fatalf("reply: %v -> %v, want %v -> %v", s, d, dst, src)
					}
					verify(t, q.Frame)
				})
			}
		}
	}
}

// TestUDPZeroChecksumStaysZero: an IPv4 UDP datagram without a checksum
// keeps none in either direction (udp_manip_pkt).
func TestUDPZeroChecksumStaysZero(t *testing.T) {
	r := newRig(t, 0, Options{})
	f := families[0]
	b := pktbuild.UDP4(addrPort(f.client, 40000), addrPort(f.server, 9999), []byte("q"))
	binary.BigEndian.PutUint16(b[20+6:], 0)
	p := pktbuild.Parsed(t, b)
	if !r.hop(p, ifOutside, &Request{Kind: KindSNAT, AddrMin: ad(f.pub), PortMin: 5000}) {
		t.Fatal("dropped")
	}
	if c := p.UDP().Checksum(); c != 0 {
		t.Fatalf("checksum %#x, want 0", c)
	}
	if s, _ := ends(p); s != addrPort(f.pub, 5000) {
		t.Fatalf("source %v", s)
	}
	verify(t, p.Frame)
	b = pktbuild.UDP4(addrPort(f.server, 9999), addrPort(f.pub, 5000), []byte("a"))
	binary.BigEndian.PutUint16(b[20+6:], 0)
	q := pktbuild.Parsed(t, b)
	if !r.hop(q, ifInside) {
		t.Fatal("reply dropped")
	}
	if c := q.UDP().Checksum(); c != 0 {
		t.Fatalf("reply checksum %#x, want 0", c)
	}
	if _, d := ends(q); d != addrPort(f.client, 40000) {
		t.Fatalf("reply destination %v", d)
	}
}

// TestUDPChecksumNeverBecomesZero: a rewrite whose checksum comes out 0
// stores 0xFFFF (CSUM_MANGLED_0), since 0 would mean "none".
func TestUDPChecksumNeverBecomesZero(t *testing.T) {
	f := families[0]
	// Find a source port for which the translated datagram's checksum is
	// 0xFFFF when computed (0 folded): try ports until one hits.
	for port := uint16(1024); port < 65535; port++ {
		b := pktbuild.UDP4(addrPort(f.pub, port), addrPort(f.server, 9999), []byte("zz"))
		if packet.UDP(b[20:]).Checksum() != 0xffff {
			continue
		}
		r := newRig(t, 0, Options{})
		p := pktbuild.Parsed(t, pktbuild.UDP4(addrPort(f.client, 40000), addrPort(f.server, 9999), []byte("zz")))
		if !r.hop(p, ifOutside, &Request{Kind: KindSNAT, AddrMin: ad(f.pub), PortMin: port}) {
			t.Fatal("dropped")
		}
		if c := p.UDP().Checksum(); c != 0xffff {
			t.Fatalf("checksum %#x, want 0xffff", c)
		}
		verify(t, p.Frame)
		return
	}
	t.Fatal("no port gives a zero checksum")
}

// TestSNATAddressRange: the address comes from the range, the same for one
// client and server every time, and with persistent the same for one client
// whatever the server.
func TestSNATAddressRange(t *testing.T) {
	for _, f := range []struct{ lo, hi, client, server string }{
		{"198.19.0.1", "198.19.0.8", "198.18.0.10", "198.19.1.%d"},
		{"2001:db8:ff::1", "2001:db8:ff::1:0", "2001:db8:1::10", "2001:db8:2::%x"},
	} {
		for _, persistent := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/persistent=%v", f.lo, persistent), func(t *testing.T) {
				r := newRig(t, 0, Options{})
				req := &Request{Kind: KindSNAT, AddrMin: ad(f.lo), AddrMax: ad(f.hi)}
				if persistent {
					req.Flags = FlagPersistent
				}
				seen := map[netip.Addr]bool{}
				for i := 1; i <= 64; i++ {
					server := addrPort(fmt.Sprintf(f.server, i), 80)
					// Each from its own port: one client:port keeps one mapping.
					p := pktbuild.Parsed(t, build(packet.ProtoUDP, addrPort(f.client, uint16(40000+i)), server, false))
					if !r.hop(p, ifOutside, req) {
						t.Fatal("dropped")
					}
					s, _ := ends(p)
					if s.Addr().Less(ad(f.lo)) || ad(f.hi).Less(s.Addr()) {
						t.Fatalf("source %v out of range", s)
					}
					verify(t, p.Frame)
					seen[s.Addr()] = true
				}
				if persistent && len(seen) != 1 {
					t.Fatalf("persistent: %d addresses for one client", len(seen))
				}
				if !persistent && len(seen) < 2 {
					t.Fatalf("one address for 64 servers: not spread")
				}
			})
		}
	}
}

// TestRandomSkipsTheClientPort: with random, the port is searched even
// when the client's is free.
func TestRandomSkipsTheClientPort(t *testing.T) {
	for _, fl := range []Flags{FlagRandom, FlagFullyRandom} {
		r := newRig(t, 0, Options{Rand: func() uint32 { return 5 }})
		f := families[0]
		p := pktbuild.Parsed(t, build(packet.ProtoTCP, addrPort(f.client, 40000), addrPort(f.server, 80), false))
		if !r.hop(p, ifOutside, &Request{Kind: KindSNAT, AddrMin: ad(f.pub), Flags: fl}) {
			t.Fatal("dropped")
		}
		if s, _ := ends(p); s != addrPort(f.pub, 1024+5) {
			t.Fatalf("flags %v: source %v, want port 1029", fl, s)
		}
	}
}

// TestClientKeepsItsMappingAcrossServers: a client:port's second
// connection reuses the translation of its first (find_appropriate_src),
// even where a fresh search would pick another port.
func TestClientKeepsItsMappingAcrossServers(t *testing.T) {
	var next uint32
	r := newRig(t, 0, Options{Rand: func() uint32 { next += 7; return next }})
	f := families[0]
	req := &Request{Kind: KindSNAT, AddrMin: ad(f.pub), PortMin: 2000, PortMax: 2999}
	var first netip.AddrPort
	for i := 1; i <= 5; i++ {
		p := pktbuild.Parsed(t, build(packet.ProtoUDP, addrPort(f.client, 40000), addrPort(fmt.Sprintf("198.19.1.%d", i), 53), false))
		if !r.hop(p, ifOutside, req) {
			t.Fatal("dropped")
		}
		s, _ := ends(p)
		if i == 1 {
			first = s
		} else if s != first {
			t.Fatalf("connection %d mapped to %v, the first to %v", i, s, first)
		}
	}
}

// TestNullBindingRemapsAClash: two connections that would share a reply
// tuple after DNAT get different source ports from the null binding.
func TestNullBindingRemapsAClash(t *testing.T) {
	r := newRig(t, 0, Options{})
	f := families[0]
	// Client reaches the server both directly and through the public
	// address that DNATs to it: the second's reply tuple would clash.
	a := pktbuild.Parsed(t, build(packet.ProtoTCP, addrPort(f.client, 40000), addrPort(f.server, 80), false))
	if !r.hop(a, ifOutside) {
		t.Fatal("direct dropped")
	}
	b := pktbuild.Parsed(t, build(packet.ProtoTCP, addrPort(f.client, 40000), addrPort(f.pub, 80), false))
	if !r.hop(b, ifOutside, &Request{Kind: KindDNAT, AddrMin: ad(f.server)}) {
		t.Fatalf("dnat dropped; %+v", r.n.Stats())
	}
	s, d := ends(b)
	if d != addrPort(f.server, 80) || s.Addr() != ad(f.client) || s.Port() == 40000 || s.Port() < 1024 {
		t.Fatalf("second connection %v -> %v: want the client with another port", s, d)
	}
	if st := r.n.Stats(); st.NullBindings != 3 || st.Remapped != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestHairpin: an inside client reaching an inside server through the
// public address works with DNAT plus masquerade; with DNAT alone the
// server answers the client directly, as with the kernel.
func TestHairpin(t *testing.T) {
	f := families[0]
	client, server := addrPort(f.client, 40000), addrPort(f.server2, 80)
	dnat := &Request{Kind: KindDNAT, AddrMin: server.Addr()}
	masq := &Request{Kind: KindMasquerade, Local: ad(f.inside)}

	r := newRig(t, 0, Options{})
	p := pktbuild.Parsed(t, build(packet.ProtoTCP, client, addrPort(f.pub, 80), false))
	if !r.hop(p, ifInside, dnat, masq) {
		t.Fatal("dropped")
	}
	if s, d := ends(p); s != addrPort(f.inside, 40000) || d != server {
		t.Fatalf("hairpinned %v -> %v", s, d)
	}
	verify(t, p.Frame)
	q := pktbuild.Parsed(t, build(packet.ProtoTCP, server, addrPort(f.inside, 40000), true))
	if !r.hop(q, ifInside) {
		t.Fatal("reply dropped")
	}
	if s, d := ends(q); s != addrPort(f.pub, 80) || d != client {
		t.Fatalf("reply %v -> %v", s, d)
	}
	verify(t, q.Frame)

	// Without masquerade the reply tuple says the server answers the
	// client itself, around the router: the client then sees a reply from
	// an address it did not talk to.
	r = newRig(t, 0, Options{})
	p = pktbuild.Parsed(t, build(packet.ProtoTCP, client, addrPort(f.pub, 80), false))
	if !r.hop(p, ifInside, dnat) {
		t.Fatal("dropped")
	}
	if rt := r.t.Tuple(p.CT, conntrack.DirReply); rt.SrcAddr() != server.Addr() || rt.DstAddr() != client.Addr() {
		t.Fatalf("reply tuple %v", rt)
	}
}
