package packet_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

// FuzzParse feeds any bytes to Parse on either link type. Parse must not
// panic; when it accepts the frame, the offsets must be in order and
// within it, and the views of the parsed headers must be readable.
func FuzzParse(f *testing.F) {
	for _, s := range parseSeeds() {
		f.Add(s.frame, uint8(s.link))
	}
	p := &packet.Packet{}
	f.Fuzz(func(t *testing.T, frame []byte, link uint8) {
		p.Frame = append([]byte(nil), frame...) // readViews rewrites checksums
		r := p.Parse(packet.LinkType(link % 2))
		if r >= packet.NumReasons {
			t.Fatalf("Parse returned out-of-range reason %d", r)
		}
		_ = r.String()
		if r != packet.ReasonNone {
			return
		}
		if !(int(p.L3Off) <= int(p.L3End) && int(p.L3End) <= len(frame)) ||
			(p.L4Off != 0 && !(p.L3Off < p.L4Off && p.L4Off <= p.L3End)) {
			t.Fatalf("offsets out of order: L3Off %d L4Off %d L3End %d len %d", p.L3Off, p.L4Off, p.L3End, len(frame))
		}
		if p.Fragment && p.FragOff != 0 && (p.L4Off != 0 || p.SrcPort != 0) {
			t.Fatalf("non-first fragment with a transport header: %+v", p)
		}
		readViews(p)
	})
}

// readViews calls every getter of the headers Parse accepted.
func readViews(p *packet.Packet) {
	if e := p.Ethernet(); e != nil {
		_, _, _ = e.Dst(), e.Src(), e.EtherType()
	}
	_, _ = p.Src(), p.Dst()
	switch p.Family {
	case packet.FamilyARP:
		a := p.ARP()
		_, _, _, _, _ = a.Op(), a.SenderMAC(), a.TargetMAC(), a.SenderIP(), a.TargetIP()
	case packet.FamilyIPv4:
		ip := p.IPv4()
		_, _, _, _, _ = ip.Options(), ip.Payload(), ip.ComputeChecksum(), ip.DSCP(), ip.ECN()
		_, _, _, _ = ip.SrcBytes(), ip.DstBytes(), ip.Flags(), ip.FragmentOffset()
	case packet.FamilyIPv6:
		ip := p.IPv6()
		_, _, _, _ = ip.Payload(), ip.FlowLabel(), ip.TrafficClass(), ip.SrcBytes()
		_, _ = ip.Walk()
	}
	_ = p.VerifyChecksums()
	if p.L4Off == 0 {
		return
	}
	// Parse reads ICMP only over IPv4 and ICMPv6 only over IPv6.
	switch {
	case p.Proto == packet.ProtoICMP && p.Family != packet.FamilyIPv4,
		p.Proto == packet.ProtoICMPv6 && p.Family != packet.FamilyIPv6:
		return
	}
	switch p.Proto {
	case packet.ProtoTCP:
		t := p.TCP()
		_, _, _, _ = t.Options(), t.Payload(), t.Seq(), t.Urgent()
		_, _ = t.MSS()
		_, _ = t.WindowScale()
		_ = t.SACKPermitted()
		_, _, _ = t.Timestamps()
	case packet.ProtoUDP:
		u := p.UDP()
		_, _ = u.Payload(), u.Length()
	case packet.ProtoICMP:
		m := p.ICMPv4()
		_, _, _, _ = m.Payload(), m.MTU(), m.Seq(), m.IsError()
	case packet.ProtoICMPv6:
		m := p.ICMPv6()
		_, _, _, _ = m.Payload(), m.MTU(), m.Seq(), m.IsError()
	}
	// Rewriting checksums in place must not panic either.
	p.ComputeChecksums()
	if !p.VerifyChecksums() && (p.Family == packet.FamilyIPv4 || p.Family == packet.FamilyIPv6) && !p.Fragment {
		if !(p.Proto == packet.ProtoUDP && p.Family == packet.FamilyIPv6 && p.UDP().Checksum() == 0) {
			panic(fmt.Sprintf("checksums wrong right after ComputeChecksums: %x", p.Frame))
		}
	}
}

