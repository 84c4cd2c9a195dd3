package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nfgo/nfgo/internal/netnstest"
	"github.com/nfgo/nfgo/io/afxdp"
	"github.com/nfgo/nfgo/packet"
)

// The forwarding benchmark: 64-byte UDP frames (60 bytes and the FCS veth
// does not have) from the client to the server, forwarded by nfgo over
// AF_XDP (native mode, no rules) and by the router namespace's kernel
// (ip_forward=1, no rules), alternately, on the same topology in one run.
//
//   - The sender is a child process in the client namespace that writes
//     prebuilt frames to an AF_XDP port on c0 as fast as it takes them, for
//     a bounded time.
//   - The receiver is an XDP program on s0 that counts the frames and drops
//     them (Counter), so that the server's stack costs nothing.
//   - The rate is what the counter saw in a one-second window after a
//     warm-up, while the sender was still sending.
//
// On two cores, the sender and the router would fight over the CPUs, so
// they are pinned: the sender process to CPU 0, this process (nfgo's
// workers) to CPU 1, and for the kernel's turn RPS on r0 moves the
// kernel's forwarding to CPU 1 too. Each forwarder thus has CPU 1 to
// itself. The work veth does to hand a frame to the router's side runs on
// the sender's CPU in both cases; for nfgo that includes the XDP program
// on r0 and the copy into the AF_XDP socket. Both processes, and the
// kernel's ksoftirqd threads, run at nice -20, so that other work on a
// shared machine takes as little from either forwarder.
var (
	benchSrc = netip.AddrPortFrom(clientAddr4, 1024)
	benchDst = netip.AddrPortFrom(serverAddr4, 9)
)

const (
	benchWarmup = 300 * time.Millisecond
	benchWindow = time.Second
	senderCPU   = 0
	routerCPU   = 1
)

// BenchmarkForwardUDP64 runs b.N rounds, each a kernel measurement and an
// nfgo one, and reports the medians and the median ratio.
//
//	go test -run '^$' -bench ForwardUDP64 -benchtime 5x ./bench/
func BenchmarkForwardUDP64(b *testing.B) {
	tp, pin := forwardTopo(b)
	var cnt *Counter
	if err := tp.server.Do(func() (err error) { cnt, err = NewCounter(tp.s0.Index, false); return err }); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cnt.Close() })

	var kernel, nfgo, ratio []float64
	var kernelCPU, nfgoCPU, ratioCPU []float64 // per busy router CPU
	for i := 0; i < b.N; i++ {
		k, n := forwardRound(b, tp, func() forwardRate { return measureForward(b, tp, cnt) })

		// Printed rather than logged: a benchmark's log shows only its
		// first run's lines, and every round is worth seeing.
		fmt.Printf("ForwardUDP64 round %d/%d: kernel %s, nfgo %s, nfgo/kernel %.2f\n", i+1, b.N, k, n, n.pps/k.pps)
		kernel, nfgo, ratio = append(kernel, k.pps), append(nfgo, n.pps), append(ratio, n.pps/k.pps)
		if pin && k.busy[routerCPU] > 0 && n.busy[routerCPU] > 0 {
			kc, nc := k.perCPU(), n.perCPU()
			kernelCPU, nfgoCPU, ratioCPU = append(kernelCPU, kc), append(nfgoCPU, nc), append(ratioCPU, nc/kc)
		}
	}
	b.ReportMetric(median(kernel), "kernel-pps")
	b.ReportMetric(median(nfgo), "nfgo-pps")
	b.ReportMetric(median(ratio), "nfgo/kernel")
	fmt.Printf("ForwardUDP64 median of %d rounds: kernel %.0f pps, nfgo %.0f pps, nfgo/kernel %.2f\n", b.N, median(kernel), median(nfgo), median(ratio))
	if len(ratioCPU) > 0 {
		// When the sender cannot keep the router's CPU busy, the rates
		// above are the offered load; the rate per busy router CPU
		// estimates what each forwarder would do with the whole CPU.
		b.ReportMetric(median(kernelCPU), "kernel-pps/cpu")
		b.ReportMetric(median(nfgoCPU), "nfgo-pps/cpu")
		b.ReportMetric(median(ratioCPU), "nfgo/kernel-per-cpu")
		fmt.Printf("ForwardUDP64 per busy router CPU, median of %d rounds: kernel %.0f pps, nfgo %.0f pps, nfgo/kernel %.2f\n",
			len(ratioCPU), median(kernelCPU), median(nfgoCPU), median(ratioCPU))
	}
}

