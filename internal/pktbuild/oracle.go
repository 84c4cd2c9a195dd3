package pktbuild

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// CheckWithGopacket decodes the raw IP packet ip with gopacket, an
// independent decoder, and fails tb for every layer whose checksum does
// not verify. It returns how many layers had a checksum to verify.
func CheckWithGopacket(tb testing.TB, ip []byte) int {
	tb.Helper()
	first := layers.LayerTypeIPv4
	if len(ip) > 0 && ip[0]>>4 == 6 {
		first = layers.LayerTypeIPv6
	}
	g := gopacket.NewPacket(ip, first, gopacket.Default)
	if el := g.ErrorLayer(); el != nil {
		tb.Fatalf("gopacket: %v", el.Error())
	}
	n := 0
	for _, l := range g.Layers() {
		if s, ok := l.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			s.SetNetworkLayerForChecksum(g.NetworkLayer())
		}
		if c, ok := l.(interface {
			VerifyChecksum() (error, gopacket.ChecksumVerificationResult)
		}); ok {
			n++
			if err, res := c.VerifyChecksum(); err != nil || !res.Valid {
				tb.Errorf("gopacket: %v checksum: %v %+v", l.LayerType(), err, res)
			}
		}
	}
	return n
}
