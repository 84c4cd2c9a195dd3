package packet_test

import (
	"net/netip"
	"testing"

	"github.com/nfgo/nfgo/packet"
)

func TestMACStringIsColonHex(t *testing.T) {
	if got := (packet.MAC{0x02, 0xab, 0, 0x10, 0xff, 1}).String(); got != "02:ab:00:10:ff:01" {
		t.Fatalf("MAC.String() = %q", got)
	}
}

func TestSettersWriteWhatGettersRead(t *testing.T) {
	a4, b4 := netip.MustParseAddr("198.18.1.2"), netip.MustParseAddr("198.19.3.4")
	a6, b6 := netip.MustParseAddr("2001:db8::a"), netip.MustParseAddr("2001:db8::b")

	e := make(packet.Ethernet, packet.EthernetHeaderLen)
	e.SetDst(packet.MAC{1, 2, 3, 4, 5, 6})
	e.SetSrc(packet.MAC{7, 8, 9, 10, 11, 12})
	e.SetEtherType(packet.EtherTypeIPv6)
	if e.Dst() != (packet.MAC{1, 2, 3, 4, 5, 6}) || e.Src() != (packet.MAC{7, 8, 9, 10, 11, 12}) || e.EtherType() != 0x86dd {
		t.Errorf("Ethernet: %x", e)
	}

	v := make(packet.VLAN, packet.VLANTagLen)
	v.SetTCI(5, true, 4094)
	v.SetEtherType(packet.EtherTypeIPv4)
	if v.PCP() != 5 || !v.DEI() || v.ID() != 4094 || v.EtherType() != 0x0800 {
		t.Errorf("VLAN: %x", v)
	}

	ip := make(packet.IPv4, 24)
	ip.SetVersionIHL(24)
	ip.SetTOS(0xb9)
	ip.SetTotalLen(24)
	ip.SetID(0x1234)
	ip.SetFlags(packet.IPv4FlagDontFragment)
	ip.SetFragment(1480, true)
	ip.SetTTL(2)
	ip.SetProtocol(packet.ProtoUDP)
	ip.SetSrc(a4)
	ip.SetDst(b4)
	if ip.Version() != 4 || ip.HeaderLen() != 24 || ip.DSCP() != 0xb9>>2 || ip.ECN() != 1 || ip.TotalLen() != 24 ||
		ip.ID() != 0x1234 || !ip.DontFragment() || !ip.MoreFragments() || ip.FragmentOffset() != 1480 ||
		ip.Flags() != packet.IPv4FlagDontFragment|packet.IPv4FlagMoreFragments || ip.TTL() != 2 ||
		ip.Protocol() != 17 || ip.Src() != a4 || ip.Dst() != b4 || len(ip.Options()) != 4 || len(ip.Payload()) != 0 {
		t.Errorf("IPv4: %x", []byte(ip))
	}
	ip.SetChecksum(ip.ComputeChecksum())
	ip.DecTTL()
	if ip.TTL() != 1 || ip.Checksum() != ip.ComputeChecksum() {
		t.Errorf("DecTTL: TTL %d checksum %#04x, want %#04x", ip.TTL(), ip.Checksum(), ip.ComputeChecksum())
	}

	ip6 := make(packet.IPv6, packet.IPv6HeaderLen)
	ip6.SetVersion()
	ip6.SetTrafficClass(0xab)
	ip6.SetFlowLabel(0xfedcb)
	ip6.SetPayloadLen(0)
	ip6.SetNextHeader(packet.ProtoNoNext)
	ip6.SetHopLimit(9)
	ip6.SetSrc(a6)
	ip6.SetDst(b6)
	if ip6.Version() != 6 || ip6.TrafficClass() != 0xab || ip6.FlowLabel() != 0xfedcb || ip6.NextHeader() != 59 ||
		ip6.HopLimit() != 9 || ip6.Src() != a6 || ip6.Dst() != b6 || string(ip6.DstBytes()) != string(b6.AsSlice()) {
		t.Errorf("IPv6: %x", []byte(ip6))
	}

	tcp := make(packet.TCP, 24)
	tcp.SetSrcPort(1)
	tcp.SetDstPort(2)
	tcp.SetSeq(3)
	tcp.SetAck(4)
	tcp.SetDataOffset(24)
	tcp.SetFlags(packet.TCPFlagSYN | packet.TCPFlagECE)
	tcp.SetWindow(5)
	tcp.SetUrgent(6)
	copy(tcp[20:], []byte{packet.TCPOptMSS, 4, 0x05, 0xb4})
	mss, ok := tcp.MSS()
	if tcp.SrcPort() != 1 || tcp.DstPort() != 2 || tcp.Seq() != 3 || tcp.Ack() != 4 || tcp.DataOffset() != 24 ||
		!tcp.HasFlags(packet.TCPFlagSYN|packet.TCPFlagECE) || tcp.HasFlags(packet.TCPFlagACK) || tcp.Window() != 5 ||
		tcp.Urgent() != 6 || !ok || mss != 1460 || len(tcp.Payload()) != 0 {
		t.Errorf("TCP: %x", []byte(tcp))
	}

	a := make(packet.ARP, packet.ARPLen)
	a.SetHeader(packet.ARPRequest)
	a.SetSenderIP(a4)
	a.SetTargetIP(b4)
	a.SetSenderMAC(packet.MAC{1})
	a.SetTargetMAC(packet.MAC{2})
	if !a.IsValid() || a.Op() != 1 || a.SenderIP() != a4 || a.TargetIP() != b4 || a.SenderMAC() != (packet.MAC{1}) || a.TargetMAC() != (packet.MAC{2}) {
		t.Errorf("ARP: %x", []byte(a))
	}
}