// FuzzIPv6ExtChain walks arbitrary extension-header chains behind an IPv6
// header whose first Next Header is next.
func FuzzIPv6ExtChain(f *testing.F) {
	for _, s := range extChainSeeds() {
		f.Add(s.next, s.chain)
	}
	f.Fuzz(func(t *testing.T, next uint8, chain []byte) {
		if len(chain) > 0xffff {
			return
		}
		ip := packet.IPv6(pktbuild.IPv6(src6.Addr(), dst6.Addr(), next, chain, nil))
		u, r := ip.Walk()
		if r != packet.ReasonNone {
			return
		}
		if u.Offset < packet.IPv6HeaderLen || u.Offset > len(ip) || u.ExtHeaders > packet.MaxIPv6ExtHeaders {
			t.Fatalf("Walk = %+v over %d bytes", u, len(ip))
		}
		if u.FragOff == 0 && packet.IsExtensionHeader(u.Proto) {
			t.Fatalf("Walk stopped at extension header %d: %+v", u.Proto, u)
		}
		p := &packet.Packet{Frame: ip}
		if p.Parse(packet.LinkRaw) == packet.ReasonNone {
			readViews(p)
		}
	})
}

// FuzzTCPOptions reads options from a TCP header with any data offset and
// any option bytes.
func FuzzTCPOptions(f *testing.F) {
	for _, s := range tcpOptionSeeds() {
		f.Add(s.doff, s.opts)
	}
	f.Fuzz(func(t *testing.T, doff uint8, opts []byte) {
		b := make(packet.TCP, packet.TCPMinHeaderLen+len(opts))
		copy(b[packet.TCPMinHeaderLen:], opts)
		b[12] = doff << 4
		if ws, ok := b.WindowScale(); ok && ws > packet.TCPMaxWindowScale {
			t.Fatalf("window scale %d above %d", ws, packet.TCPMaxWindowScale)
		}
		if mss, ok := b.MSS(); ok {
			d, _ := b.Option(packet.TCPOptMSS)
			if len(d) != 2 || mss != uint16(d[0])<<8|uint16(d[1]) {
				t.Fatalf("MSS %d, option data %x", mss, d)
			}
		}
		_ = b.SACKPermitted()
		_, _, _ = b.Timestamps()
		for k := range 256 {
			if d, ok := b.Option(uint8(k)); ok && (k < 2 || len(d) > len(opts)) {
				t.Fatalf("Option(%d) = %x", k, d)
			}
		}
	})
}

type parseSeed struct {
	frame []byte
	link  packet.LinkType
}

func parseSeeds() []parseSeed {
	udp4 := pktbuild.UDP4(src4, dst4, []byte("hello"))
	return []parseSeed{
		{pktbuild.PadEther(pktbuild.EtherFrame(udp4)), packet.LinkEthernet},
		{pktbuild.PushVLAN(pktbuild.PushVLAN(pktbuild.EtherFrame(pktbuild.TCP6(src6, dst6, packet.TCPFlagSYN, 1, 0, nil)),
			packet.EtherTypeVLAN, 0, 10), packet.EtherTypeQinQ, 0, 20), packet.LinkEthernet},
		{pktbuild.TCP(src4, dst4, packet.TCPFlagSYN, 1, 0, nil, &pktbuild.Options{
			TCPOptions: []byte{2, 4, 5, 0xb4, 1, 3, 3, 7, 4, 2}}), packet.LinkRaw},
		{pktbuild.UDP(src6, dst6, []byte("x"), ext(packet.ProtoHopOpts, packet.ProtoDstOpts, packet.ProtoRouting)), packet.LinkRaw},
		{pktbuild.FragmentIPv6(pktbuild.UDP6(src6, dst6, make([]byte, 100)), 48, 1)[1], packet.LinkRaw},
		{pktbuild.FragmentIPv4(udp4, 8)[0], packet.LinkRaw},
		{pktbuild.ICMPError(dst4.Addr(), src4.Addr(), 3, 3, 0, udp4, nil), packet.LinkRaw},
		{pktbuild.ICMP6Echo(src6.Addr(), dst6.Addr(), 1, 2, false), packet.LinkRaw},
		{pktbuild.Ether(packet.BroadcastMAC, pktbuild.MAC1, packet.EtherTypeARP,
			pktbuild.ARP(packet.ARPRequest, pktbuild.MAC1, src4.Addr(), packet.MAC{}, dst4.Addr())), packet.LinkEthernet},
	}
}

