package afxdp

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkVethPortToPort measures raw port throughput: a port on one end
// of a veth pair writes 64-byte frames as fast as it can, a port on the
// other end reads them. It reports received frames per second; frames the
// receiver missed (veth or RX ring overrun) are reported as drop-%.
//
//	go test -run '^$' -bench VethPortToPort -benchtime 2000000x ./io/afxdp/
func BenchmarkVethPortToPort(b *testing.B) {
	for _, mode := range []AttachMode{ModeNative, ModeGeneric} {
		b.Run(mode.String(), func(b *testing.B) {
			v := newVethPair(b)
			rx := openPort(b, v, Options{Mode: mode, Logger: quietLogger()})
			tx := openPortOn(b, v.peer, Options{Mode: mode, Logger: quietLogger()})
			out := newPackets(64)
			for i, pk := range out {
				f := testFrame(v.xdp.MAC, v.peer.MAC, rxTag, i, 18) // 60-byte frames
				copy(pk.SetFrame(len(f)), f)
			}
			var stop atomic.Bool
			var wg sync.WaitGroup
			var written atomic.Uint64
			in := newPackets(64)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					n, _ := tx.WriteBatch(0, out)
					written.Add(uint64(n))
				}
			}()
			got := 0
			deadline := start.Add(30 * time.Second)
			for got < b.N && time.Now().Before(deadline) {
				n, err := rx.ReadBatch(0, in)
				if err != nil {
					b.Fatal(err)
				}
				got += n
			}
			el := time.Since(start)
			stop.Store(true)
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(got)/el.Seconds(), "pps")
			if w := written.Load(); w > 0 {
				b.ReportMetric(100*float64(w-min(w, uint64(got)))/float64(w), "drop-%")
			}
		})
	}
}
