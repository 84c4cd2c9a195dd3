package packet_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

var (
	src4 = netip.MustParseAddrPort("198.18.0.1:1234")
	dst4 = netip.MustParseAddrPort("198.19.0.2:53")
	src6 = netip.MustParseAddrPort("[2001:db8::1]:1234")
	dst6 = netip.MustParseAddrPort("[2001:db8::2]:443")
)

// set returns a copy of b with b[i] = v for each pair.
func set(b []byte, iv ...int) []byte {
	c := append([]byte(nil), b...)
	for k := 0; k < len(iv); k += 2 {
		c[iv[k]] = byte(iv[k+1])
	}
	return c
}

func put16(b []byte, off int, v uint16) []byte {
	c := append([]byte(nil), b...)
	binary.BigEndian.PutUint16(c[off:], v)
	return c
}

func ext(hs ...uint8) *pktbuild.Options {
	o := &pktbuild.Options{}
	for _, h := range hs {
		o.ExtHeaders = append(o.ExtHeaders, pktbuild.ExtHeader{Proto: h})
	}
	return o
}

func TestParseRejectsMalformedFrames(t *testing.T) {
	udp4 := pktbuild.UDP4(src4, dst4, []byte("hello"))
	udp6 := pktbuild.UDP6(src6, dst6, []byte("hello"))
	tcp4 := pktbuild.TCP4(src4, dst4, packet.TCPFlagSYN, 1, 0, nil)
	eth := pktbuild.EtherFrame(udp4)
	tagged := pktbuild.PushVLAN(eth, packet.EtherTypeVLAN, 0, 10)
	arp := pktbuild.Ether(packet.BroadcastMAC, pktbuild.MAC1, packet.EtherTypeARP,
		pktbuild.ARP(packet.ARPRequest, pktbuild.MAC1, src4.Addr(), packet.MAC{}, dst4.Addr()))
	huge := pktbuild.EtherFrame(pktbuild.UDP4(src4, dst4, make([]byte, 65535-28)))
	dstOpts9 := ext(60, 60, 60, 60, 60, 60, 60, 60, 60)
	sctp := pktbuild.IPv4(src4.Addr(), dst4.Addr(), packet.ProtoSCTP, make([]byte, 8), nil)

	tests := []struct {
		name  string
		link  packet.LinkType
		frame []byte
		want  packet.Reason
	}{
		{"an empty raw frame is empty", packet.LinkRaw, nil, packet.ReasonEmpty},
		{"a frame shorter than an Ethernet header is truncated", packet.LinkEthernet, eth[:13], packet.ReasonTruncatedEthernet},
		{"a VLAN tag cut short is truncated", packet.LinkEthernet, tagged[:16], packet.ReasonTruncatedVLAN},
		{"three stacked VLAN tags are too many", packet.LinkEthernet,
			pktbuild.PushVLAN(pktbuild.PushVLAN(tagged, packet.EtherTypeVLAN, 0, 20), packet.EtherTypeQinQ, 0, 30),
			packet.ReasonTooManyVLANs},
		{"an LLDP frame is not for the IP path", packet.LinkEthernet,
			pktbuild.Ether(pktbuild.MAC2, pktbuild.MAC1, 0x88cc, make([]byte, 46)), packet.ReasonUnsupportedEtherType},
		{"an ARP packet shorter than 28 bytes is truncated", packet.LinkEthernet, arp[:14+27], packet.ReasonTruncatedARP},
		{"an ARP packet for 8-byte hardware addresses is bad", packet.LinkEthernet, set(arp, 14+4, 8), packet.ReasonBadARP},
		{"an ARP packet for IPv6 is bad", packet.LinkEthernet, put16(arp, 14+2, packet.EtherTypeIPv6), packet.ReasonBadARP},
		{"a raw frame of version 5 has a bad version", packet.LinkRaw, set(udp4, 0, 0x55), packet.ReasonBadIPVersion},
		{"an IPv4 EtherType over an IPv6 header has a bad version", packet.LinkEthernet,
			pktbuild.Ether(pktbuild.MAC2, pktbuild.MAC1, packet.EtherTypeIPv4, udp6), packet.ReasonBadIPVersion},
		{"an IPv6 EtherType over an IPv4 header has a bad version", packet.LinkEthernet,
			pktbuild.Ether(pktbuild.MAC2, pktbuild.MAC1, packet.EtherTypeIPv6, pktbuild.UDP4(src4, dst4, make([]byte, 30))),
			packet.ReasonBadIPVersion},
		{"an IPv4 header shorter than 20 bytes is truncated", packet.LinkEthernet, eth[:14+19], packet.ReasonTruncatedIPv4},
		{"IHL 4 is a bad header length", packet.LinkRaw, set(udp4, 0, 0x44), packet.ReasonBadIPv4HeaderLen},
		{"IHL 15 past the frame is a bad header length", packet.LinkRaw, set(udp4, 0, 0x4f)[:40], packet.ReasonBadIPv4HeaderLen},
		{"a total length below the header length is bad", packet.LinkRaw, put16(udp4, 2, 19), packet.ReasonBadIPv4TotalLen},
		{"a total length past the frame is bad", packet.LinkRaw, put16(udp4, 2, uint16(len(udp4)+1)), packet.ReasonBadIPv4TotalLen},
		{"an IPv6 header shorter than 40 bytes is truncated", packet.LinkRaw, udp6[:39], packet.ReasonTruncatedIPv6},
		{"an IPv6 payload length past the frame is bad", packet.LinkRaw, udp6[:len(udp6)-1], packet.ReasonBadIPv6PayloadLen},
		{"an extension header longer than the payload is truncated", packet.LinkRaw,
			set(pktbuild.IPv6(src6.Addr(), dst6.Addr(), packet.ProtoNoNext, nil, ext(60)), 41, 1), packet.ReasonTruncatedIPv6Ext},
		{"an extension header cut inside its first 8 bytes is truncated", packet.LinkRaw,
			put16(pktbuild.IPv6(src6.Addr(), dst6.Addr(), packet.ProtoNoNext, nil, ext(44)), 4, 4)[:44], packet.ReasonTruncatedIPv6Ext},
		{"nine extension headers are too many", packet.LinkRaw,
			pktbuild.IPv6(src6.Addr(), dst6.Addr(), packet.ProtoNoNext, nil, dstOpts9), packet.ReasonIPv6ExtChainTooLong},
		{"hop-by-hop after destination options is not first", packet.LinkRaw,
			pktbuild.IPv6(src6.Addr(), dst6.Addr(), packet.ProtoNoNext, nil, ext(60, 0)), packet.ReasonIPv6HopByHopNotFirst},
		{"a 65535-byte IPv4 packet behind an Ethernet header ends past 16-bit offsets", packet.LinkEthernet,
			huge, packet.ReasonFrameTooLong},
		{"a TCP header shorter than 20 bytes is truncated", packet.LinkRaw,
			pktbuild.IPv4(src4.Addr(), dst4.Addr(), packet.ProtoTCP, make([]byte, 19), nil), packet.ReasonTruncatedTCP},
		{"a TCP data offset of 16 bytes is bad", packet.LinkRaw, set(tcp4, 20+12, 0x40), packet.ReasonBadTCPDataOffset},
		{"a TCP data offset past the packet is bad", packet.LinkRaw, set(tcp4, 20+12, 0x60), packet.ReasonBadTCPDataOffset},
		{"a UDP header shorter than 8 bytes is truncated", packet.LinkRaw,
			pktbuild.IPv6(src6.Addr(), dst6.Addr(), packet.ProtoUDP, make([]byte, 7), nil), packet.ReasonTruncatedUDP},
		{"a UDP length below 8 is bad", packet.LinkRaw, put16(udp4, 20+4, 7), packet.ReasonBadUDPLength},
		{"a UDP length past the packet is bad", packet.LinkRaw, put16(udp6, 40+4, uint16(len(udp6)-40+1)), packet.ReasonBadUDPLength},
		{"an ICMP message shorter than 8 bytes is truncated", packet.LinkRaw,
			pktbuild.IPv4(src4.Addr(), dst4.Addr(), packet.ProtoICMP, make([]byte, 7), nil), packet.ReasonTruncatedICMP},
		{"an ICMPv6 message shorter than 8 bytes is truncated", packet.LinkRaw,
			pktbuild.IPv6(src6.Addr(), dst6.Addr(), packet.ProtoICMPv6, make([]byte, 4), nil), packet.ReasonTruncatedICMP},
		{"an SCTP header shorter than 12 bytes is truncated", packet.LinkRaw, sctp, packet.ReasonTruncatedL4},
	}
	covered := make(map[packet.Reason]bool)
	for _, tt := range tests {
		covered[tt.want] = true
		t.Run(tt.name, func(t *testing.T) {
			p := &packet.Packet{Frame: tt.frame}
			if got := p.Parse(tt.link); got != tt.want {
				t.Fatalf("Parse = %v, want %v", got, tt.want)
			}
		})
	}
	for r := packet.ReasonNone + 1; r < packet.NumReasons; r++ {
		if !covered[r] {
			t.Errorf("no frame in the table yields %v", r)
		}
	}
}

