package packet_test

import (
	"bytes"
	"encoding/binary"
	"math/rand"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/nfgo/nfgo/packet"
)

// seeded returns a random source and logs its seed, so that a failure can
// be replayed by putting the seed here.
func seeded(t testing.TB) *rand.Rand {
	seed := time.Now().UnixNano()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("random seed: %d", seed)
		}
	})
	return rand.New(rand.NewSource(seed))
}

// naiveSum is RFC 1071 written out: 16-bit words, 32-bit accumulator.
func naiveSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

func TestSumMatchesNaiveSumOnRandomData(t *testing.T) {
	r := seeded(t)
	for i := 0; i < 5000; i++ {
		b := make([]byte, r.Intn(200))
		r.Read(b)
		if r.Intn(4) == 0 { // runs of 0xff exercise the carries
			for j := range b {
				b[j] = 0xff
			}
		}
		init := uint32(0)
		if r.Intn(2) == 0 {
			init = r.Uint32()
		}
		want := naiveSum(append(binary.BigEndian.AppendUint32(nil, init), b...))
		if got := packet.Fold(packet.Sum(b, init)); got != want {
			t.Fatalf("Fold(Sum(%x, %#x)) = %#04x, want %#04x", b, init, got, want)
		}
		// Chaining at an even split gives the same sum.
		k := r.Intn(len(b)+1) &^ 1
		if got := packet.Fold(packet.Sum(b[k:], packet.Sum(b[:k], init))); got != want {
			t.Fatalf("chained sum split at %d = %#04x, want %#04x", k, got, want)
		}
	}
}

func randAddr(r *rand.Rand, v6 bool) netip.Addr {
	if v6 {
		var a [16]byte
		r.Read(a[:])
		return netip.AddrFrom16(a)
	}
	var a [4]byte
	r.Read(a[:])
	return netip.AddrFrom4(a)
}

func randBytes(r *rand.Rand, max int) []byte {
	b := make([]byte, r.Intn(max+1))
	r.Read(b)
	return b
}

// oraclePacket builds a random packet with gopacket and returns its bytes
// (raw IP, checksums computed by gopacket) and the layers, for re-serializing.
type oraclePacket struct {
	ip4   *layers.IPv4
	ip6   *layers.IPv6
	tcp   *layers.TCP
	udp   *layers.UDP
	icmp4 *layers.ICMPv4
	icmp6 *layers.ICMPv6
	echo6 *layers.ICMPv6Echo
	pay   []byte
}