func TestTCPOptionsSurviveMalformedLists(t *testing.T) {
	tests := []struct {
		name     string
		opts     []byte
		mss      uint16
		mssOK    bool
		ws       uint8
		wsOK     bool
		sackPerm bool
	}{
		{"a SYN's usual options are all found", []byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7}, 1460, true, 7, true, true},
		{"a window scale above 14 reads as 14", []byte{1, 3, 3, 15}, 0, false, 14, true, false},
		{"options after End are not read", []byte{0, 2, 4, 5, 0xb4, 0, 0, 0}, 0, false, 0, false, false},
		{"a zero length ends the walk", []byte{8, 0, 2, 4, 5, 0xb4, 0, 0}, 0, false, 0, false, false},
		{"a length past the header ends the walk", []byte{1, 1, 2, 8, 5, 0xb4, 0, 0}, 0, false, 0, false, false},
		{"an MSS with the wrong length is ignored", []byte{2, 3, 5, 1, 3, 3, 2, 0}, 0, false, 2, true, false},
		{"a kind without its length byte ends the walk", []byte{1, 1, 1, 4}, 0, false, 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make(packet.TCP, 20+len(tt.opts))
			b.SetDataOffset(len(b))
			copy(b[20:], tt.opts)
			mss, mssOK := b.MSS()
			ws, wsOK := b.WindowScale()
			if mss != tt.mss || mssOK != tt.mssOK || ws != tt.ws || wsOK != tt.wsOK || b.SACKPermitted() != tt.sackPerm {
				t.Fatalf("MSS %d %v, WindowScale %d %v, SACKPermitted %v", mss, mssOK, ws, wsOK, b.SACKPermitted())
			}
		})
	}
}

func TestICMPIsErrorFollowsTheKernel(t *testing.T) {
	for typ := range 256 {
		want4 := typ == 3 || typ == 4 || typ == 5 || typ == 11 || typ == 12
		if got := packet.ICMPv4IsError(uint8(typ)); got != want4 {
			t.Errorf("ICMPv4IsError(%d) = %v", typ, got)
		}
		if got := packet.ICMPv6IsError(uint8(typ)); got != (typ < 128) {
			t.Errorf("ICMPv6IsError(%d) = %v", typ, got)
		}
	}
}
