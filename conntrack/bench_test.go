package conntrack

import (
	"encoding/binary"
	"flag"
	"math/bits"
	"math/rand"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

// benchFlows is a set of packets whose frames are rewritten to carry flow
// i: source 10.0.0.0+i (low 24 bits), source port 1024+i>>24, to
// 198.19.0.1:53, UDP. Rewriting twelve bytes of a hot frame costs about
// what the NIC's DMA costs the engine: nothing in cache terms, unlike
// keeping ten million packets around.
type benchFlows struct {
	ps     []*packet.Packet
	l3, l4 [][]byte
}

func newBenchFlows(tb testing.TB, n int) *benchFlows {
	f := &benchFlows{}
	for range n {
		p := pktbuild.Parsed(tb, pktbuild.UDP4(client, server, []byte("x")))
		f.ps = append(f.ps, p)
		f.l3 = append(f.l3, p.Frame[p.L3Off:p.L3Off+20])
		f.l4 = append(f.l4, p.Frame[p.L4Off:p.L4Off+8])
	}
	return f
}

// set rewrites packet j to carry flow i, in its reply direction if reply.
func (f *benchFlows) set(j int, i uint64, reply bool) {
	p, l3, l4 := f.ps[j], f.l3[j], f.l4[j]
	s, d := uint32(0x0a000000)|uint32(i&0xffffff), uint32(0xc6130001)
	sp, dp := uint16(1024+i>>24), uint16(53)
	if reply {
		s, d, sp, dp = d, s, dp, sp
	}
	p.CT, p.CTInfo = 0, 0
	binary.BigEndian.PutUint32(l3[12:16], s)
	binary.BigEndian.PutUint32(l3[16:20], d)
	// The ports in one store: the tracker loads them as one word, which
	// two 2-byte stores cannot forward to; the load would wait for them to
	// reach the cache, a wait a frame written by a NIC does not have.
	binary.BigEndian.PutUint32(l4[0:4], uint32(sp)<<16|uint32(dp))
	p.SrcPort, p.DstPort = sp, dp
}

// fill creates and confirms flows 0..n-1.
func fill(tb testing.TB, t *Table, n int) {
	w := t.NewWorker()
	defer w.Close()
	f := newBenchFlows(tb, 64)
	drop := make([]bool, 64)
	for i := 0; i < n; i += 64 {
		m := min(64, n-i)
		for j := range m {
			f.set(j, uint64(i+j), false)
		}
		w.Track(f.ps[:m], drop[:m])
		for _, p := range f.ps[:m] {
			if !w.Confirm(p) {
				tb.Fatal("confirm failed")
			}
		}
		w.Quiesce()
	}
	if t.Count() != n {
		tb.Fatalf("filled %d of %d", t.Count(), n)
	}
}

func benchTable(tb testing.TB, n int) *Table {
	frozen := int64(1e9)
	t := New(Options{Max: n, SweepInterval: -1, Clock: func() int64 { return frozen }, HashSeed: 7})
	fill(tb, t, n)
	establish(tb, t, n, &frozen)
	return t
}

// establish sends a reply on each of flows 0..n-1 and, the clock moved on by
// 3 s, one more packet, so that each is ASSURED with the stream timeout (as
// a UDP flow still active two seconds after its reply): the state of
// the established connections that carry nearly all packets. The first
// reply and the next packet of a flow set status bits (SEEN_REPLY, then
// ASSURED) and move its expiry, with atomic read-modify-writes that are
// full barriers on x86 and keep the misses of lookups before and after
// them from overlapping; a lookup benchmark over flows that have not had
// them yet measures those transitions, once per flow, more than lookups.
func establish(tb testing.TB, t *Table, n int, clock *int64) {
	w := t.NewWorker()
	defer w.Close()
	f := newBenchFlows(tb, 64)
	drop := make([]bool, 64)
	for _, reply := range []bool{true, false} {
		if !reply {
			*clock += int64(3 * time.Second)
		}
		for i := 0; i < n; i += 64 {
			m := min(64, n-i)
			for j := range m {
				f.set(j, uint64(i+j), reply)
			}
			w.Track(f.ps[:m], drop[:m])
			w.Quiesce()
		}
	}
	if e, ok := t.Entry(f.ps[0].CT); !ok || e.Status&StatusAssured == 0 {
		tb.Fatalf("flow not assured: %+v", e)
	}
}

// rng is a splitmix64 stream: a few nanoseconds per draw.
type rng uint64

func (r *rng) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	z := uint64(*r)
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func (r *rng) intn(n uint64) uint64 { hi, _ := bits.Mul64(r.next(), n); return hi }

// draws is a sequence of flow numbers to look up, made before the timer
// starts: uniform over [0, n), or Zipf-distributed (s=1.1) over it.
func draws(n int, zipf bool) []uint32 {
	d := make([]uint32, 1<<20)
	if zipf {
		z := rand.NewZipf(rand.New(rand.NewSource(1)), 1.1, 1, uint64(n-1))
		for i := range d {
			d[i] = uint32(z.Uint64())
		}
		return d
	}
	r := rng(3)
	for i := range d {
		d[i] = uint32(r.intn(uint64(n)))
	}
	return d
}

func oneShot() bool {
	f := flag.Lookup("test.benchtime")
	return f != nil && f.Value.String() == "1x"
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + "M"
	case n >= 1000000:
		return strconv.Itoa(n/1000000) + "M"
	}
	return strconv.Itoa(n>>10) + "K"
}

