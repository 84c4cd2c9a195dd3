package nat

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/packet"
)

// BenchmarkNATEstablished is the rewrite of established connections, both
// directions, each packet through the two NAT hooks of a forwarded packet
// (ManipDst at PREROUTING, ManipSrc at POSTROUTING), each hook a DoBatch
// call on a batch of 64 packets as in the engine, half in each direction.
// "1conn" is one connection's packets, as a burst off a queue is when one
// flow carries the traffic: its entry and copy stay in L1. "64conn" is one
// packet each way of 64 connections, in two batches, whose entries and
// copies no longer fit in L1. "1conn-Do" is one connection's two packets
// with a Do call per packet and hook, the API for a caller with one
// packet: it pays a call's fixed cost per packet. "none4" is connections
// without a translation (the status check).
//
// Each iteration first restores a set of packets' bytes. The copies alone
// run too, in turns of 64 iterations with the ones that translate, on the
// same buffers: "added-ns/packet" is the difference, what NAT adds, and
// "ns/packet" the translating turns alone. (A separate copy-only
// benchmark, with buffers of its own, swung by 2 ns between runs with
// where its buffers fell.) ns/op counts both turns.
func BenchmarkNATEstablished(b *testing.B) {
	cases := []struct {
		name   string
		v6     bool
		server string
		req    *Request
	}{
		{"snat4", false, "198.19.1.1", &Request{Kind: KindSNAT, AddrMin: ad("198.19.0.1")}},
		{"dnat4", false, "198.19.0.1", &Request{Kind: KindDNAT, AddrMin: ad("198.19.1.1"), PortMin: 8080}},
		{"snat6", true, "2001:db8:2::1", &Request{Kind: KindSNAT, AddrMin: ad("2001:db8:ff::1")}},
		{"none4", false, "198.19.1.1", nil},
	}
	for _, mode := range []struct {
		name  string
		conns int
		reps  int  // copies of each connection's pair of packets in a set
		do    bool // a Do call per packet and hook, instead of DoBatch
	}{{"1conn", 1, 32, false}, {"64conn", 64, 1, false}, {"1conn-Do", 1, 1, true}} {
		conns := mode.conns
		for _, c := range cases {
			b.Run(mode.name+"/"+c.name, func(b *testing.B) {
				r := newRig(b, 0, Options{})
				var pkts []*packet.Packet
				var frames [][]byte
				for i := range conns {
					client := clientAddr(i)
					if c.v6 {
						client = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 15: byte(i)})
					}
					o, rp := establish(b, r, client, ad(c.server), c.req)
					for range mode.reps {
						pkts = append(pkts, o, rp)
						frames = append(frames, append([]byte(nil), o.Frame...), append([]byte(nil), rp.Frame...))
					}
				}
				// The packets are copied into a ring of sets, each restored
				// half a ring before it is translated: a NIC writes a
				// frame long before the NAT hook reads it, while reading
				// what a copy just wrote would measure the store buffer.
				ring := make([][]*packet.Packet, ringSets(len(pkts)))
				for k := range ring {
					for _, p := range pkts {
						q := *p
						q.Frame = append([]byte(nil), p.Frame...)
						ring[k] = append(ring[k], &q)
					}
				}
				n := r.n
				drop := make([]bool, len(pkts))
				it := 0
				// run does k iterations, translating if nat.
				run := func(k int, nat bool) {
					for range k {
						for i, p := range ring[(it+len(ring)/2)%len(ring)] {
							copy(p.Frame, frames[i])
						}
						set := ring[it%len(ring)]
						it++
						switch {
						case !nat:
						case mode.do:
							for _, p := range set {
								n.Do(p, ManipDst)
								n.Do(p, ManipSrc)
							}
						default:
							// The engine's batches are of up to 64 packets.
							for off := 0; off < len(set); off += 64 {
								batch := set[off:min(off+64, len(set))]
								n.DoBatch(batch, ManipDst, drop, nil)
								n.DoBatch(batch, ManipSrc, drop, nil)
							}
						}
					}
				}
				const turn = 64
				var copying, translating time.Duration
				b.ReportAllocs()
				b.ResetTimer()
				for done := 0; done < b.N; done += turn {
					k := min(turn, b.N-done)
					t0 := time.Now()
					run(k, false)
					t1 := time.Now()
					run(k, true)
					copying += t1.Sub(t0)
					translating += time.Since(t1)
				}
				per := float64(len(pkts) * b.N)
				b.ReportMetric(float64(translating.Nanoseconds())/per, "ns/packet")
				b.ReportMetric(float64((translating-copying).Nanoseconds())/per, "added-ns/packet")
			})
		}
	}
}

// ringSets is how many copies of a set of n packets BenchmarkNATEstablished
// rotates through: at least 2, and about 256 packets in all.
func ringSets(n int) int { return max(2, 256/n) }

// BenchmarkNATNew binds new connections: per iteration, one first packet
// is tracked, bound at both manips (the null binding at dstnat, SNAT at
// srcnat), rewritten and confirmed. "track-confirm" is the same without
// NAT, so the difference is what binding costs. "keep-port" clients all
// have distinct ports and keep them; "remap" clients all come from port
// 40000 to one server, so every binding after the first searches for a
// port (the table is flushed every 30,000 connections, at most 47% of the
// port range in use).
func BenchmarkNATNew(b *testing.B) {
	const flushEvery = 30000
	for _, c := range []string{"track-confirm", "keep-port", "remap"} {
		b.Run(c, func(b *testing.B) {
			r := newRig(b, 1<<17, Options{Rand: rand.Uint32})
			server := ap("198.19.1.1:80")
			snat := &Request{Kind: KindSNAT, AddrMin: ad("198.19.0.1")}
			tmpl := make([][]byte, flushEvery)
			for i := range tmpl {
				port := uint16(40000)
				if c != "remap" {
					port = uint16(1024 + i%60000)
				}
				tmpl[i] = build(packet.ProtoTCP, netip.AddrPortFrom(clientAddr(i), port), server, false)
			}
			p := packet.New()
			batch := []*packet.Packet{p}
			var drop [1]bool
			// One connection first, outside the timing: the first binding
			// allocates the NAT's per-slot slab (xlats), once per table.
			if c != "track-confirm" {
				r.n.xl.record(r.t, 1)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				k := i % flushEvery
				if k == 0 && i > 0 {
					b.StopTimer()
					r.t.Flush(conntrack.Filter{})
					r.w.Idle()
					r.t.Sweep()
					b.StartTimer()
				}
				copy(p.SetFrame(len(tmpl[k])), tmpl[k])
				p.Parse(packet.LinkRaw)
				p.CT, p.CTInfo, p.OutIf = 0, 0, ifOutside
				r.w.Track(batch, drop[:])
				if c != "track-confirm" {
					if !r.n.Null(r.w, p, ManipDst) || !r.n.Setup(r.w, p, snat) {
						b.Fatalf("binding %d failed: %+v", i, r.n.Stats())
					}
				}
				if !r.w.Confirm(p) {
					b.Fatalf("confirm %d failed", i)
				}
				r.w.Quiesce()
			}
			b.StopTimer()
			st := r.n.Stats()
			if c != "track-confirm" {
				b.ReportMetric(float64(st.SearchProbes)/float64(st.Bindings), "probes/binding")
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mbindings/s")
		})
	}
}
