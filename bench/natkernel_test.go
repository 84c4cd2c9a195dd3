package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/engine"
	"github.com/nfgo/nfgo/internal/netnstest"
	"github.com/nfgo/nfgo/io/afxdp"
)

// The same NAT scenarios through the kernel's own NAT (nftables in the
// router namespace, the kernel forwarding) and through nfgo (the same
// ruleset text, the engine forwarding on AF_XDP), with what arrives at the
// server and back at the client captured on AF_PACKET sockets and
// compared field by field.

// natCompareRuleset is loaded with `nft -f` into the router namespace's
// kernel and parsed by nfgo's ruleset package. No rule has the random or
// fully-random flag: every port the kernel picks is deterministic here
// (the original one, which is always free in these fresh namespaces).
const natCompareRuleset = `
table ip nat {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		iifname "r1" tcp dport 8080 dnat to 198.18.0.2:80
		iifname "r1" udp dport 8053 dnat to 198.18.0.2:5353
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "r1" tcp dport 7303 snat to 198.18.2.1
		oifname "r1" udp dport 7304 snat to 198.18.2.1
		oifname "r1" masquerade
	}
}
table ip6 nat {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		iifname "r1" tcp dport 8080 dnat to [2001:db8::2]:80
		iifname "r1" udp dport 8053 dnat to [2001:db8::2]:5353
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "r1" tcp dport 7303 snat to 2001:db8:2::1
		oifname "r1" udp dport 7304 snat to 2001:db8:2::1
		oifname "r1" masquerade
	}
}
`

// The ICMP echo identifiers the client uses; the kernel keeps an id that
// is free, and so must nfgo.
const (
	natEchoID4 = 0x4e46
	natEchoID6 = 0x4e47
)

// natHosts is what a run's traffic needs: the two end hosts and their
// links, where the captures are taken.
type natHosts struct {
	client, server *netnstest.NS
	c0, s0         netnstest.Link
}

// Both routers must produce the same packets at the server and at the
// client for SNAT to an address, masquerade and DNAT port forwards, over
// TCP, UDP and ICMP echo, IPv4 and IPv6.
func TestNATMatchesKernelNAT(t *testing.T) {
	requireXDP(t)
	requireNft(t)

	var kernel, nfgo []string
	kernelSkipped := false
	t.Run("kernel", func(t *testing.T) {
		defer func() { kernelSkipped = t.Skipped() }()
		h := newKernelNATTopo(t)
		kernel = natCaptureRun(t, h)
	})
	if kernelSkipped {
		t.Skip("skipping: the kernel's NAT could not be set up (see the kernel subtest)")
	}
	t.Run("nfgo", func(t *testing.T) {
		tp := newTopo(t)
		lan, wan := openXDP(t, tp, afxdp.ModeAuto)
		ct := conntrack.New(conntrack.Options{})
		t.Cleanup(ct.Close)
		rs := mustRuleset(t, "nat.nft", natCompareRuleset)
		r := startRouterWith(t, lan, wan, engine.Options{Conntrack: ct}, func(e *engine.Engine) {
			if err := e.SetRuleset(rs); err != nil {
				t.Fatal(err)
			}
		})
		netnstest.AddAddr(t, tp.c0, client2Pfx4)
		netnstest.AddAddr(t, tp.c0, client2Pfx6)
		nfgo = natCaptureRun(t, &natHosts{client: tp.client, server: tp.server, c0: tp.c0, s0: tp.s0})
		r.stop()
	})
	if t.Failed() || len(kernel) == 0 || len(nfgo) == 0 {
		t.Fatalf("a run failed or captured nothing (kernel %d, nfgo %d records)", len(kernel), len(nfgo))
	}
	onlyKernel, onlyNfgo := setDiff(kernel, nfgo), setDiff(nfgo, kernel)
	if len(onlyKernel)+len(onlyNfgo) > 0 {
		t.Logf("kernel:\n%s\nnfgo:\n%s", strings.Join(kernel, "\n"), strings.Join(nfgo, "\n"))
	}
	for _, s := range onlyKernel {
		t.Errorf("kernel only: %s", s)
	}
	for _, s := range onlyNfgo {
		t.Errorf("nfgo only:   %s", s)
	}
	if len(onlyKernel) == 0 && len(onlyNfgo) == 0 {
		t.Logf("%d distinct packet records, the same through both routers:\n%s", len(kernel), strings.Join(kernel, "\n"))
	}
}