func TestReasonNamesAreDistinctKebabCase(t *testing.T) {
	seen := make(map[string]packet.Reason)
	for r := packet.ReasonNone; r < packet.NumReasons; r++ {
		s := r.String()
		if s == "" || s != stringsToLowerKebab(s) {
			t.Errorf("Reason(%d).String() = %q, want lower kebab case", r, s)
		}
		if o, dup := seen[s]; dup {
			t.Errorf("Reason %d and %d are both %q", o, r, s)
		}
		seen[s] = r
	}
	if got := packet.NumReasons.String(); !strings.HasPrefix(got, "reason(") {
		t.Errorf("out-of-range reason is %q", got)
	}
}

func stringsToLowerKebab(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}

func parse(t *testing.T, link packet.LinkType, frame []byte) *packet.Packet {
	t.Helper()
	p := &packet.Packet{Frame: frame}
	if r := p.Parse(link); r != packet.ReasonNone {
		t.Fatalf("Parse = %v, want none", r)
	}
	return p
}

func TestParseExcludesEthernetPaddingFromL3End(t *testing.T) {
	ip := pktbuild.ICMP4Echo(src4.Addr(), dst4.Addr(), 7, 1, false)
	p := parse(t, packet.LinkEthernet, pktbuild.PadEther(pktbuild.EtherFrame(ip)))
	if len(p.Frame) != 60 || int(p.L3End) != 14+len(ip) || !bytes.Equal(p.L3(), ip) {
		t.Fatalf("frame %d bytes, L3End %d, want %d", len(p.Frame), p.L3End, 14+len(ip))
	}
}

