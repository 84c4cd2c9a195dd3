package nat

import (
	"testing"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

// FuzzQuote: the rewrite of the packet an ICMP error quotes must not
// panic, nor write outside the quote, whatever it holds.
func FuzzQuote(f *testing.F) {
	tcp := build(packet.ProtoTCP, ap("198.19.0.1:1000"), ap("198.19.1.1:80"), false)
	f.Add(tcp, false, uint8(packet.ProtoTCP), uint8(0))
	f.Add(tcp[:28], false, uint8(packet.ProtoTCP), uint8(1))
	f.Add(build(packet.ProtoUDP, ap("[2001:db8::1]:1"), ap("[2001:db8::2]:2"), false), true, uint8(packet.ProtoUDP), uint8(0))
	f.Add(build(packet.ProtoICMPv6, ap("[2001:db8::1]:7"), ap("[2001:db8::2]:7"), false), true, uint8(packet.ProtoICMPv6), uint8(1))
	f.Fuzz(func(t *testing.T, q []byte, v6 bool, proto, m uint8) {
		o := conntrack.TupleFrom(ap("198.18.0.1:4000"), ap("198.19.1.1:80"), proto)
		if v6 {
			o = conntrack.TupleFrom(ap("[2001:db8:1::1]:4000"), ap("[2001:db8:2::1]:80"), proto)
		}
		buf := make([]byte, len(q)+16)
		copy(buf, q)
		for i := len(q); i < len(buf); i++ {
			buf[i] = 0xa5
		}
		rewriteQuote(buf[:len(q):len(q)], v6, &o, Manip(m&1))
		for i := len(q); i < len(buf); i++ {
			if buf[i] != 0xa5 {
				t.Fatalf("wrote past the quote at %d", i)
			}
		}
	})
}

// FuzzICMPError: Do on an ICMP error that claims to be about a NATed
// connection, whatever it quotes, must not panic; when it passes the error,
// its checksums are right.
func FuzzICMPError(f *testing.F) {
	f.Add(build(packet.ProtoTCP, ap("198.19.0.1:40000"), ap("198.19.1.1:80"), false), false, uint8(3))
	f.Add(build(packet.ProtoUDP, ap("[2001:db8:ff::1]:40000"), ap("[2001:db8:2::1]:80"), false), true, uint8(1))
	f.Add([]byte{0x45, 0, 0, 20}, false, uint8(11))
	f.Fuzz(func(t *testing.T, quoted []byte, v6 bool, typ uint8) {
		r := newRig(t, 0, Options{})
		client, server, pub, router := "198.18.0.10", "198.19.1.1", "198.19.0.1", "198.19.2.1"
		if v6 {
			client, server, pub, router = "2001:db8:1::10", "2001:db8:2::1", "2001:db8:ff::1", "2001:db8:3::1"
		}
		p := pktbuild.Parsed(t, build(packet.ProtoTCP, addrPort(client, 40000), addrPort(server, 80), false))
		if !r.hop(p, ifOutside, &Request{Kind: KindSNAT, AddrMin: ad(pub), PortMin: 5000}) {
			t.Fatal("dropped")
		}
		if v6 {
			typ &= 3 // the ICMPv6 errors
		}
		e := &packet.Packet{Buf: pktbuild.ICMP(ad(router), ad(pub), typ, 0, 0, quoted, nil)}
		e.Frame = e.Buf
		if e.Parse(packet.LinkRaw) != packet.ReasonNone || !isICMPError(e) {
			return
		}
		e.CT, e.CTInfo = p.CT, uint8(conntrack.InfoRelatedReply)
		for _, m := range []Manip{ManipDst, ManipSrc} {
			if !r.n.Do(e, m) {
				return
			}
		}
		if !e.VerifyChecksums() {
			t.Fatalf("checksums wrong after translation: % x", e.Frame)
		}
	})
}
