package nat

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

// icmpErr builds an ICMP error from src to dst quoting all of orig (a
// time exceeded, or for IPv6 a packet too big).
func icmpErr(f family, src, dst string, orig []byte) []byte {
	if f.name == "ipv4" {
		return pktbuild.ICMP(ad(src), ad(dst), packet.ICMPv4TimeExceeded, 0, 0, orig, nil)
	}
	return pktbuild.ICMP(ad(src), ad(dst), packet.ICMPv6PacketTooBig, 0, 1280, orig, nil)
}

func quote(p *packet.Packet) []byte { return p.Frame[p.L4Off+8 : p.L3End] }

// TestICMPErrorsAreTranslatedInside: an ICMP error about a NATed
// connection has its outer header and the packet it quotes (addresses,
// ports, identifiers and every checksum) translated, in both directions.
func TestICMPErrorsAreTranslatedInside(t *testing.T) {
	for _, f := range families {
		for _, pr := range protos {
			proto := pr.proto
			if proto == packet.ProtoICMP && f.name == "ipv6" {
				proto = packet.ProtoICMPv6
			}
			router := "198.19.2.1"
			if f.name == "ipv6" {
				router = "2001:db8:3::1"
			}
			port := func(p uint16) uint16 {
				if proto == packet.ProtoICMP || proto == packet.ProtoICMPv6 {
					return 7 // the echo id
				}
				return p
			}
			t.Run(fmt.Sprintf("snat/%s/%s", f.name, pr.name), func(t *testing.T) {
				r := newRig(t, 0, Options{})
				client, server := addrPort(f.client, port(40000)), addrPort(f.server, port(9999))
				snat := &Request{Kind: KindSNAT, AddrMin: ad(f.pub)}
				// Another client holds the public end first, so this
				// connection's port (or id) is remapped.
				other := pktbuild.Parsed(t, build(proto, addrPort(f.client2(), port(40000)), server, false))
				if !r.hop(other, ifOutside, snat) {
					t.Fatal("first client dropped")
				}
				p := pktbuild.Parsed(t, build(proto, client, server, false))
				if !r.hop(p, ifOutside, snat) {
					t.Fatal("dropped")
				}
				out := append([]byte(nil), p.Frame...)
				pub, _ := ends(p)
				if pub.Port() == client.Port() {
					t.Fatalf("not remapped: %v", pub)
				}
				// A router past the NAT says the packet's time ran out.
				e := pktbuild.Parsed(t, icmpErr(f, router, f.pub, out))
				if !r.hop(e, ifInside) {
					t.Fatalf("error dropped; %+v", r.n.Stats())
				}
				if got := conntrack.CTInfo(e.CTInfo); got != conntrack.InfoRelatedReply {
					t.Fatalf("ctinfo %v", got)
				}
				if s, d := ends(e); s.Addr() != ad(router) || d.Addr() != client.Addr() {
					t.Fatalf("outer %v -> %v", s, d)
				}
				verify(t, e.Frame)
				in := pktbuild.Parsed(t, quote(e))
				if s, d := ends(in); s != client || d.Addr() != server.Addr() {
					t.Fatalf("quoted %v -> %v, want %v -> %v", s, d, client, server)
				}
				verifyLayers(t, quote(e), true)
				// Only the destination manip translates a reply-direction
				// error about a source-NATed connection.
				if st := r.n.Stats(); st.ICMPTranslated != 1 {
					t.Fatalf("stats %+v", st)
				}
			})
			if proto == packet.ProtoICMP || proto == packet.ProtoICMPv6 {
				continue
			}
			t.Run(fmt.Sprintf("dnat/%s/%s", f.name, pr.name), func(t *testing.T) {
				r := newRig(t, 0, Options{})
				client := addrPort(f.client, 40000)
				p := pktbuild.Parsed(t, build(proto, client, addrPort(f.pub, 9999), false))
				if !r.hop(p, ifInside, &Request{Kind: KindDNAT, AddrMin: ad(f.server), PortMin: 7777}) {
					t.Fatal("dropped")
				}
				// The server says the port is closed, about what it got.
				e := pktbuild.Parsed(t, icmpErr(f, f.server, f.client, p.Frame))
				if !r.hop(e, ifOutside) {
					t.Fatal("error dropped")
				}
				if s, d := ends(e); s.Addr() != ad(f.pub) || d.Addr() != client.Addr() {
					t.Fatalf("outer %v -> %v", s, d)
				}
				verify(t, e.Frame)
				in := pktbuild.Parsed(t, quote(e))
				if s, d := ends(in); s != client || d != addrPort(f.pub, 9999) {
					t.Fatalf("quoted %v -> %v", s, d)
				}
				verifyLayers(t, quote(e), true)
			})
		}
	}
}