// forwardTopo builds the forwarding benchmarks' topology: the kernel's
// router has the same addresses as nfgo's, on the same interfaces, and
// forwards only during its turns (while nfgo's ports are open, XDP takes
// every frame before the kernel sees it). With two CPUs or more, RPS on r0
// moves the kernel's forwarding to the router's CPU and the test process,
// so nfgo's workers, is pinned there (pin is true). Everything runs at
// the highest priority until b ends.
func forwardTopo(b *testing.B) (tp *topo, pin bool) {
	requireXDP(b)
	tp = newTopo(b)
	netnstest.AddAddr(b, tp.r0, routerLAN4)
	netnstest.AddAddr(b, tp.r1, routerWAN4)
	netnstest.AddNeighbor(b, tp.r1, serverAddr4, tp.s0.MAC)
	pin = runtime.NumCPU() >= 2
	if pin {
		tp.router.MustExec("sh", "-c", fmt.Sprintf("echo %x > /sys/class/net/r0/queues/rx-0/rps_cpus", 1<<routerCPU))
		restore, err := PinProcess(routerCPU)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			if err := restore(); err != nil {
				b.Errorf("restore CPU affinity: %v", err)
			}
		})
	} else {
		b.Log("one CPU: sender and router share it, nothing pinned")
	}
	// The kernel forwards in softirq context, which no task preempts; on
	// a machine shared with other work, nfgo's threads (and the sender's)
	// get the highest priority so that other tasks take less from them.
	unboost, err := BoostProcess(-20)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := unboost(); err != nil {
			b.Errorf("restore nice value: %v", err)
		}
	})
	// And so do the kernel's: under sustained load the kernel hands its
	// softirq work to the per-CPU ksoftirqd threads, which are ordinary
	// tasks at nice 0 otherwise.
	boostKsoftirqd(b, -20)
	return tp, pin
}

// forwardRound measures the kernel's forwarding and then nfgo's (two
// AF_XDP ports in native mode, a static neighbor entry for the server)
// with measure.
func forwardRound(b *testing.B, tp *topo, measure func() forwardRate) (kernel, nfgo forwardRate) {
	netnstest.Sysctl(b, tp.router, "net.ipv4.ip_forward", "1")
	kernel = measure()
	netnstest.Sysctl(b, tp.router, "net.ipv4.ip_forward", "0")

	lan, wan := openXDP(b, tp, afxdp.ModeNative)
	r := startRouter(b, lan, wan)
	if err := r.e.AddNeighbor(r.wan, serverAddr4, packet.MAC(tp.s0.MAC)); err != nil {
		b.Fatal(err)
	}
	nfgo = measure()
	r.stop()
	lan.Close()
	wan.Close()
	return kernel, nfgo
}

// boostKsoftirqd gives the kernel's ksoftirqd threads the nice value nice
// until b ends.
func boostKsoftirqd(b *testing.B, nice int) {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range procs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", d.Name(), "comm"))
		if err != nil || !strings.HasPrefix(string(comm), "ksoftirqd/") {
			continue
		}
		old, err := unix.Getpriority(unix.PRIO_PROCESS, pid)
		if err != nil {
			continue
		}
		if err := unix.Setpriority(unix.PRIO_PROCESS, pid, nice); err != nil {
			b.Fatalf("renice %s: %v", strings.TrimSpace(string(comm)), err)
		}
		b.Cleanup(func() { unix.Setpriority(unix.PRIO_PROCESS, pid, 20-old) })
	}
}

// forwardRate is one measurement: what arrived at the server, and what the
// sender offered.
type forwardRate struct {
	pps     float64    // frames per second counted at s0
	offered float64    // frames per second the sender's port accepted
	refused float64    // share of the sender's frames its port refused (TX ring full)
	busy    [2]float64 // how busy CPUs 0 and 1 were during the window, 0..1
}

// perCPU is the rate per fully busy router CPU: the rate divided by the
// share of the window the router's CPU was busy. The busy time includes
// what else runs there in both turns (the receiver's XDP counter on s0).
func (r forwardRate) perCPU() float64 { return r.pps / r.busy[routerCPU] }

func (r forwardRate) String() string {
	return fmt.Sprintf("%.3f Mpps (offered %.3f Mpps, %.0f%% refused; CPU0 %.0f%% CPU1 %.0f%% busy)",
		r.pps/1e6, r.offered/1e6, 100*r.refused, 100*r.busy[0], 100*r.busy[1])
}

