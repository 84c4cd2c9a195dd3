package nat

import (
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

// rig is a conntrack table, one worker and a NAT, driven as the engine
// drives them on a router.
type rig struct {
	tb    testing.TB
	t     *conntrack.Table
	w     *conntrack.Worker
	n     *NAT
	clock *atomic.Int64 // the table's, in nanoseconds
}

func newRig(tb testing.TB, max int, o Options) *rig {
	tb.Helper()
	clock := new(atomic.Int64)
	clock.Store(1e9)
	if max == 0 {
		max = 4096
	}
	t := conntrack.New(conntrack.Options{Max: max, Clock: clock.Load, SweepInterval: -1, HashSeed: 42})
	tb.Cleanup(t.Close)
	if o.HashSeed == 0 {
		o.HashSeed = 7
	}
	if o.Rand == nil {
		o.Rand = func() uint32 { return 0 }
	}
	w := t.NewWorker()
	tb.Cleanup(w.Close)
	return &rig{tb: tb, t: t, w: w, n: New(t, o), clock: clock}
}

// hop runs p through a router as the engine does: conntrack, the
// destination manip (PREROUTING or OUTPUT), the source manip (POSTROUTING
// or INPUT), confirm. A new connection is bound at each manip by the
// request of that manip in reqs, or by the null binding. outIf is the
// interface the packet leaves by. It reports whether p passed.
func (r *rig) hop(p *packet.Packet, outIf uint32, reqs ...*Request) bool {
	r.tb.Helper()
	p.CT, p.CTInfo, p.OutIf = 0, 0, outIf
	var drop [1]bool
	r.w.Track([]*packet.Packet{p}, drop[:])
	if drop[0] {
		r.w.Idle()
		return false
	}
	for _, m := range []Manip{ManipDst, ManipSrc} {
		var ok bool
		if r.n.Pending(p, m) {
			var req *Request
			for _, q := range reqs {
				if q.Kind.Manip() == m {
					req = q
				}
			}
			if req != nil {
				ok = r.n.Setup(r.w, p, req)
			} else {
				ok = r.n.Null(r.w, p, m)
			}
		} else {
			ok = r.n.Do(p, m)
		}
		if !ok {
			r.w.Abandon(p)
			r.w.Idle()
			return false
		}
	}
	ok := r.w.Confirm(p)
	r.w.Idle()
	return ok
}

// build makes a packet of proto from src to dst; for ICMP the port of src
// is the echo identifier, and reply makes it an echo reply.
func build(proto uint8, src, dst netip.AddrPort, reply bool) []byte {
	switch proto {
	case packet.ProtoTCP:
		flags := uint8(packet.TCPFlagSYN)
		if reply {
			flags |= packet.TCPFlagACK
		}
		return pktbuild.TCP(src, dst, flags, 1000, 0, []byte("hello, tcp"), nil)
	case packet.ProtoUDP:
		return pktbuild.UDP(src, dst, []byte("hello, udp!"), nil)
	default:
		return pktbuild.ICMPEcho(src.Addr(), dst.Addr(), src.Port(), 1, reply, []byte("ping"), nil)
	}
}

// ends reads a packet's source and destination (ICMP: the identifier as
// both ports).
func ends(p *packet.Packet) (netip.AddrPort, netip.AddrPort) {
	q := *p
	q.Parse(packet.LinkRaw)
	return netip.AddrPortFrom(q.Src(), q.SrcPort), netip.AddrPortFrom(q.Dst(), q.DstPort)
}

// verify checks every checksum of the packet in b with gopacket, an
// independent decoder, and with the packet package.
func verify(tb testing.TB, b []byte) {
	tb.Helper()
	verifyLayers(tb, b, true)
	p := pktbuild.Parsed(tb, b)
	if !p.VerifyChecksums() {
		tb.Errorf("packet.VerifyChecksums rejects % x", b)
	}
}

// verifyLayers checks b's checksums with gopacket. needOne: fail if no
// layer has one.
func verifyLayers(tb testing.TB, b []byte, needOne bool) {
	tb.Helper()
	if pktbuild.CheckWithGopacket(tb, b) == 0 && needOne {
		tb.Fatal("gopacket: no layer with a checksum")
	}
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
func ad(s string) netip.Addr     { return netip.MustParseAddr(s) }
