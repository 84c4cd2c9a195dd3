package bench

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nfgo/nfgo/internal/ethtool"
	"github.com/nfgo/nfgo/packet"
)

// BenchmarkForwardUDP64Saturated is BenchmarkForwardUDP64 with a sender
// that keeps the router's CPU busy: a LiveSender on c0 (BPF_PROG_RUN live
// frames, XDP_TX) instead of an AF_XDP socket. Its frames reach r0 as XDP
// frames, so r0 needs NAPI in the kernel's turns too: GRO is on on r0,
// and the kernel's receive side is then veth's NAPI path, as with a real
// NIC, instead of the netif_rx backlog BenchmarkForwardUDP64's kernel turns
// take. The same frame is sent over and over (one flow). CPUs and
// priorities are as in BenchmarkForwardUDP64: the sender's thread (and
// r0's receive NAPI, which runs where the frames are sent) on CPU 0, the
// forwarding on CPU 1.
//
// The receiver on s0 runs on the router's CPU, as everything a veth
// device receives does, so its cost counts against both forwarders, and it
// is not the same for both with an XDP receiver: veth copies an skb with
// less than 256 bytes of headroom before running XDP on it, and nfgo's
// AF_XDP transmit makes such skbs while the kernel's forwarded frames
// (built from XDP frames at r0) have the room. "xdp-receiver" counts with
// the XDP Counter of BenchmarkForwardUDP64; "tc-receiver" with a tc
// program (NewTCCounter), which takes every skb as it is.
//
//	go test -run '^$' -bench ForwardUDP64Saturated -benchtime 5x ./bench/
func BenchmarkForwardUDP64Saturated(b *testing.B) {
	for _, rc := range []struct {
		name   string
		attach func(ifindex int) (*Counter, error)
	}{
		{"xdp-receiver", func(ifindex int) (*Counter, error) { return NewCounter(ifindex, false) }},
		{"tc-receiver", NewTCCounter},
	} {
		b.Run(rc.name, func(b *testing.B) { forwardSaturated(b, rc.name, rc.attach) })
	}
}

func forwardSaturated(b *testing.B, name string, attach func(ifindex int) (*Counter, error)) {
	tp, pin := forwardTopo(b)
	// r0 needs NAPI for the sender's XDP frames in the kernel's turns;
	// nfgo's XDP program gives it NAPI in nfgo's.
	if err := tp.router.Do(func() error { return ethtool.GROOn(tp.r0.Name) }); err != nil {
		b.Fatal(err)
	}
	var cnt *Counter
	if err := tp.server.Do(func() (err error) { cnt, err = attach(tp.s0.Index); return err }); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cnt.Close() })
	frames, err := UDPFrames(UDPFlow{DstMAC: packet.MAC(tp.r0.MAC), SrcMAC: packet.MAC(tp.c0.MAC), Src: benchSrc, Dst: benchDst, Flows: 1}, 1)
	if err != nil {
		b.Fatal(err)
	}
	snd, err := NewLiveSender(tp.c0.Index, frames[0])
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { snd.Close() })

	var kernel, nfgo, ratio []float64
	for i := 0; i < b.N; i++ {
		k, n := forwardRound(b, tp, func() forwardRate { return measureSaturated(b, tp, cnt, snd, pin) })

		fmt.Printf("ForwardUDP64Saturated/%s round %d/%d: kernel %.3f Mpps (CPU0 %.0f%% CPU1 %.0f%% busy), nfgo %.3f Mpps (CPU0 %.0f%% CPU1 %.0f%% busy), nfgo/kernel %.2f\n",
			name, i+1, b.N, k.pps/1e6, 100*k.busy[0], 100*k.busy[1], n.pps/1e6, 100*n.busy[0], 100*n.busy[1], n.pps/k.pps)
		kernel, nfgo, ratio = append(kernel, k.pps), append(nfgo, n.pps), append(ratio, n.pps/k.pps)
	}
	b.ReportMetric(median(kernel), "kernel-pps")
	b.ReportMetric(median(nfgo), "nfgo-pps")
	b.ReportMetric(median(ratio), "nfgo/kernel")
	fmt.Printf("ForwardUDP64Saturated/%s median of %d rounds: kernel %.0f pps, nfgo %.0f pps, nfgo/kernel %.2f\n", name, b.N, median(kernel), median(nfgo), median(ratio))
}

// measureSaturated runs the live sender in the client namespace, on the
// sender's CPU when pin is set, and counts the frames that reach the server
// in a window after a warm-up, with how busy each CPU was.
func measureSaturated(tb testing.TB, tp *topo, cnt *Counter, snd *LiveSender, pin bool) forwardRate {
	tb.Helper()
	done := make(chan error, 1)
	go func() {
		// Do runs on a thread of its own, which dies with it, so the
		// affinity set here goes with it.
		done <- tp.client.Do(func() error {
			if pin {
				var one unix.CPUSet
				one.Set(senderCPU)
				if err := unix.SchedSetaffinity(0, &one); err != nil {
					return err
				}
			}
			_, err := snd.Send(benchWarmup + benchWindow + 200*time.Millisecond)
			return err
		})
	}()
	r := measureWindow(tb, cnt)
	if err := <-done; err != nil {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
			// Live frames need Linux 5.18 and a device that takes XDP
			// frames.
			tb.Skipf("skipping: the kernel cannot send live XDP frames here: %v", err)
		}
		tb.Fatal(err)
	}
	return r
}