// measureForward runs the sender child and counts what reaches the
// server during the window.
func measureForward(tb testing.TB, tp *topo, cnt *Counter) forwardRate {
	tb.Helper()
	args := url.Values{
		"ns":  {tp.client.Name},
		"if":  {tp.c0.Name},
		"dst": {packet.MAC(tp.r0.MAC).String()},
		"src": {packet.MAC(tp.c0.MAC).String()},
		"ms":  {strconv.Itoa(int((benchWarmup + benchWindow + 300*time.Millisecond) / time.Millisecond))},
	}
	if runtime.NumCPU() >= 2 {
		args.Set("cpu", strconv.Itoa(senderCPU))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=sender:"+args.Encode())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	defer cmd.Wait()
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "child:") || strings.HasPrefix(l, "sender:") {
				lines <- l
			}
		}
		close(lines)
		io.Copy(io.Discard, out)
	}()
	next := func() string {
		select {
		case l, ok := <-lines:
			if !ok {
				return "sender: exited"
			}
			return l
		case <-ctx.Done():
			return "sender: timed out"
		}
	}
	if l := next(); l != "sender: ready" {
		tb.Fatalf("sender did not start: %s", l)
	}
	r := measureWindow(tb, cnt)
	l := next()
	var sent, refused uint64
	var ns int64
	if _, err := fmt.Sscanf(l, "sender: sent %d refused %d in %dns", &sent, &refused, &ns); err != nil || ns <= 0 {
		tb.Fatalf("sender: %s", l)
	}
	r.offered = float64(sent) / time.Duration(ns).Seconds()
	r.refused = float64(refused) / float64(max(sent+refused, 1))
	return r
}

// measureWindow counts what reaches the receiver cnt while a sender runs:
// a fixed window of wall time after a warm-up, with how busy each CPU
// was.
func measureWindow(tb testing.TB, cnt *Counter) forwardRate {
	tb.Helper()
	time.Sleep(benchWarmup)
	c0, err := cnt.Count()
	if err != nil {
		tb.Fatal(err)
	}
	s0 := cpuTimes()
	t0 := time.Now()
	time.Sleep(benchWindow)
	c1, err := cnt.Count()
	if err != nil {
		tb.Fatal(err)
	}
	dt := time.Since(t0)
	s1 := cpuTimes()
	var r forwardRate
	r.pps = float64(c1-c0) / dt.Seconds()
	for i := range r.busy {
		if i < len(s0) && i < len(s1) {
			r.busy[i] = s1[i].busyShare(s0[i])
		}
	}
	return r
}

// cpuTime is one CPU's line of /proc/stat: busy and idle ticks.
type cpuTime struct{ busy, idle uint64 }

func (c cpuTime) busyShare(before cpuTime) float64 {
	b, i := c.busy-before.busy, c.idle-before.idle
	if b+i == 0 {
		return 0
	}
	return float64(b) / float64(b+i)
}

// cpuTimes reads the per-CPU times of /proc/stat; nil if it cannot. They
// show which side of a benchmark ran out of CPU, and whether something
// else on the machine was running.
func cpuTimes() []cpuTime {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	var out []cpuTime
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		var c cpuTime
		for j, v := range f[1:] {
			n, _ := strconv.ParseUint(v, 10, 64)
			if j == 3 || j == 4 { // idle, iowait
				c.idle += n
			} else if j < 8 { // user nice system idle iowait irq softirq steal
				c.busy += n
			}
		}
		out = append(out, c)
	}
	return out
}

// senderChild is the benchmark's traffic generator, run as a child
// process: it enters the client namespace, pins itself, opens an AF_XDP
// port on the client's interface and sends 64-byte UDP frames to the
// server through the router for the time it is given.
func senderChild(spec string) error {
	args, err := url.ParseQuery(spec)
	if err != nil {
		return err
	}
	ms, err := strconv.Atoi(args.Get("ms"))
	if err != nil || ms <= 0 || ms > 60_000 {
		return fmt.Errorf("duration %q: want 1..60000 ms", args.Get("ms"))
	}
	dst, err1 := parseMAC(args.Get("dst"))
	src, err2 := parseMAC(args.Get("src"))
	if err1 != nil || err2 != nil {
		return fmt.Errorf("MACs %q %q", args.Get("dst"), args.Get("src"))
	}
	if c := args.Get("cpu"); c != "" {
		cpu, err := strconv.Atoi(c)
		if err != nil {
			return err
		}
		if _, err := PinProcess(cpu); err != nil {
			return err
		}
	}
	if _, err := BoostProcess(-20); err != nil {
		return err
	}
	if err := netnstest.EnterNamed(args.Get("ns")); err != nil {
		return err
	}
	p, err := afxdp.New(afxdp.Options{Interface: args.Get("if"), Queues: 1, Mode: afxdp.ModeNative})
	if err != nil {
		return err
	}
	defer p.Close()
	frames, err := UDPFrames(UDPFlow{DstMAC: dst, SrcMAC: src, Src: benchSrc, Dst: benchDst, Flows: 64}, 64)
	if err != nil {
		return err
	}
	fmt.Println("sender: ready")
	r, err := Send(context.Background(), p, frames, time.Duration(ms)*time.Millisecond)
	if err != nil {
		return err
	}
	fmt.Printf("sender: sent %d refused %d in %dns\n", r.Sent, r.Refused, r.Elapsed.Nanoseconds())
	return nil
}

func parseMAC(s string) (packet.MAC, error) {
	var m packet.MAC
	var b [6]int
	if _, err := fmt.Sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]); err != nil {
		return m, err
	}
	for i := range m {
		m[i] = byte(b[i])
	}
	return m, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
