package engine

import (
	"net/netip"
	"testing"
	"time"

	"github.com/nfgo/nfgo/hooks"
	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/io/memio"
	"github.com/nfgo/nfgo/packet"
)

// forwardRig is an engine forwarding IPv4 UDP from lan to wan with one
// no-op callback on each of the five hooks, driven one batch at a time.
type forwardRig struct {
	w         *worker
	lanE      *memio.Port
	lanT, wan *memio.Port
	in, out   []*packet.Packet
}

func newForwardRig(tb testing.TB, batch int) *forwardRig {
	e := New(Options{})
	lanE, lanT := memio.Pair("lan0", "lan-peer", memio.Options{PollInterval: time.Millisecond})
	wanE, wanT := memio.Pair("wan0", "wan-peer", memio.Options{PollInterval: time.Millisecond})
	lanIdx, _ := e.AddPort(lanE, PortConfig{Addrs: []netip.Prefix{lanAddr}})
	e.AddPort(wanE, PortConfig{Addrs: []netip.Prefix{wanAddr}})
	noop := func(_ *packet.Packet, _ *hooks.State) hooks.Verdict { return hooks.Accept }
	for h := hooks.Prerouting; h < hooks.NumInetHooks; h++ {
		if err := e.Hooks().Register(&hooks.Ops{Family: packet.FamilyIPv4, Hook: h, Func: noop}); err != nil {
			tb.Fatal(err)
		}
	}
	r := &forwardRig{w: newWorker(e, 1, e.ifs[lanIdx], 0), lanE: lanE, lanT: lanT, wan: wanT}
	for i := 0; i < batch; i++ {
		p := packet.New()
		// 64-byte Ethernet frames carry 18 bytes of UDP payload.
		b := pktbuild.UDP4(netip.AddrPortFrom(client, uint16(1000+i)), netip.AddrPortFrom(server, 9), make([]byte, 18))
		copy(p.SetFrame(len(b)), b)
		r.in = append(r.in, p)
		r.out = append(r.out, packet.New())
	}
	return r
}

// round sends one batch in, forwards it, and takes it out at the far end.
func (r *forwardRig) round() int {
	r.lanT.WriteBatch(0, r.in)
	n, _ := r.lanE.ReadBatch(0, r.w.rx[:])
	r.w.process(r.w.rx[:n])
	m, _ := r.wan.ReadBatch(0, r.out)
	return m
}

// BenchmarkForward forwards IPv4 UDP between two memio ports through all
// five hooks with one no-op callback on each, in batches of 64. One op is
// one packet.
func BenchmarkForward(b *testing.B) {
	r := newForwardRig(b, hooks.MaxBatch)
	if r.round() != hooks.MaxBatch {
		b.Fatal("the batch was not forwarded")
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	pkts := 0
	for pkts < b.N {
		pkts += r.round()
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(el.Nanoseconds())/float64(pkts), "ns/packet")
	b.ReportMetric(float64(pkts)/el.Seconds(), "packets/s")
}

func TestForwardPathAllocatesNothing(t *testing.T) {
	r := newForwardRig(t, hooks.MaxBatch)
	r.round()
	allocs := testing.AllocsPerRun(200, func() {
		if r.round() != hooks.MaxBatch {
			t.Fatal("batch lost")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per batch of 64 on the forward path", allocs)
	}
}

// BenchmarkFIBLookup measures one longest-prefix match in a FIB of 1,000
// IPv4 and 1,000 IPv6 routes.
func BenchmarkFIBLookup(b *testing.B) {
	f := newFIB()
	var dsts []netip.Addr
	for i := 0; i < 1000; i++ {
		v4 := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		v6 := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 8), byte(i)})
		var err error
		if f, err = f.with(Route{Prefix: netip.PrefixFrom(v4, 24+i%9), OutIf: 2}); err != nil {
			b.Fatal(err)
		}
		if f, err = f.with(Route{Prefix: netip.PrefixFrom(v6, 48+i%17), OutIf: 2}); err != nil {
			b.Fatal(err)
		}
		dsts = append(dsts, v4, v6)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok := f.lookup(dsts[i%len(dsts)]); !ok {
			b.Fatal("miss")
		}
	}
}
