package conntrack

import (
	"bytes"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nfgo/nfgo/internal/netnstest"
	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

// kernelCT is the kernel's conntrack in a namespace of its own: frames
// injected on vethA (namespace A, no addresses) arrive on vethB (namespace
// B), which routes both directions of the conversation back out of vethB
// (198.18.0.0/15 is on-link there, with permanent neighbours that point at
// vethA, whose namespace does not forward and drops them). Every packet
// therefore passes B's PREROUTING (conntrack) and POSTROUTING (confirm).
// An nftables chain after conntrack counts packets by ct state.
type kernelCT struct {
	tb testing.TB
	b  *netnstest.NS
	fd int
	sa *syscall.SockaddrLinklayer
	d  packet.MAC // vethB's MAC
	s  packet.MAC // vethA's MAC
	n  int        // packets sent
}

func newKernelCT(tb testing.TB) *kernelCT {
	netnstest.RequireRoot(tb)
	for _, tool := range []string{"nft", "conntrack", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			tb.Skipf("skipping: %s not installed (apt-get install -y conntrack nftables)", tool)
		}
	}
	a, b := netnstest.New(tb), netnstest.New(tb)
	la, lb := netnstest.Veth(tb, a, "vetha", b, "vethb", netnstest.VethOptions{})
	netnstest.AddAddr(tb, lb, netip.MustParsePrefix("198.18.255.254/15"))
	for _, ip := range []string{"198.18.0.1", "198.19.0.1"} {
		netnstest.AddNeighbor(tb, lb, netip.MustParseAddr(ip), la.MAC)
	}
	for _, kv := range []string{"net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
		"net.ipv4.conf.vethb.rp_filter=0", "net.ipv4.conf.all.send_redirects=0",
		"net.ipv4.conf.vethb.send_redirects=0"} {
		b.MustExec("sysctl", "-qw", kv)
	}
	cmd := exec.Command("ip", "netns", "exec", b.Name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(`table ip t {
		counter pkts {}
		counter invalid {}
		counter fresh {}
		chain pre {
			type filter hook prerouting priority 300
			counter name pkts
			ct state invalid counter name invalid
			ct state new counter name fresh
		}
	}
`)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("nft: %v\n%s", err, out)
	}
	k := &kernelCT{tb: tb, b: b, d: lb.MAC, s: la.MAC}
	err := a.Do(func() error {
		fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, 0)
		k.fd = fd
		return err
	})
	if err != nil {
		tb.Fatalf("packet socket: %v", err)
	}
	tb.Cleanup(func() { syscall.Close(k.fd) })
	k.sa = &syscall.SockaddrLinklayer{Protocol: 0x0008, Ifindex: la.Index} // htons(ETH_P_IP)
	return k
}

func (k *kernelCT) sysctl(kv string) { k.b.MustExec("sysctl", "-qw", kv) }

func (k *kernelCT) counter(name string) int {
	out := k.b.MustExec("nft", "list", "counter", "ip", "t", name)
	f := strings.Fields(string(out[bytes.Index(out, []byte("packets")):]))
	n, _ := strconv.Atoi(f[1])
	return n
}

// send injects one IP packet and waits until B's chain has counted it; it
// returns the ctinfo class the kernel gave it: InfoNone (invalid), InfoNew
// or InfoEstablished (anything else tracked).
func (k *kernelCT) send(ip []byte) CTInfo {
	k.tb.Helper()
	inv, nw := k.counter("invalid"), k.counter("fresh")
	if err := syscall.Sendto(k.fd, pktbuild.Ether(k.d, k.s, packet.EtherTypeIPv4, ip), 0, k.sa); err != nil {
		k.tb.Fatalf("sendto: %v", err)
	}
	k.n++
	if err := netnstest.Eventually(5*time.Second, func() bool { return k.counter("pkts") >= k.n }); err != nil {
		k.tb.Fatalf("packet %d not seen by the kernel", k.n)
	}
	switch {
	case k.counter("invalid") > inv:
		return InfoNone
	case k.counter("fresh") > nw:
		return InfoNew
	}
	return InfoEstablished
}

// state is the TCP state of the kernel's entry for the flow, TCPNone if
// it has none.
func (k *kernelCT) state(cli, srv netip.AddrPort) TCPState {
	out, _ := k.b.Exec(10*time.Second, "conntrack", "-L", "-p", "tcp", "--orig-src", cli.Addr().String(),
		"--sport", strconv.Itoa(int(cli.Port())), "--orig-dst", srv.Addr().String(), "--dport", strconv.Itoa(int(srv.Port())))
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) > 3 && f[0] == "tcp" {
			for s := TCPNone; s < tcpStateMax; s++ {
				if s.String() == f[3] {
					return s
				}
			}
			k.tb.Fatalf("unknown state in %q", l)
		}
	}
	return TCPNone
}

// class folds a ctinfo to what the kernel test can see of it.
func class(i CTInfo) CTInfo {
	switch i {
	case InfoNone, InfoNew:
		return i
	}
	return InfoEstablished
}

// TestTCPScriptsMatchTheKernel runs every scripted conversation of
// TestTCPScripts through the kernel's conntrack and through nfgo, and
// checks that after each segment both give the same verdict class
// (invalid, new, established) and the same TCP state.
func TestTCPScriptsMatchTheKernel(t *testing.T) {
	k := newKernelCT(t)
	for i, sc := range tcpScripts() {
		t.Run(sc.name, func(t *testing.T) {
			k.tb = t
			k.sysctl("net.netfilter.nf_conntrack_tcp_be_liberal=" + map[bool]string{true: "1", false: "0"}[sc.opts.Liberal])
			k.sysctl("net.netfilter.nf_conntrack_tcp_loose=" + map[bool]string{true: "0", false: "1"}[sc.opts.TCPNoLoose])
			tab, _ := newTestTable(t, sc.opts)
			c := newConv(t, tab)
			c.cli = netip.AddrPortFrom(client.Addr(), uint16(20000+i))
			for j, s := range sc.steps {
				src, dst := c.cli, c.srv
				if !s.orig {
					src, dst = dst, src
				}
				ip := pktbuild.TCP(src, dst, s.flags, s.seq, s.ack, make([]byte, s.payload), s.opts)
				kinfo := k.send(ip)
				kstate := k.state(c.cli, c.srv)
				info, state := c.send(s.orig, s.flags, s.seq, s.ack, s.payload, s.opts)
				if class(info) != kinfo || state != kstate {
					t.Errorf("step %d (orig=%v flags=%#x seq=%d ack=%d): nfgo %v %v, kernel %v %v", j, s.orig,
						s.flags, s.seq, s.ack, class(info), state, kinfo, kstate)
				}
			}
		})
	}
}