// BenchmarkLookup measures the established path (Track + Quiesce) of UDP
// packets of existing flows, half of them in the reply direction, drawn
// uniformly from the whole table or Zipf-distributed, one packet per Track
// call (single) or 64. ns/pkt includes rewriting the packet's addresses.
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{1 << 10, 1 << 20, 10_000_000} {
		b.Run(sizeName(n), func(b *testing.B) {
			if n > 1<<20 && (testing.Short() || oneShot()) {
				b.Skip("10M entries: not under -short or -benchtime=1x")
			}
			t := benchTable(b, n)
			for _, c := range []struct {
				name  string
				batch int
				zipf  bool
			}{{"single", 1, false}, {"batch64", 64, false}, {"zipf", 1, true}, {"zipf-batch64", 64, true}} {
				b.Run(c.name, func(b *testing.B) {
					w := t.NewWorker()
					defer w.Close()
					f := newBenchFlows(b, c.batch)
					drop := make([]bool, c.batch)
					seq := draws(n, c.zipf)
					k := 0
					b.ReportAllocs()
					b.ResetTimer()
					for range b.N {
						for j := range f.ps {
							i := uint64(seq[k&(len(seq)-1)])
							k++
							f.set(j, i, i&1 == 1)
						}
						w.Track(f.ps, drop)
						w.Quiesce()
					}
					b.StopTimer()
					if f.ps[0].CT == 0 {
						b.Fatal("lookup missed")
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*c.batch), "ns/pkt")
					b.ReportMetric(float64(t.memory())/float64(n), "B/entry")
				})
			}
		})
	}
}

// BenchmarkNewConn measures a connection's life: create (Track), confirm,
// and expire (the clock jumps past the UDP timeout and Sweep deletes).
func BenchmarkNewConn(b *testing.B) {
	now := int64(1e9)
	t := New(Options{SweepInterval: -1, Clock: func() int64 { return now }, HashSeed: 7})
	w := t.NewWorker()
	f := newBenchFlows(b, 64)
	drop := make([]bool, 64)
	half := uint64(t.Max() / 2)
	var id uint64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 64 {
		m := min(64, b.N-i)
		for j := range m {
			f.set(j, id, false)
			id++
		}
		w.Track(f.ps[:m], drop[:m])
		for _, p := range f.ps[:m] {
			w.Confirm(p)
		}
		w.Quiesce()
		if id%half < 64 || t.Count()+64 > t.Max() {
			now += int64(31 * time.Second)
			t.Sweep()
		}
	}
	b.StopTimer()
	if st := t.Stats(); st.Drop != 0 {
		b.Fatalf("dropped %d", st.Drop)
	}
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(ns, "ns/pkt")
	b.ReportMetric(1e3/ns, "Mconn/s")
}

// BenchmarkLookupParallel runs batch64 uniform lookups at 1M entries in
// every P (compare -cpu 1,2).
func BenchmarkLookupParallel(b *testing.B) {
	n := 1 << 20
	if oneShot() {
		n = 1 << 16
	}
	t := benchTable(b, n)
	seq := draws(n, false)
	b.ReportAllocs()
	b.ResetTimer()
	var start atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		w := t.NewWorker()
		defer w.Close()
		f := newBenchFlows(b, 64)
		drop := make([]bool, 64)
		k := start.Add(1 << 18)
		for pb.Next() {
			for j := range f.ps {
				i := uint64(seq[k&(1<<20-1)])
				k++
				f.set(j, i, i&1 == 1)
			}
			w.Track(f.ps, drop)
			w.Quiesce()
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/pkt")
	runtime.KeepAlive(t)
}