type extChainSeed struct {
	next  uint8
	chain []byte
}

func extChainSeeds() []extChainSeed {
	chain := func(o *pktbuild.Options, proto uint8, payload []byte) extChainSeed {
		b := pktbuild.IPv6(src6.Addr(), dst6.Addr(), proto, payload, o)
		return extChainSeed{b[6], b[40:]}
	}
	return []extChainSeed{
		chain(ext(packet.ProtoHopOpts, packet.ProtoRouting, packet.ProtoDstOpts), packet.ProtoTCP, make([]byte, 20)),
		chain(ext(packet.ProtoIPv6Fragment), packet.ProtoUDP, make([]byte, 8)),
		chain(&pktbuild.Options{ExtHeaders: []pktbuild.ExtHeader{{Proto: packet.ProtoAH, Data: make([]byte, 22)}}}, packet.ProtoESP, nil),
		chain(&pktbuild.Options{ExtHeaders: []pktbuild.ExtHeader{{Proto: packet.ProtoIPv6Fragment, FragOff: 8, MF: true}}}, packet.ProtoDstOpts, nil),
		chain(ext(60, 60, 60, 60, 60, 60, 60, 60, 60), packet.ProtoNoNext, nil),
		{packet.ProtoDstOpts, []byte{0, 0xff, 1, 2}},
	}
}

type tcpOptionSeed struct {
	doff uint8
	opts []byte
}

func tcpOptionSeeds() []tcpOptionSeed {
	return []tcpOptionSeed{
		{8, []byte{2, 4, 5, 0xb4, 1, 3, 3, 7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0}},
		{6, []byte{1, 1, 3, 3, 20, 0, 0, 0}},
		{6, []byte{2, 0, 5, 0xb4}}, // length 0
		{15, []byte{8, 40}},        // length past the options
		{5, nil},
		{7, []byte{0, 2, 4, 5, 0xb4, 0, 0, 0}}, // MSS after End
	}
}

// TestWriteFuzzSeeds writes the seed corpora under testdata/fuzz in Go's
// corpus format. Run it with NFGO_WRITE_FUZZ_SEEDS=1 after changing the
// seeds.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("NFGO_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set NFGO_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz")
	}
	write := func(fuzz string, i int, lines ...string) {
		dir := filepath.Join("testdata", "fuzz", fuzz)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		s := "go test fuzz v1\n"
		for _, l := range lines {
			s += l + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bytesLit := func(b []byte) string { return "[]byte(" + strconv.Quote(string(b)) + ")" }
	u8 := func(v uint8) string { return fmt.Sprintf("byte(%s)", strconv.QuoteRune(rune(v))) }
	for i, s := range parseSeeds() {
		write("FuzzParse", i, bytesLit(s.frame), u8(uint8(s.link)))
	}
	for i, s := range extChainSeeds() {
		write("FuzzIPv6ExtChain", i, u8(s.next), bytesLit(s.chain))
	}
	for i, s := range tcpOptionSeeds() {
		write("FuzzTCPOptions", i, u8(s.doff), bytesLit(s.opts))
	}
}
