package nat

import (
	"bytes"
	"encoding/binary"
	"math/rand"
	"net/netip"
	"testing"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

// TestFastRunMatchesRewrite checks the precomputed-delta rewrite
// against the general one, byte for byte, on random TCP and UDP packets of
// both families, for both directions and manips, with addresses and ports
// that change or stay, and checksum fields that are random or at the edge
// values 0 and 0xffff (UDP's 0 meaning "no checksum").
func TestFastRunMatchesRewrite(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	addr := func(v6 bool) netip.Addr {
		if v6 {
			b := [16]byte{0x20, 0x01, 0x0d, 0xb8}
			rng.Read(b[4:])
			if rng.Intn(4) == 0 {
				b[15] = 1
			}
			return netip.AddrFrom16(b)
		}
		return netip.AddrFrom4([4]byte{198, 18 + byte(rng.Intn(2)), byte(rng.Intn(3)), byte(rng.Intn(3))})
	}
	port := func() uint16 { return uint16(rng.Intn(4)) + 1000 }
	// fast runs fastRun on p, as a packet of direction d of a connection
	// whose copy is x, between packets without a connection; it reports
	// whether fastRun stopped at p. The connection is one tracked entry
	// with every NAT bit, whose copy the test overwrites each time.
	r := newRig(t, 0, Options{})
	p0 := pktbuild.Parsed(t, build(packet.ProtoUDP, ap("198.18.0.1:1000"), ap("198.18.0.2:2000"), false))
	r.w.Track([]*packet.Packet{p0}, make([]bool, 1))
	slot := p0.CT
	if slot == 0 {
		t.Fatal("no entry")
	}
	r.n.xl.record(r.t, slot)
	r.t.SetStatus(slot, natMask)
	xs := r.n.xl.slab()
	fast := func(x *xlat, p *packet.Packet, d conntrack.Dir, m Manip) bool {
		xs[slot] = *x
		p.CT, p.CTInfo = slot, uint8(conntrack.InfoEstablished)
		if d == conntrack.DirReply {
			p.CTInfo = uint8(conntrack.InfoEstablishedReply)
		}
		other := packet.New()
		return r.n.fastRun([]*packet.Packet{other, p, other}, m) == 1
	}
	for i := range 20000 {
		v6 := i%2 == 1
		proto := []uint8{packet.ProtoTCP, packet.ProtoUDP}[rng.Intn(2)]
		var x xlat
		for d := range x.tup {
			x.tup[d] = conntrack.TupleFrom(netip.AddrPortFrom(addr(v6), port()), netip.AddrPortFrom(addr(v6), port()), proto)
		}
		d := conntrack.Dir(rng.Intn(2))
		m := Manip(rng.Intn(2))
		x.record1()
		cur := &x.tup[d]
		frame := build(proto, netip.AddrPortFrom(cur.SrcAddr(), cur.SrcPort), netip.AddrPortFrom(cur.DstAddr(), cur.DstPort), false)
		p := pktbuild.Parsed(t, frame)
		// Checksum fields: the IPv4 header's and the transport's.
		coff := int(p.L4Off) + 16
		if proto == packet.ProtoUDP {
			coff = int(p.L4Off) + 6
		}
		switch rng.Intn(4) {
		case 0:
			binary.BigEndian.PutUint16(p.Frame[coff:], 0)
		case 1:
			binary.BigEndian.PutUint16(p.Frame[coff:], 0xffff)
		case 2:
			binary.BigEndian.PutUint16(p.Frame[coff:], uint16(rng.Uint32()))
		}
		if !v6 && rng.Intn(4) == 0 {
			binary.BigEndian.PutUint16(p.Frame[int(p.L3Off)+10:], 0xffff)
		}
		want := bytes.Clone(p.Frame)
		o := &x.tup[d^1]
		a, pt := target(o, m, true)
		rewrite(want[p.L3Off:p.L3End], v6, want[p.L4Off:p.L3End], proto, a, pt, o.SrcPort, m == ManipSrc, false)
		before := bytes.Clone(p.Frame)
		if fast(&x, p, d, m) {
			t.Fatalf("case %d: fastRun refused a packet of its tuple", i)
		}
		if !bytes.Equal(p.Frame, want) {
			t.Fatalf("case %d (v6 %v proto %d dir %d manip %d):\nbefore % x\nfast   % x\nwant   % x", i, v6, proto, d, m, before, p.Frame, want)
		}
		// A packet whose fields are not its tuple's is left alone.
		q := pktbuild.Parsed(t, before)
		off := int(q.L4Off)
		if m == ManipDst {
			off += 2
		}
		binary.BigEndian.PutUint16(q.Frame[off:], binary.BigEndian.Uint16(q.Frame[off:])+1)
		changed := bytes.Clone(q.Frame)
		if !fast(&x, q, d, m) || !bytes.Equal(q.Frame, changed) {
			t.Fatalf("case %d: fastRun rewrote a packet with another port", i)
		}
	}
}