func TestParseGivesICMPEchoIdentifierAsBothPorts(t *testing.T) {
	for _, ip := range [][]byte{
		pktbuild.ICMP4Echo(src4.Addr(), dst4.Addr(), 0x4242, 9, false),
		pktbuild.ICMP6Echo(src6.Addr(), dst6.Addr(), 0x4242, 9, true),
	} {
		p := parse(t, packet.LinkRaw, ip)
		if p.SrcPort != 0x4242 || p.DstPort != 0x4242 {
			t.Errorf("ports %#x %#x, want the identifier 0x4242 twice", p.SrcPort, p.DstPort)
		}
	}
	p := parse(t, packet.LinkRaw, pktbuild.ICMPError(dst4.Addr(), src4.Addr(), packet.ICMPv4DestUnreachable,
		packet.ICMPv4PortUnreachable, 0, pktbuild.UDP4(src4, dst4, nil), nil))
	if p.SrcPort != 0 || p.DstPort != 0 || p.ICMPType != 3 || p.ICMPCode != 3 {
		t.Errorf("ICMP error: ports %d %d type %d code %d, want 0 0 3 3", p.SrcPort, p.DstPort, p.ICMPType, p.ICMPCode)
	}
}

func TestParseLeavesNonFirstFragmentsWithoutTransportHeader(t *testing.T) {
	for _, ip := range [][]byte{
		pktbuild.UDP(src4, dst4, make([]byte, 64), &pktbuild.Options{FragOff: 24, ID: 99}),
		pktbuild.UDP(src6, dst6, make([]byte, 64), &pktbuild.Options{ExtHeaders: []pktbuild.ExtHeader{
			{Proto: packet.ProtoIPv6Fragment, FragOff: 24, FragID: 99}}}),
	} {
		p := parse(t, packet.LinkRaw, ip)
		if !p.Fragment || p.FragOff != 24 || p.FragID != 99 || p.L4Off != 0 || p.SrcPort != 0 || p.Proto != packet.ProtoUDP || p.L4() != nil {
			t.Errorf("%v fragment: %+v", p.Family, p)
		}
	}
}