// requireNft skips tb unless the nft tool is there, installing Debian's
// nftables package when it is missing and apt-get can get it.
func requireNft(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("nft"); err == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "apt-get", "install", "-y", "nftables").CombinedOutput()
	if _, lerr := exec.LookPath("nft"); lerr != nil {
		tb.Skipf("skipping: nft (Debian's nftables) is missing and could not be installed: %v\n%s", err, out)
	}
}

// newKernelNATTopo is newTopo with the router's kernel doing the work:
// the router's addresses on its own links, forwarding on, and the
// comparison ruleset loaded with nft.
func newKernelNATTopo(tb testing.TB) *natHosts {
	tb.Helper()
	client, router, server := netnstest.New(tb), netnstest.New(tb), netnstest.New(tb)
	one := netnstest.VethOptions{Queues: 1}
	c0, r0 := netnstest.Veth(tb, client, "c0", router, "r0", one)
	r1, s0 := netnstest.Veth(tb, router, "r1", server, "s0", one)
	netnstest.Sysctl(tb, router, "net.ipv4.ip_forward", "1")
	netnstest.Sysctl(tb, router, "net.ipv6.conf.all.forwarding", "1")
	// Complete checksums on every frame, as in newTopo, so that what the
	// captures see is what is on the wire in both runs.
	for _, l := range []netnstest.Link{c0, r0, r1, s0} {
		netnstest.DisableTxChecksum(tb, l)
	}
	for _, a := range []struct {
		l netnstest.Link
		p netip.Prefix
	}{
		{c0, clientPfx4}, {c0, clientPfx6}, {c0, client2Pfx4}, {c0, client2Pfx6}, {s0, serverPfx4}, {s0, serverPfx6},
		{r0, routerLAN4}, {r0, routerLAN6}, {r1, routerWAN4}, {r1, routerWAN6},
	} {
		netnstest.AddAddr(tb, a.l, a.p)
	}
	netnstest.AddRoute(tb, c0, defaultRoute4, routerLAN4.Addr())
	netnstest.AddRoute(tb, c0, defaultRoute6, routerLAN6.Addr())
	netnstest.AddRoute(tb, s0, defaultRoute4, routerWAN4.Addr())
	netnstest.AddRoute(tb, s0, defaultRoute6, routerWAN6.Addr())

	file := filepath.Join(tb.TempDir(), "nat.nft")
	if err := os.WriteFile(file, []byte(natCompareRuleset), 0o600); err != nil {
		tb.Fatal(err)
	}
	if out, err := router.Exec(30*time.Second, "nft", "-f", file); err != nil {
		tb.Skipf("skipping: the kernel refuses the NAT ruleset (nf_nat/nf_tables missing?): %v\n%s", err, out)
	}
	return &natHosts{client: client, server: server, c0: c0, s0: s0}
}

