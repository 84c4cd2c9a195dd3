package pktbuild_test

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

// TestBuiltPacketsHaveChecksumsGopacketAccepts checks the builders against
// an independent decoder: every layer with a checksum must verify.
func TestBuiltPacketsHaveChecksumsGopacketAccepts(t *testing.T) {
	s4, d4 := netip.MustParseAddrPort("198.18.0.1:40000"), netip.MustParseAddrPort("198.18.0.2:40001")
	s6, d6 := netip.MustParseAddrPort("[2001:db8::1]:40000"), netip.MustParseAddrPort("[2001:db8::2]:40001")
	tests := []struct {
		name string
		ip   []byte
	}{
		{"UDP over IPv4", pktbuild.UDP4(s4, d4, []byte("odd"))},
		{"UDP over IPv6", pktbuild.UDP6(s6, d6, []byte("even"))},
		{"TCP over IPv4 with options", pktbuild.TCP(s4, d4, packet.TCPFlagSYN, 1, 0, nil, &pktbuild.Options{
			TCPOptions: []byte{2, 4, 5, 0xb4, 3, 3, 7}, IPv4Options: []byte{1, 1}, DF: true, TTL: 3})},
		{"TCP over IPv6 with extension headers", pktbuild.TCP(s6, d6, packet.TCPFlagACK, 1, 2, []byte("x"), &pktbuild.Options{
			ExtHeaders: []pktbuild.ExtHeader{{Proto: packet.ProtoHopOpts}, {Proto: packet.ProtoDstOpts}}})},
		{"ICMPv4 echo", pktbuild.ICMP4Echo(s4.Addr(), d4.Addr(), 1, 2, false)},
		{"ICMPv6 echo reply", pktbuild.ICMP6Echo(s6.Addr(), d6.Addr(), 1, 2, true)},
		{"ICMPv4 port unreachable", pktbuild.ICMPError(d4.Addr(), s4.Addr(), 3, 3, 0, pktbuild.UDP4(s4, d4, make([]byte, 40)), nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := pktbuild.CheckWithGopacket(t, tt.ip)
			if n == 0 {
				t.Fatal("no layer with a checksum")
			}
		})
	}
}

func TestFragmentsCarryTheDatagram(t *testing.T) {
	s4, d4 := netip.MustParseAddrPort("198.18.0.1:40000"), netip.MustParseAddrPort("198.18.0.2:40001")
	dgram := pktbuild.UDP4(s4, d4, make([]byte, 100))
	frags := pktbuild.FragmentIPv4(dgram, 40)
	var data []byte
	for i, f := range frags {
		ip := packet.IPv4(f)
		if int(ip.FragmentOffset()) != len(data) || ip.MoreFragments() != (i < len(frags)-1) || ip.Checksum() != ip.ComputeChecksum() {
			t.Fatalf("fragment %d: offset %d MF %v", i, ip.FragmentOffset(), ip.MoreFragments())
		}
		data = append(data, ip.Payload()...)
	}
	if string(data) != string(dgram[20:]) || len(frags) != 3 {
		t.Fatalf("%d fragments carry %x, want %x", len(frags), data, dgram[20:])
	}
}

func TestPushVLANMakesTheOutermostTag(t *testing.T) {
	f := pktbuild.EtherFrame(pktbuild.UDP4(netip.MustParseAddrPort("198.18.0.1:1"), netip.MustParseAddrPort("198.18.0.2:2"), nil))
	f = pktbuild.PushVLAN(f, packet.EtherTypeVLAN, 1, 100)
	f = pktbuild.PushVLAN(f, packet.EtherTypeQinQ, 2, 200)
	g := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	var ids []uint16
	for _, l := range g.Layers() {
		if d, ok := l.(*layers.Dot1Q); ok {
			ids = append(ids, d.VLANIdentifier)
		}
	}
	if len(ids) != 2 || ids[0] != 200 || ids[1] != 100 || g.Layer(layers.LayerTypeUDP) == nil {
		t.Fatalf("VLAN IDs %v, want [200 100] then UDP", ids)
	}
}