func (f family) client2() string {
	if f.name == "ipv4" {
		return "198.18.0.11"
	}
	return "2001:db8:1::11"
}

// TestICMPErrorWithShortQuote: an IPv4 error quoting the IP header and 8
// bytes (RFC 792) gets its quoted addresses, ports and IP header checksum
// translated; the TCP checksum, not quoted, is left alone.
func TestICMPErrorWithShortQuote(t *testing.T) {
	f := families[0]
	r := newRig(t, 0, Options{})
	p := pktbuild.Parsed(t, build(packet.ProtoTCP, addrPort(f.client, 40000), addrPort(f.server, 80), false))
	if !r.hop(p, ifOutside, &Request{Kind: KindSNAT, AddrMin: ad(f.pub), PortMin: 3000}) {
		t.Fatal("dropped")
	}
	e := pktbuild.Parsed(t, pktbuild.ICMPError(ad(f.server), ad(f.pub), packet.ICMPv4DestUnreachable, packet.ICMPv4FragNeeded, 1400, p.Frame, nil))
	if len(quote(e)) != 28 {
		t.Fatalf("quote of %d bytes", len(quote(e)))
	}
	if !r.hop(e, ifInside) {
		t.Fatal("dropped")
	}
	verify(t, e.Frame)
	q := packet.IPv4(quote(e))
	if q.Src() != ad(f.client) || packet.Fold(packet.Sum(q[:20], 0)) != 0 {
		t.Fatalf("quoted header % x", q[:20])
	}
	if packet.TCP(q[20:]).SrcPort() != 40000 {
		t.Fatalf("quoted port %d", packet.TCP(q[20:]).SrcPort())
	}
	if e.ICMPv4().MTU() != 1400 {
		t.Fatal("the MTU changed")
	}
}

// TestICMPErrorsDropped: errors about a NATed connection are dropped when
// their checksum is bad, and redirects about one always are.
func TestICMPErrorsDropped(t *testing.T) {
	f := families[0]
	setup := func(t *testing.T) (*rig, []byte) {
		r := newRig(t, 0, Options{})
		p := pktbuild.Parsed(t, build(packet.ProtoUDP, addrPort(f.client, 40000), addrPort(f.server, 9999), false))
		if !r.hop(p, ifOutside, &Request{Kind: KindSNAT, AddrMin: ad(f.pub)}) {
			t.Fatal("dropped")
		}
		return r, p.Frame
	}
	t.Run("bad checksum", func(t *testing.T) {
		r, out := setup(t)
		e := pktbuild.Parsed(t, pktbuild.ICMPError(ad(f.server), ad(f.pub), 3, 3, 0, out, &pktbuild.Options{BadChecksum: true}))
		if r.hop(e, ifInside) {
			t.Fatal("passed")
		}
		if r.n.Stats().ICMPDropped != 1 {
			t.Fatalf("stats %+v", r.n.Stats())
		}
	})
	t.Run("redirect", func(t *testing.T) {
		r, out := setup(t)
		e := pktbuild.Parsed(t, pktbuild.ICMPError(ad(f.server), ad(f.pub), packet.ICMPv4Redirect, 0, 0, out, nil))
		if r.hop(e, ifInside) {
			t.Fatal("passed")
		}
	})
	t.Run("about a connection without NAT, untouched", func(t *testing.T) {
		r := newRig(t, 0, Options{})
		p := pktbuild.Parsed(t, build(packet.ProtoUDP, addrPort(f.client, 40000), addrPort(f.server, 9999), false))
		if !r.hop(p, ifOutside) {
			t.Fatal("dropped")
		}
		b := pktbuild.ICMPError(ad(f.server), ad(f.client), 3, 3, 0, p.Frame, nil)
		e := pktbuild.Parsed(t, b)
		if !r.hop(e, ifInside) || !bytes.Equal(e.Frame, b) {
			t.Fatal("changed or dropped")
		}
	})
}
