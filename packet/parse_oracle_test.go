package packet_test

import (
	"math/rand"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

// randFrame builds a random well-formed frame: IPv4 or IPv6, TCP, UDP or
// ICMP, sometimes options, IPv6 extension headers, fragments, Ethernet
// with up to two VLAN tags and padding.
func randFrame(r *rand.Rand) (frame []byte, link packet.LinkType) {
	v6 := r.Intn(2) == 0
	// Ephemeral ports, so that gopacket does not decode the payload as
	// some application protocol.
	src := netip.AddrPortFrom(randAddr(r, v6), uint16(49152+r.Intn(16384)))
	dst := netip.AddrPortFrom(randAddr(r, v6), uint16(49152+r.Intn(16384)))
	o := &pktbuild.Options{TTL: uint8(r.Uint32()), TOS: uint8(r.Uint32()), ID: uint16(r.Uint32())}
	fragOff := uint16(r.Intn(1000)) * 8
	if !v6 {
		o.IPv4Options = make([]byte, 4*r.Intn(3))
		for i := range o.IPv4Options {
			o.IPv4Options[i] = 1 // NOP
		}
		if r.Intn(4) == 0 {
			o.FragOff, o.MF = fragOff*uint16(r.Intn(2)), r.Intn(2) == 0
		}
		o.DF = o.FragOff == 0 && !o.MF && r.Intn(2) == 0
	} else {
		if r.Intn(3) == 0 {
			o.ExtHeaders = append(o.ExtHeaders, pktbuild.ExtHeader{Proto: packet.ProtoHopOpts})
		}
		// gopacket does not decode past a fragment header, so at most one
		// goes last.
		var frag []pktbuild.ExtHeader
		for range r.Intn(4) {
			switch r.Intn(4) {
			case 0:
				o.ExtHeaders = append(o.ExtHeaders, pktbuild.ExtHeader{Proto: packet.ProtoDstOpts, Data: make([]byte, 6+8*r.Intn(3))})
			case 1:
				// Routing type 0 with no segments left, and some addresses.
				o.ExtHeaders = append(o.ExtHeaders, pktbuild.ExtHeader{Proto: packet.ProtoRouting, Data: make([]byte, 6+16*r.Intn(3))})
			case 2:
				// Reserved, SPI, sequence number and an ICV of 4 to 16 bytes.
				o.ExtHeaders = append(o.ExtHeaders, pktbuild.ExtHeader{Proto: packet.ProtoAH, Data: make([]byte, 10+4*(1+r.Intn(4)))})
			case 3:
				if frag != nil {
					continue
				}
				e := pktbuild.ExtHeader{Proto: packet.ProtoIPv6Fragment, FragID: r.Uint32()}
				if r.Intn(2) == 0 {
					e.FragOff, e.MF = fragOff*uint16(r.Intn(2)), r.Intn(2) == 0
				}
				frag = append(frag, e)
			}
		}
		o.ExtHeaders = append(o.ExtHeaders, frag...)
	}
	pay := randBytes(r, 100)
	var ip []byte
	switch r.Intn(3) {
	case 0:
		o.Window = uint16(r.Uint32())
		if r.Intn(2) == 0 {
			o.TCPOptions = []byte{packet.TCPOptMSS, 4, 5, 0xb4, packet.TCPOptNOP, packet.TCPOptWindowScale, 3, 7}
		}
		ip = pktbuild.TCP(src, dst, uint8(r.Uint32()), r.Uint32(), r.Uint32(), pay, o)
	case 1:
		ip = pktbuild.UDP(src, dst, pay, o)
	case 2:
		if r.Intn(2) == 0 {
			ip = pktbuild.ICMPEcho(src.Addr(), dst.Addr(), uint16(r.Uint32()), uint16(r.Uint32()), r.Intn(2) == 0, pay, o)
		} else {
			typ := uint8(packet.ICMPv4DestUnreachable)
			if v6 {
				typ = packet.ICMPv6DestUnreachable
			}
			inner := pktbuild.UDP(dst, src, pay, nil)
			ip = pktbuild.ICMPError(src.Addr(), dst.Addr(), typ, uint8(r.Intn(5)), 0, inner, o)
		}
	}
	if r.Intn(3) == 0 {
		return ip, packet.LinkRaw
	}
	frame = pktbuild.EtherFrame(ip)
	for range r.Intn(3) {
		tpid := uint16(packet.EtherTypeVLAN)
		if r.Intn(2) == 0 {
			tpid = packet.EtherTypeQinQ
		}
		frame = pktbuild.PushVLAN(frame, tpid, uint8(r.Intn(8)), uint16(r.Intn(4096)))
	}
	return pktbuild.PadEther(frame), packet.LinkEthernet
}

// offset is where sub starts in frame; gopacket's NoCopy layers are
// subslices of the frame, which share its end of capacity.
func offset(frame, sub []byte) int { return cap(frame) - cap(sub) }

func TestParseAgreesWithGopacketOnRandomFrames(t *testing.T) {
	r := seeded(t)
	p := &packet.Packet{}
	for i := 0; i < 5000; i++ {
		frame, link := randFrame(r)
		frame = frame[:len(frame):len(frame)]
		first := layers.LayerTypeEthernet
		if link == packet.LinkRaw {
			first = layers.LayerTypeIPv4
			if frame[0]>>4 == 6 {
				first = layers.LayerTypeIPv6
			}
		}
		g := gopacket.NewPacket(frame, first, gopacket.DecodeOptions{NoCopy: true})
		if el := g.ErrorLayer(); el != nil {
			t.Fatalf("gopacket cannot decode generated frame %x: %v", frame, el.Error())
		}
		p.Frame = frame
		if reason := p.Parse(link); reason != packet.ReasonNone {
			t.Fatalf("Parse(%x) = %v", frame, reason)
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("frame %x\n%s\nparsed: %+v\n"+format, append([]any{frame, g.Dump(), *p}, args...)...)
		}

		var vlans []uint16
		for _, l := range g.Layers() {
			if d, ok := l.(*layers.Dot1Q); ok {
				vlans = append(vlans, d.VLANIdentifier)
			}
		}
		if int(p.VLANs) != len(vlans) || (len(vlans) > 0 && vlans[0] != p.VLANID[0]) || (len(vlans) > 1 && vlans[1] != p.VLANID[1]) {
			fail("VLANs %d %v, gopacket %v", p.VLANs, p.VLANID, vlans)
		}

		var wantProto uint8
		var l4Layer gopacket.Layer // where gopacket finds the transport header
		if ip4, ok := g.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
			if p.Family != packet.FamilyIPv4 || int(p.L3Off) != offset(frame, ip4.Contents) ||
				int(p.L3End-p.L3Off) != int(ip4.Length) || p.Src() != netip.AddrFrom4([4]byte(ip4.SrcIP)) ||
				p.Dst() != netip.AddrFrom4([4]byte(ip4.DstIP)) || p.IPv4().TTL() != ip4.TTL || p.IPv4().TOS() != ip4.TOS ||
				p.IPv4().DontFragment() != (ip4.Flags&layers.IPv4DontFragment != 0) {
				fail("IPv4 header differs from gopacket's %+v", ip4)
			}
			frag := ip4.Flags&layers.IPv4MoreFragments != 0 || ip4.FragOffset != 0
			if p.Fragment != frag || p.MoreFrags != (ip4.Flags&layers.IPv4MoreFragments != 0) ||
				p.FragOff != ip4.FragOffset*8 || (frag && p.FragID != uint32(ip4.Id)) {
				fail("IPv4 fragment fields differ from gopacket's %+v", ip4)
			}
			wantProto = uint8(ip4.Protocol)
		} else if ip6, ok := g.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
			if p.Family != packet.FamilyIPv6 || int(p.L3Off) != offset(frame, ip6.Contents) ||
				int(p.L3End-p.L3Off) != 40+int(ip6.Length) || p.Src() != netip.AddrFrom16([16]byte(ip6.SrcIP)) ||
				p.Dst() != netip.AddrFrom16([16]byte(ip6.DstIP)) || p.IPv6().HopLimit() != ip6.HopLimit ||
				p.IPv6().TrafficClass() != ip6.TrafficClass || p.IPv6().FlowLabel() != ip6.FlowLabel {
				fail("IPv6 header differs from gopacket's %+v", ip6)
			}
			// The last extension header gopacket decoded names the upper protocol.
			wantProto = uint8(ip6.NextHeader)
			wantFrag := false
			for _, l := range g.Layers() {
				switch e := l.(type) {
				case *layers.IPv6HopByHop:
					wantProto = uint8(e.NextHeader)
				case *layers.IPv6Destination:
					wantProto = uint8(e.NextHeader)
				case *layers.IPv6Routing:
					wantProto = uint8(e.NextHeader)
				case *layers.IPSecAH:
					wantProto = uint8(e.NextHeader)
				case *layers.IPv6Fragment:
					wantProto = uint8(e.NextHeader)
					if e.FragmentOffset != 0 || e.MoreFragments {
						wantFrag = true
						if p.FragOff != e.FragmentOffset*8 || p.MoreFrags != e.MoreFragments || p.FragID != e.Identification {
							fail("IPv6 fragment fields differ from gopacket's %+v", e)
						}
					}
				}
			}
			if p.Fragment != wantFrag {
				fail("Fragment %v, gopacket %v", p.Fragment, wantFrag)
			}
		} else {
			fail("gopacket found no network layer")
		}
		if p.Proto != wantProto {
			fail("Proto %d, gopacket %d", p.Proto, wantProto)
		}

		if p.Fragment && p.FragOff != 0 {
			if p.L4Off != 0 || p.SrcPort != 0 || p.DstPort != 0 {
				fail("non-first fragment has a transport header")
			}
			continue
		}
		// gopacket leaves a first fragment (and any payload behind an IPv6
		// fragment header) undecoded: decode it as the protocol it carries.
		gl := g
		if f := g.Layer(gopacket.LayerTypeFragment); f != nil {
			lt := map[uint8]gopacket.LayerType{packet.ProtoTCP: layers.LayerTypeTCP, packet.ProtoUDP: layers.LayerTypeUDP,
				packet.ProtoICMP: layers.LayerTypeICMPv4, packet.ProtoICMPv6: layers.LayerTypeICMPv6}[p.Proto]
			gl = gopacket.NewPacket(f.LayerContents(), lt, gopacket.DecodeOptions{NoCopy: true})
			if n := offset(frame, f.LayerContents()); int(p.L4Off) != n {
				fail("L4Off %d, gopacket's fragment data at %d", p.L4Off, n)
			}
		}
		switch p.Proto {
		case packet.ProtoTCP:
			if l := gl.Layer(layers.LayerTypeTCP); l != nil {
				tcp := l.(*layers.TCP)
				l4Layer = l
				v := p.TCP()
				if v.Seq() != tcp.Seq || v.Ack() != tcp.Ack || v.Window() != tcp.Window || v.DataOffset() != int(tcp.DataOffset)*4 ||
					v.Flags()&packet.TCPFlagSYN != 0 != tcp.SYN || v.Flags()&packet.TCPFlagFIN != 0 != tcp.FIN ||
					v.Flags()&packet.TCPFlagCWR != 0 != tcp.CWR || len(v.Payload()) != len(tcp.Payload) {
					fail("TCP header differs from gopacket's %+v", tcp)
				}
				mss, ok := v.MSS()
				var gmss uint16
				for _, opt := range tcp.Options {
					if opt.OptionType == layers.TCPOptionKindMSS {
						gmss = uint16(opt.OptionData[0])<<8 | uint16(opt.OptionData[1])
					}
				}
				if ok != (gmss != 0) || mss != gmss {
					fail("MSS %d %v, gopacket %d", mss, ok, gmss)
				}
			}
		case packet.ProtoUDP:
			if l := gl.Layer(layers.LayerTypeUDP); l != nil {
				l4Layer = l
				if !p.Fragment && p.UDP().Length() != l.(*layers.UDP).Length || len(p.UDP().Payload()) != len(l.LayerPayload()) {
					fail("UDP header differs from gopacket's")
				}
			}
		case packet.ProtoICMP:
			if l := gl.Layer(layers.LayerTypeICMPv4); l != nil {
				l4Layer = l
				m := l.(*layers.ICMPv4)
				if p.ICMPType != m.TypeCode.Type() || p.ICMPCode != m.TypeCode.Code() {
					fail("ICMP type/code differs from gopacket's %v", m.TypeCode)
				}
				if (m.TypeCode.Type() == 0 || m.TypeCode.Type() == 8) && (p.SrcPort != m.Id || p.DstPort != m.Id) {
					fail("ICMP identifier %d %d, gopacket %d", p.SrcPort, p.DstPort, m.Id)
				}
			}
		case packet.ProtoICMPv6:
			if l := gl.Layer(layers.LayerTypeICMPv6); l != nil {
				l4Layer = l
				m := l.(*layers.ICMPv6)
				if p.ICMPType != m.TypeCode.Type() || p.ICMPCode != m.TypeCode.Code() {
					fail("ICMPv6 type/code differs from gopacket's %v", m.TypeCode)
				}
				if e, ok := gl.Layer(layers.LayerTypeICMPv6Echo).(*layers.ICMPv6Echo); ok && (p.SrcPort != e.Identifier || p.DstPort != e.Identifier) {
					fail("ICMPv6 identifier %d %d, gopacket %d", p.SrcPort, p.DstPort, e.Identifier)
				}
			}
		}
		if l4Layer == nil {
			fail("gopacket found no transport layer")
		}
		if int(p.L4Off) != offset(frame, l4Layer.LayerContents()) {
			fail("L4Off %d, gopacket %d", p.L4Off, offset(frame, l4Layer.LayerContents()))
		}
		if tl := gl.TransportLayer(); tl != nil && p.Proto != packet.ProtoICMP && p.Proto != packet.ProtoICMPv6 {
			sp, dp := tl.TransportFlow().Endpoints()
			if sp.String() != itoa(p.SrcPort) || dp.String() != itoa(p.DstPort) {
				fail("ports %d %d, gopacket %v %v", p.SrcPort, p.DstPort, sp, dp)
			}
		}
	}
}

func itoa(v uint16) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), v).String()[len("0.0.0.0:"):]
}