func TestParseAcceptsFirstFragmentWhoseUDPLengthCoversTheDatagram(t *testing.T) {
	dgram := pktbuild.UDP(src4, dst4, make([]byte, 200), nil)
	frags := pktbuild.FragmentIPv4(dgram, 64)
	p := parse(t, packet.LinkRaw, frags[0])
	if !p.Fragment || !p.MoreFrags || p.FragOff != 0 || p.L4Off != 20 || p.DstPort != 53 {
		t.Fatalf("first fragment: %+v", p)
	}
	if got := len(p.UDP().Payload()); got != 64-8 {
		t.Fatalf("first fragment's UDP payload is %d bytes, want %d", got, 64-8)
	}
	for _, f := range frags[1:] {
		if q := parse(t, packet.LinkRaw, f); q.L4Off != 0 || !q.Fragment {
			t.Fatalf("later fragment: %+v", q)
		}
	}
	f6 := pktbuild.FragmentIPv6(pktbuild.UDP(src6, dst6, make([]byte, 200), nil), 64, 7)
	if p := parse(t, packet.LinkRaw, f6[0]); p.L4Off != 48 || p.DstPort != 443 || !p.MoreFrags || p.FragID != 7 {
		t.Fatalf("first IPv6 fragment: %+v", p)
	}
}

func TestParseTakesAtomicIPv6FragmentAsWholePacket(t *testing.T) {
	ip := pktbuild.UDP(src6, dst6, nil, ext(packet.ProtoIPv6Fragment))
	p := parse(t, packet.LinkRaw, ip)
	if p.Fragment || p.L4Off != 48 || p.DstPort != 443 {
		t.Fatalf("atomic fragment: %+v", p)
	}
}

func TestParseStopsAtNoNextHeader(t *testing.T) {
	p := parse(t, packet.LinkRaw, pktbuild.IPv6(src6.Addr(), dst6.Addr(), packet.ProtoNoNext, []byte{1, 2, 3}, ext(0, 60)))
	if p.Proto != packet.ProtoNoNext || p.L4Off != 0 {
		t.Fatalf("no next header: Proto %d L4Off %d", p.Proto, p.L4Off)
	}
}

func TestParseReadsARP(t *testing.T) {
	a := pktbuild.ARP(packet.ARPReply, pktbuild.MAC1, src4.Addr(), pktbuild.MAC2, dst4.Addr())
	p := parse(t, packet.LinkEthernet, pktbuild.PadEther(pktbuild.Ether(pktbuild.MAC2, pktbuild.MAC1, packet.EtherTypeARP, a)))
	v := p.ARP()
	if p.Family != packet.FamilyARP || p.L3Off != 14 || p.L3End != 14+28 || v.Op() != packet.ARPReply ||
		v.SenderMAC() != pktbuild.MAC1 || v.TargetMAC() != pktbuild.MAC2 || p.Src() != src4.Addr() || p.Dst() != dst4.Addr() {
		t.Fatalf("ARP: %+v", p)
	}
}

func TestParseKeepsMetadataAndClearsOldParse(t *testing.T) {
	p := &packet.Packet{}
	p.Frame = pktbuild.PushVLAN(pktbuild.EtherFrame(pktbuild.UDP(src4, dst4, nil, &pktbuild.Options{MF: true, ID: 3})), packet.EtherTypeVLAN, 1, 5)
	p.InIf, p.Mark, p.CT, p.Zone = 3, 0xfeed, 77, 2
	if r := p.Parse(packet.LinkEthernet); r != packet.ReasonNone || p.VLANs != 1 || !p.Fragment {
		t.Fatalf("Parse = %v, %+v", r, p)
	}
	p.Frame = pktbuild.ICMP6Echo(src6.Addr(), dst6.Addr(), 1, 1, false)
	if r := p.Parse(packet.LinkRaw); r != packet.ReasonNone {
		t.Fatal(r)
	}
	want := packet.Packet{Link: packet.LinkRaw, Family: packet.FamilyIPv6, L4Off: 40,
		L3End: uint16(len(p.Frame)), Proto: packet.ProtoICMPv6, SrcPort: 1, DstPort: 1, ICMPType: 128,
		InIf: 3, Mark: 0xfeed, CT: 77, Zone: 2}
	got := *p
	got.Frame = nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after reparse:\n%+v\nwant\n%+v", *p, want)
	}
}