// natCaptureRun captures on the server's and the client's links while the
// scenarios run, and returns the distinct packet records, sorted.
func natCaptureRun(t *testing.T, h *natHosts) []string {
	t.Helper()
	// The hosts' TCP sends no tail loss probe: it retransmits a last
	// segment (a FIN) 2-10 ms after sending it when no ACK came, which a
	// router slowed down by the race detector and other test packages
	// sharing the two CPUs can cause; the host that has closed since then
	// answers the duplicate ACK with a RST. Timing, not translation, would
	// make the runs differ. Retransmissions then wait for the RTO (200 ms
	// or more).
	for _, ns := range []*netnstest.NS{h.client, h.server} {
		netnstest.Sysctl(t, ns, "net.ipv4.tcp_early_retrans", "0")
	}
	atServer := startCapture(t, h.s0, "server")
	atClient := startCapture(t, h.c0, "client")
	var ports struct{ v4, v6 natPorts }
	ports.v4 = natPorts{client: clientAddr4, client2: client2Pfx4.Addr(), server: serverAddr4, routerWAN: routerWAN4.Addr()}
	ports.v6 = natPorts{client: clientAddr6, client2: client2Pfx6.Addr(), server: serverAddr6, routerWAN: routerWAN6.Addr()}
	for _, p := range []natPorts{ports.v4, ports.v6} {
		fam := "4"
		id := uint16(natEchoID4)
		if p.client.Is6() {
			fam, id = "6", natEchoID6
		}
		t.Run("masquerade tcp"+fam, func(t *testing.T) {
			tcpExchange(t, h.client, netip.AddrPortFrom(p.client, 41001), h.server, netip.AddrPortFrom(p.server, 7301), netip.AddrPortFrom(p.server, 7301))
		})
		t.Run("masquerade udp"+fam, func(t *testing.T) {
			udpExchange(t, h.client, netip.AddrPortFrom(p.client, 41002), h.server, netip.AddrPortFrom(p.server, 7302), netip.AddrPortFrom(p.server, 7302))
		})
		t.Run("masquerade icmp echo"+fam, func(t *testing.T) {
			pingFrom(t, h.client, p.client, p.server, id, 3)
		})
		t.Run("icmp error about a masqueraded udp flow"+fam, func(t *testing.T) {
			udpRefused(t, h.client, netip.AddrPortFrom(p.client, 41006), netip.AddrPortFrom(p.server, 7306))
		})
		t.Run("snat to an address tcp"+fam, func(t *testing.T) {
			tcpExchange(t, h.client, netip.AddrPortFrom(p.client, 41003), h.server, netip.AddrPortFrom(p.server, 7303), netip.AddrPortFrom(p.server, 7303))
		})
		t.Run("snat to an address udp"+fam, func(t *testing.T) {
			udpExchange(t, h.client, netip.AddrPortFrom(p.client, 41004), h.server, netip.AddrPortFrom(p.server, 7304), netip.AddrPortFrom(p.server, 7304))
		})
		t.Run("dnat port forward tcp"+fam, func(t *testing.T) {
			tcpExchange(t, h.server, netip.AddrPortFrom(p.server, 42001), h.client, netip.AddrPortFrom(p.client, 80), netip.AddrPortFrom(p.routerWAN, 8080))
		})
		t.Run("masquerade port clash tcp"+fam, func(t *testing.T) {
			srv := netip.AddrPortFrom(p.server, natClashServerPort)
			l := listenTCP(t, h.server, srv)
			for _, c := range []netip.Addr{p.client, p.client2} {
				tcpExchangeOn(t, h.client, netip.AddrPortFrom(c, natClashPort), l, srv)
			}
		})
		t.Run("masquerade port clash udp"+fam, func(t *testing.T) {
			srv := netip.AddrPortFrom(p.server, natClashServerPort)
			echo := udpEchoServer(t, h.server, srv)
			for _, c := range []netip.Addr{p.client, p.client2} {
				udpExchangeOn(t, h.client, netip.AddrPortFrom(c, natClashPort), echo, srv)
			}
		})
		t.Run("dnat port forward udp"+fam, func(t *testing.T) {
			udpExchange(t, h.server, netip.AddrPortFrom(p.server, 42002), h.client, netip.AddrPortFrom(p.client, 5353), netip.AddrPortFrom(p.routerWAN, 8053))
		})
	}
	recs := append(atServer(), atClient()...)
	slices.Sort(recs)
	return slices.Compact(recs)
}

type natPorts struct{ client, client2, server, routerWAN netip.Addr }

// A second address of the client, a second host behind the router as far
// as NAT goes: its connections from the same port to the same server port
// clash with the first's after masquerade.
var (
	client2Pfx4 = netip.MustParsePrefix("198.18.0.3/24")
	client2Pfx6 = netip.MustParsePrefix("2001:db8::3/64")
)

// The ports of the clash scenario: both client addresses connect from
// natClashPort to the server's natClashServerPort.
const (
	natClashPort       = 41005
	natClashServerPort = 7305
)

// tcpExchange connects from local in fromNS to dialTo, which reaches a
// listener on listenAt in toNS; the client sends "ping" and closes its
// side, the server answers "pong" and closes. Every step has a deadline.
func tcpExchange(tb testing.TB, fromNS *netnstest.NS, local netip.AddrPort, toNS *netnstest.NS, listenAt, dialTo netip.AddrPort) {
	tb.Helper()
	tcpExchangeOn(tb, fromNS, local, listenTCP(tb, toNS, listenAt), dialTo)
}

// served is what pongOnce's connection sent and where from; from is nil
// and text the error when the accept failed.
type served struct {
	text string
	from net.Addr
}

// pongOnce accepts one connection on l, reads what it sends until it
// closes its side, answers "pong" and reports what it read.
func pongOnce(l net.Listener) <-chan served {
	got := make(chan served, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- served{text: err.Error()}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(c)
		c.Write([]byte("pong"))
		got <- served{text: string(b), from: c.RemoteAddr()}
	}()
	return got
}