func randOracle(r *rand.Rand, v6 bool) *oraclePacket {
	o := &oraclePacket{pay: randBytes(r, 300)}
	src, dst := randAddr(r, v6), randAddr(r, v6)
	var proto layers.IPProtocol
	switch r.Intn(3) {
	case 0:
		proto = layers.IPProtocolTCP
		o.tcp = &layers.TCP{
			SrcPort: layers.TCPPort(r.Uint32()), DstPort: layers.TCPPort(r.Uint32()),
			Seq: r.Uint32(), Ack: r.Uint32(), Window: uint16(r.Uint32()),
			SYN: r.Intn(2) == 0, ACK: r.Intn(2) == 0, PSH: r.Intn(2) == 0,
		}
		if r.Intn(2) == 0 {
			o.tcp.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}}}
		}
	case 1:
		proto = layers.IPProtocolUDP
		o.udp = &layers.UDP{SrcPort: layers.UDPPort(r.Uint32()), DstPort: layers.UDPPort(r.Uint32())}
	case 2:
		if v6 {
			proto = layers.IPProtocolICMPv6
			o.icmp6 = &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128+uint8(r.Intn(2)), 0)}
			o.echo6 = &layers.ICMPv6Echo{Identifier: uint16(r.Uint32()), SeqNumber: uint16(r.Uint32())}
		} else {
			proto = layers.IPProtocolICMPv4
			o.icmp4 = &layers.ICMPv4{
				TypeCode: layers.CreateICMPv4TypeCode(uint8(r.Intn(2))*8, 0),
				Id:       uint16(r.Uint32()), Seq: uint16(r.Uint32()),
			}
		}
	}
	if v6 {
		o.ip6 = &layers.IPv6{Version: 6, TrafficClass: uint8(r.Uint32()), FlowLabel: r.Uint32() & 0xfffff,
			NextHeader: proto, HopLimit: uint8(r.Uint32()), SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	} else {
		o.ip4 = &layers.IPv4{Version: 4, TOS: uint8(r.Uint32()), Id: uint16(r.Uint32()),
			TTL: uint8(r.Intn(254) + 2), Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		if r.Intn(3) == 0 {
			o.ip4.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
		}
	}
	return o
}

func (o *oraclePacket) serialize(t testing.TB) []byte {
	var ls []gopacket.SerializableLayer
	var nl gopacket.NetworkLayer
	if o.ip4 != nil {
		ls, nl = append(ls, o.ip4), o.ip4
	} else {
		ls, nl = append(ls, o.ip6), o.ip6
	}
	switch {
	case o.tcp != nil:
		o.tcp.SetNetworkLayerForChecksum(nl)
		ls = append(ls, o.tcp)
	case o.udp != nil:
		o.udp.SetNetworkLayerForChecksum(nl)
		ls = append(ls, o.udp)
	case o.icmp4 != nil:
		ls = append(ls, o.icmp4)
	case o.icmp6 != nil:
		o.icmp6.SetNetworkLayerForChecksum(nl)
		ls = append(ls, o.icmp6, o.echo6)
	}
	ls = append(ls, gopacket.Payload(o.pay))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func parseRaw(t testing.TB, b []byte) *packet.Packet {
	t.Helper()
	p := &packet.Packet{Frame: b}
	if r := p.Parse(packet.LinkRaw); r != packet.ReasonNone {
		t.Fatalf("Parse(%x) = %v", b, r)
	}
	return p
}

// l4Checksum reads and computes the packet's L4 checksum with the views.
func l4Checksum(p *packet.Packet) (stored, computed uint16) {
	switch p.Proto {
	case packet.ProtoTCP:
		return p.TCP().Checksum(), p.TCP().ComputeChecksum(p.Src(), p.Dst())
	case packet.ProtoUDP:
		return p.UDP().Checksum(), p.UDP().ComputeChecksum(p.Src(), p.Dst())
	case packet.ProtoICMP:
		return p.ICMPv4().Checksum(), p.ICMPv4().ComputeChecksum()
	case packet.ProtoICMPv6:
		return p.ICMPv6().Checksum(), p.ICMPv6().ComputeChecksum(p.Src(), p.Dst())
	}
	panic("no L4 checksum")
}

func TestChecksumsMatchGopacketOnRandomPackets(t *testing.T) {
	r := seeded(t)
	for i := 0; i < 3000; i++ {
		o := randOracle(r, r.Intn(2) == 0)
		b := o.serialize(t)
		p := parseRaw(t, b)
		if p.Family == packet.FamilyIPv4 {
			if got, want := p.IPv4().ComputeChecksum(), p.IPv4().Checksum(); got != want {
				t.Fatalf("IPv4 header checksum = %#04x, gopacket %#04x\n%x", got, want, b)
			}
		}
		if stored, computed := l4Checksum(p); stored != computed {
			t.Fatalf("proto %d checksum = %#04x, gopacket %#04x\n%x", p.Proto, computed, stored, b)
		}
		if !p.VerifyChecksums() {
			t.Fatalf("VerifyChecksums() = false on gopacket's packet %x", b)
		}
		// Clobber every checksum; ComputeChecksums must restore gopacket's bytes.
		c := append([]byte(nil), b...)
		q := parseRaw(t, c)
		if q.Family == packet.FamilyIPv4 {
			q.IPv4().SetChecksum(0xdead)
		}
		binary.BigEndian.PutUint16(c[int(q.L4Off)+map[uint8]int{6: 16, 17: 6, 1: 2, 58: 2}[q.Proto]:], 0xbeef)
		// A fragment's L4 checksum covers the whole datagram and is not
		// verified, so a clobbered one passes unless the IPv4 header tells.
		if q.VerifyChecksums() && (q.Family == packet.FamilyIPv4 || !q.Fragment) {
			t.Fatalf("VerifyChecksums() = true with clobbered checksums %x", c)
		}
		q.ComputeChecksums()
		if !bytes.Equal(c, b) {
			t.Fatalf("ComputeChecksums gave\n%x, gopacket\n%x", c, b)
		}
	}
}

// TestIncrementalUpdatesMatchGopacketRecomputing changes addresses, ports
// and the TTL in place with the RFC 1624 updates, makes the same change in
// gopacket's layers, and compares the bytes with gopacket's full
// recomputation.
func TestIncrementalUpdatesMatchGopacketRecomputing(t *testing.T) {
	r := seeded(t)
	for i := 0; i < 3000; i++ {
		v6 := r.Intn(2) == 0
		o := randOracle(r, v6)
		b := o.serialize(t)
		p := parseRaw(t, b)
		l4off := int(p.L4Off)
		var l4check int // offset of the L4 checksum field in b; 0 for ICMPv4
		switch p.Proto {
		case packet.ProtoTCP:
			l4check = l4off + 16
		case packet.ProtoUDP:
			l4check = l4off + 6
		case packet.ProtoICMPv6:
			l4check = l4off + 2
		}
		update := func(f func(uint16) uint16) {
			if l4check == 0 {
				return
			}
			c := f(binary.BigEndian.Uint16(b[l4check:]))
			if p.Proto == packet.ProtoUDP && c == 0 {
				c = 0xffff // CSUM_MANGLED_0
			}
			binary.BigEndian.PutUint16(b[l4check:], c)
		}

		// New source address: the pseudo-header changes, and the IPv4 header.
		newSrc := randAddr(r, v6)
		var old []byte
		if v6 {
			old = append(old, p.IPv6().SrcBytes()...)
			p.IPv6().SetSrc(newSrc)
			o.ip6.SrcIP = newSrc.AsSlice()
		} else {
			old = append(old, p.IPv4().SrcBytes()...)
			ip := p.IPv4()
			ip.SetSrc(newSrc)
			ip.SetChecksum(packet.UpdateChecksumBytes(ip.Checksum(), old, ip.SrcBytes()))
			o.ip4.SrcIP = newSrc.AsSlice()
		}
		if p.Proto != packet.ProtoICMP {
			update(func(c uint16) uint16 { return packet.UpdateChecksumBytes(c, old, newSrc.AsSlice()) })
		}

		// New destination address, through UpdateChecksum32 for IPv4.
		if !v6 {
			ip := p.IPv4()
			newDst := randAddr(r, false)
			oldDst := binary.BigEndian.Uint32(ip.DstBytes())
			nd := newDst.As4()
			ip.SetDst(newDst)
			ip.SetChecksum(packet.UpdateChecksum32(ip.Checksum(), oldDst, binary.BigEndian.Uint32(nd[:])))
			if p.Proto != packet.ProtoICMP {
				update(func(c uint16) uint16 { return packet.UpdateChecksum32(c, oldDst, binary.BigEndian.Uint32(nd[:])) })
			}
			o.ip4.DstIP = newDst.AsSlice()
		}

		// New ports, or a new ICMP identifier.
		np := uint16(r.Uint32())
		switch p.Proto {
		case packet.ProtoTCP:
			t := p.TCP()
			update(func(c uint16) uint16 { return packet.UpdateChecksum16(c, t.SrcPort(), np) })
			t.SetSrcPort(np)
			o.tcp.SrcPort = layers.TCPPort(np)
		case packet.ProtoUDP:
			u := p.UDP()
			update(func(c uint16) uint16 { return packet.UpdateChecksum16(c, u.DstPort(), np) })
			u.SetDstPort(np)
			o.udp.DstPort = layers.UDPPort(np)
		case packet.ProtoICMP:
			m := p.ICMPv4()
			m.SetChecksum(packet.UpdateChecksum16(m.Checksum(), m.ID(), np))
			m.SetID(np)
			o.icmp4.Id = np
		case packet.ProtoICMPv6:
			m := p.ICMPv6()
			update(func(c uint16) uint16 { return packet.UpdateChecksum16(c, m.ID(), np) })
			m.SetID(np)
			o.echo6.Identifier = np
		}

		// TTL.
		if !v6 {
			p.IPv4().DecTTL()
			o.ip4.TTL--
		}

		if want := o.serialize(t); !bytes.Equal(b, want) {
			t.Fatalf("after incremental updates:\n%x\ngopacket recomputed:\n%x", b, want)
		}
	}
}

func TestUpdateChecksumKeepsRFC1624Example(t *testing.T) {
	// RFC 1624 section 4: HC 0xDD2F, m 0x5555 -> m' 0x3285 must give
	// 0x0000, where eqn. 2 would give 0xFFFF.
	if got := packet.UpdateChecksum16(0xdd2f, 0x5555, 0x3285); got != 0x0000 {
		t.Fatalf("UpdateChecksum16(0xdd2f, 0x5555, 0x3285) = %#04x, want 0x0000", got)
	}
}

func TestUpdateChecksumMatchesFullRecomputationOnRandomData(t *testing.T) {
	r := seeded(t)
	for i := 0; i < 20000; i++ {
		b := make([]byte, 2*(8+r.Intn(40)))
		r.Read(b)
		check := packet.Fold(packet.Sum(b, 0))
		k := 2 * r.Intn(len(b)/2-7)
		switch r.Intn(3) {
		case 0:
			old := binary.BigEndian.Uint16(b[k:])
			nw := uint16(r.Uint32())
			binary.BigEndian.PutUint16(b[k:], nw)
			check = packet.UpdateChecksum16(check, old, nw)
		case 1:
			old := binary.BigEndian.Uint32(b[k:])
			nw := r.Uint32()
			binary.BigEndian.PutUint32(b[k:], nw)
			check = packet.UpdateChecksum32(check, old, nw)
		case 2:
			old := append([]byte(nil), b[k:k+16]...)
			r.Read(b[k : k+16])
			check = packet.UpdateChecksumBytes(check, old, b[k:k+16])
		}
		if want := packet.Fold(packet.Sum(b, 0)); check != want {
			t.Fatalf("incremental checksum %#04x, full %#04x (data %x)", check, want, b)
		}
	}
}

func TestPseudoHeaderSumMatchesSumOfPseudoHeader(t *testing.T) {
	r := seeded(t)
	for i := 0; i < 1000; i++ {
		v6 := r.Intn(2) == 0
		src, dst := randAddr(r, v6), randAddr(r, v6)
		n := r.Intn(0x10000)
		if v6 {
			n = r.Intn(1 << 20) // jumbo lengths use the upper 16 bits too
		}
		var ph []byte
		ph = append(ph, src.AsSlice()...)
		ph = append(ph, dst.AsSlice()...)
		if v6 {
			ph = binary.BigEndian.AppendUint32(ph, uint32(n))
			ph = append(ph, 0, 0, 0, 17)
		} else {
			ph = append(ph, 0, 17)
			ph = binary.BigEndian.AppendUint16(ph, uint16(n))
		}
		if got, want := packet.Fold(packet.PseudoHeaderSum(src, dst, 17, n)), naiveSum(ph); got != want {
			t.Fatalf("PseudoHeaderSum(%v, %v, 17, %d) folds to %#04x, want %#04x", src, dst, n, got, want)
		}
	}
}

var sink uint32

func BenchmarkChecksum(b *testing.B) {
	buf := make([]byte, 1500)
	rand.New(rand.NewSource(1)).Read(buf)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		sink += packet.Sum(buf, 0)
	}
}

func BenchmarkUpdateChecksum(b *testing.B) {
	old, nw := net.IPv6loopback, net.ParseIP("2001:db8::1")
	b.Run("16", func(b *testing.B) {
		b.ReportAllocs()
		c := uint16(0x1234)
		for b.Loop() {
			c = packet.UpdateChecksum16(c, 0x5555, 0x3285)
		}
		sink += uint32(c)
	})
	b.Run("32", func(b *testing.B) {
		b.ReportAllocs()
		c := uint16(0x1234)
		for b.Loop() {
			c = packet.UpdateChecksum32(c, 0xc6120001, 0xc6120102)
		}
		sink += uint32(c)
	})
	b.Run("IPv6Addr", func(b *testing.B) {
		b.ReportAllocs()
		c := uint16(0x1234)
		for b.Loop() {
			c = packet.UpdateChecksumBytes(c, old, nw)
		}
		sink += uint32(c)
	})
}
