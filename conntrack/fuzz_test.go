package conntrack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

// FuzzTrack feeds a stream of packets and operations decoded from the input
// to a small table and checks its invariants: no panic, the count equals
// the listed entries after each batch, the count never passes Max, and
// nothing is left once every timeout has passed.
func FuzzTrack(f *testing.F) {
	f.Add([]byte{0, 0, 2, 0, 0, 1, 1, 18, 0, 0, 2, 16, 0})
	f.Add([]byte{0, 1, 2, 0, 3, 0, 1, 18, 4, 4, 0, 16, 1, 5, 5, 6, 6, 7, 7})
	f.Add([]byte{8, 1, 9, 2, 10, 3, 11, 0, 12, 12, 13, 13, 14, 15})
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, clk := newTestTable(t, Options{Max: 32, EventBuffer: 8})
		w := tab.NewWorker()
		var batch []*packet.Packet
		seqs := [8][2]uint32{}
		flush := func() {
			drop := make([]bool, len(batch))
			w.Track(batch, drop)
			for i, p := range batch {
				if drop[i] || len(data)%3 == 0 && i == 0 {
					w.Abandon(p)
				} else {
					w.Confirm(p)
				}
			}
			w.Quiesce()
			batch = batch[:0]
			n := 0
			tab.List(Filter{}, func(Entry) bool { n++; return true })
			if n != tab.Count() || n > tab.Max() {
				t.Fatalf("count %d, listed %d, max %d", tab.Count(), n, tab.Max())
			}
			var evs [8]Event
			tab.ReadEvents(evs[:])
		}
		for len(data) >= 2 {
			op, arg := data[0], data[1]
			data = data[2:]
			flow := int(arg & 7)
			reply := arg&8 != 0
			a := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(flow)}), uint16(1000+flow))
			b := netip.AddrPortFrom(netip.MustParseAddr("198.19.0.1"), 80)
			if op&0x80 != 0 {
				a = netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(flow)}), a.Port())
				b = netip.MustParseAddrPort("[2001:db8::ff]:80")
			}
			if reply {
				a, b = b, a
			}
			d := 0
			if reply {
				d = 1
			}
			var raw []byte
			switch op & 0x0f {
			case 0, 1, 2, 3, 4: // TCP segment with fuzzed flags, advancing sequence
				flags := []uint8{fS, fSA, fA, fFA, fR}[op&0x0f] | arg&0x30>>1
				seq := seqs[flow][d]
				ack := seqs[flow][1-d]
				raw = pktbuild.TCP(a, b, flags, seq, ack, make([]byte, int(arg>>6)*10), nil)
				seqs[flow][d] += uint32(arg>>6) * 10
				if flags&(fS|fF) != 0 {
					seqs[flow][d]++
				}
			case 5:
				raw = pktbuild.UDP(a, b, []byte{arg}, nil)
			case 6:
				raw = pktbuild.ICMPEcho(a.Addr(), b.Addr(), uint16(flow), 1, reply, nil, nil)
			case 7:
				inner := pktbuild.UDP(b, a, []byte{1}, nil)
				typ := uint8(3)
				if a.Addr().Is6() {
					typ = 1
				}
				raw = pktbuild.ICMPError(a.Addr(), b.Addr(), typ, 0, 0, inner, nil)
			case 8:
				raw = pktbuild.IP(a.Addr(), b.Addr(), 47, []byte{arg, arg}, nil)
			case 9:
				clk.advance(time.Duration(arg) * time.Second)
			case 10:
				tab.Sweep()
			case 11:
				tab.Flush(Filter{Proto: arg})
			case 12:
				flush()
			case 13: // raw bytes from the input as a packet
				n := min(int(arg), len(data))
				raw, data = data[:n], data[n:]
			default:
				clk.advance(time.Duration(arg) * time.Minute)
			}
			if raw != nil {
				p := &packet.Packet{Buf: append([]byte(nil), raw...)}
				p.Frame = p.Buf
				if p.Parse(packet.LinkRaw) == packet.ReasonNone {
					batch = append(batch, p)
				}
			}
			if len(batch) == 8 {
				flush()
			}
		}
		flush()
		clk.advance(6 * 24 * time.Hour)
		tab.Sweep()
		if tab.Count() != 0 {
			t.Fatalf("%d entries left after every timeout", tab.Count())
		}
	})
}