// tcpExchangeOn is tcpExchange with a listener l already open, which
// accepts this one connection.
func tcpExchangeOn(tb testing.TB, fromNS *netnstest.NS, local netip.AddrPort, l net.Listener, dialTo netip.AddrPort) {
	tb.Helper()
	got := pongOnce(l)
	var c net.Conn
	err := fromNS.Do(func() (err error) {
		d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: net.TCPAddrFromAddrPort(local)}
		c, err = d.Dial("tcp", dialTo.String())
		return err
	})
	if err != nil {
		tb.Fatalf("tcp %v -> %v: %v", local, dialTo, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("ping"))
	c.(*net.TCPConn).CloseWrite()
	reply, _ := io.ReadAll(c)
	var msg string
	select {
	case r := <-got:
		msg = r.text
		if r.from != nil {
			msg = fmt.Sprintf("%s from %v", r.text, r.from)
		}
	case <-time.After(10 * time.Second):
		tb.Fatalf("tcp %v -> %v: the server never finished", local, dialTo)
	}
	if !strings.HasPrefix(msg, "ping from ") || string(reply) != "pong" {
		tb.Fatalf("tcp %v -> %v: the server got %q, the client %q", local, dialTo, msg, reply)
	}
	tb.Logf("tcp %v -> %v: the server got %s", local, dialTo, msg)
}

// udpExchange sends one datagram from local in fromNS to dialTo, which
// reaches an echo socket on listenAt in toNS, and waits for the echo,
// sending again at most twice.
func udpExchange(tb testing.TB, fromNS *netnstest.NS, local netip.AddrPort, toNS *netnstest.NS, listenAt, dialTo netip.AddrPort) {
	tb.Helper()
	udpExchangeOn(tb, fromNS, local, udpEchoServer(tb, toNS, listenAt), dialTo)
}

// udpEchoServer echoes datagrams to addr in ns back to their senders,
// until tb ends, and says who sent them on the channel it returns (when
// the channel has room).
func udpEchoServer(tb testing.TB, ns *netnstest.NS, addr netip.AddrPort) <-chan netip.AddrPort {
	tb.Helper()
	srv := listenUDP(tb, ns, addr)
	seen := make(chan netip.AddrPort, 16)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return // closed at cleanup
			}
			select {
			case seen <- from:
			default:
			}
			srv.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	return seen
}

// udpExchangeOn is udpExchange with the echo server running already.
func udpExchangeOn(tb testing.TB, fromNS *netnstest.NS, local netip.AddrPort, seen <-chan netip.AddrPort, dialTo netip.AddrPort) {
	tb.Helper()
	var c *net.UDPConn
	err := fromNS.Do(func() (err error) {
		c, err = net.DialUDP("udp", net.UDPAddrFromAddrPort(local), net.UDPAddrFromAddrPort(dialTo))
		return err
	})
	if err != nil {
		tb.Fatalf("udp %v -> %v: %v", local, dialTo, err)
	}
	defer c.Close()
	msg := []byte("nfgo nat compare " + local.String())
	buf := make([]byte, 2048)
	for try := 0; try < 3; try++ {
		if _, err := c.Write(msg); err != nil {
			tb.Fatalf("udp %v -> %v: %v", local, dialTo, err)
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if err != nil || string(buf[:n]) != string(msg) {
			tb.Fatalf("udp %v -> %v: echo %q, %v", local, dialTo, buf[:n], err)
		}
		select {
		case from := <-seen:
			tb.Logf("udp %v -> %v: the server saw %v", local, dialTo, from)
		default:
		}
		return
	}
	tb.Fatalf("udp %v -> %v: no echo", local, dialTo)
}

// udpRefused sends a datagram from local in ns to dst, where nothing
// listens, and fails tb unless the port unreachable error that comes back
// through the router reaches the socket (as ECONNREFUSED). A datagram
// not answered within a second is sent again, at most twice.
func udpRefused(tb testing.TB, ns *netnstest.NS, local, dst netip.AddrPort) {
	tb.Helper()
	var c *net.UDPConn
	err := ns.Do(func() (err error) {
		c, err = net.DialUDP("udp", net.UDPAddrFromAddrPort(local), net.UDPAddrFromAddrPort(dst))
		return err
	})
	if err != nil {
		tb.Fatalf("udp %v -> %v: %v", local, dst, err)
	}
	defer c.Close()
	buf := make([]byte, 2048)
	for try := 0; try < 3; try++ {
		if _, err := c.Write([]byte("nobody listens")); err != nil && !errors.Is(err, unix.ECONNREFUSED) {
			tb.Fatalf("udp %v -> %v: %v", local, dst, err)
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		_, err := c.Read(buf)
		if errors.Is(err, unix.ECONNREFUSED) {
			return
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			tb.Fatalf("udp %v -> %v: read: %v, want connection refused", local, dst, err)
		}
	}
	tb.Fatalf("udp %v -> %v: no port unreachable came back", local, dst)
}