func TestVerifyChecksumsNoticesBadChecksums(t *testing.T) {
	for _, tt := range []struct {
		name string
		ip   []byte
		want bool
	}{
		{"a built IPv4 TCP packet is right", pktbuild.TCP4(src4, dst4, 2, 1, 0, []byte("x")), true},
		{"a bad IPv4 header checksum is wrong", pktbuild.UDP(src4, dst4, nil, &pktbuild.Options{BadIPChecksum: true}), false},
		{"a bad TCP checksum is wrong", pktbuild.TCP(src6, dst6, 2, 1, 0, nil, &pktbuild.Options{BadChecksum: true}), false},
		{"a bad ICMP checksum is wrong", pktbuild.ICMPEcho(src4.Addr(), dst4.Addr(), 1, 1, false, nil, &pktbuild.Options{BadChecksum: true}), false},
		{"a bad ICMPv6 checksum is wrong", pktbuild.ICMPEcho(src6.Addr(), dst6.Addr(), 1, 1, false, nil, &pktbuild.Options{BadChecksum: true}), false},
		{"a zero IPv4 UDP checksum means none", put16(pktbuild.UDP4(src4, dst4, []byte("abc")), 26, 0), true},
		{"a zero IPv6 UDP checksum is wrong", put16(pktbuild.UDP6(src6, dst6, []byte("abc")), 46, 0), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := parse(t, packet.LinkRaw, tt.ip).VerifyChecksums(); got != tt.want {
				t.Fatalf("VerifyChecksums = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	frames := [][]byte{
		pktbuild.EtherFrame(pktbuild.UDP4(src4, dst4, make([]byte, 64))),
		pktbuild.TCP6(src6, dst6, packet.TCPFlagACK, 1, 2, make([]byte, 64)),
	}
	p := packet.New()
	for _, f := range frames {
		link := packet.LinkRaw
		if f[0]>>4 != 6 {
			link = packet.LinkEthernet
		}
		copy(p.SetFrame(len(f)), f)
		if n := testing.AllocsPerRun(1000, func() {
			if p.Parse(link) != packet.ReasonNone {
				panic("parse failed")
			}
			_ = p.Src()
			_ = p.Dst()
		}); n != 0 {
			t.Errorf("Parse allocates %v times per packet", n)
		}
	}
}

var reasonSink packet.Reason

func BenchmarkParse(b *testing.B) {
	for _, bb := range []struct {
		name  string
		link  packet.LinkType
		frame []byte
	}{
		{"IPv4UDPEthernet", packet.LinkEthernet, pktbuild.EtherFrame(pktbuild.UDP4(src4, dst4, make([]byte, 64)))},
		{"IPv6TCP", packet.LinkRaw, pktbuild.TCP6(src6, dst6, packet.TCPFlagACK, 1, 2, make([]byte, 64))},
		{"IPv6ExtTCPQinQ", packet.LinkEthernet, pktbuild.PushVLAN(pktbuild.PushVLAN(pktbuild.EtherFrame(
			pktbuild.TCP(src6, dst6, packet.TCPFlagACK, 1, 2, make([]byte, 64), ext(0, 60, 43))),
			packet.EtherTypeVLAN, 0, 10), packet.EtherTypeQinQ, 0, 20)},
	} {
		b.Run(bb.name, func(b *testing.B) {
			p := packet.New()
			copy(p.SetFrame(len(bb.frame)), bb.frame)
			b.ReportAllocs()
			for b.Loop() {
				reasonSink = p.Parse(bb.link)
			}
			if reasonSink != packet.ReasonNone {
				b.Fatal(reasonSink)
			}
		})
	}
}
