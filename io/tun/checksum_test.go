package tun

import (
	"net/netip"
	"testing"

	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

func TestZeroUDPChecksumsAreStoredAsAllOnes(t *testing.T) {
	v4 := pktbuild.UDP4(netip.MustParseAddrPort("198.18.0.1:1"), netip.MustParseAddrPort("198.18.0.2:2"), []byte("x"))
	v6 := pktbuild.UDP6(netip.MustParseAddrPort("[2001:db8::1]:1"), netip.MustParseAddrPort("[2001:db8::2]:2"), []byte("x"))
	for _, tc := range []struct {
		name  string
		pkt   []byte
		l4    int
		split bool
		want  uint16
	}{
		{"IPv6, not split", v6, 40, false, 0xffff},
		{"IPv6, split", v6, 40, true, 0xffff},
		{"IPv4 split segment", v4, 20, true, 0xffff},
		{"IPv4 packet the sender sent without checksum", v4, 20, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := append([]byte(nil), tc.pkt...)
			packet.UDP(b[tc.l4:]).SetChecksum(0)
			fixZeroUDPChecksum(b, tc.split)
			if got := packet.UDP(b[tc.l4:]).Checksum(); got != tc.want {
				t.Fatalf("checksum %#04x, want %#04x", got, tc.want)
			}
			b = append([]byte(nil), tc.pkt...)
			before := packet.UDP(b[tc.l4:]).Checksum()
			fixZeroUDPChecksum(b, tc.split)
			if packet.UDP(b[tc.l4:]).Checksum() != before {
				t.Fatal("a non-zero checksum changed")
			}
		})
	}
}
