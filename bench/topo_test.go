package bench

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/nfgo/nfgo/engine"
	"github.com/nfgo/nfgo/internal/netnstest"
	"github.com/nfgo/nfgo/io/afxdp"
)

// The test network: a client and a server on two subnets, and the router
// between them, whose addresses are the engine's.
//
//	client ns              router ns (nfgo)               server ns
//	c0 198.18.0.2/24 ── r0 198.18.0.1/24   r1 198.18.1.1/24 ── s0 198.18.1.2/24
//	   2001:db8::2/64      2001:db8::1/64     2001:db8:1::1/64    2001:db8:1::2/64
var (
	clientPfx4  = netip.MustParsePrefix("198.18.0.2/24")
	routerLAN4  = netip.MustParsePrefix("198.18.0.1/24")
	routerWAN4  = netip.MustParsePrefix("198.18.1.1/24")
	serverPfx4  = netip.MustParsePrefix("198.18.1.2/24")
	clientPfx6  = netip.MustParsePrefix("2001:db8::2/64")
	routerLAN6  = netip.MustParsePrefix("2001:db8::1/64")
	routerWAN6  = netip.MustParsePrefix("2001:db8:1::1/64")
	serverPfx6  = netip.MustParsePrefix("2001:db8:1::2/64")
	clientAddr4 = clientPfx4.Addr()
	serverAddr4 = serverPfx4.Addr()
	clientAddr6 = clientPfx6.Addr()
	serverAddr6 = serverPfx6.Addr()

	defaultRoute4 = netip.MustParsePrefix("0.0.0.0/0")
	defaultRoute6 = netip.MustParsePrefix("::/0")
)

// topo is the three namespaces and the two veth pairs between them. The
// router's ends carry no addresses in the router's kernel, and the
// kernel there does not forward: the engine owns r0 and r1.
type topo struct {
	client, router, server *netnstest.NS
	c0, r0                 netnstest.Link // client <-> router
	r1, s0                 netnstest.Link // router <-> server
}

// requireXDP skips tb unless it runs as root on a kernel with AF_XDP.
func requireXDP(tb testing.TB) {
	tb.Helper()
	netnstest.RequireRoot(tb)
	if !netnstest.HasAFXDP() {
		tb.Skip("skipping: the kernel has no AF_XDP sockets (CONFIG_XDP_SOCKETS)")
	}
}

// newTopo builds the namespaces, the veth pairs (one queue each, so that
// one AF_XDP socket sees every frame), the hosts' addresses and default
// routes through the router. The namespaces go when tb ends, pass or fail.
func newTopo(tb testing.TB) *topo {
	tb.Helper()
	tp := &topo{client: netnstest.New(tb), router: netnstest.New(tb), server: netnstest.New(tb)}
	one := netnstest.VethOptions{Queues: 1}
	tp.c0, tp.r0 = netnstest.Veth(tb, tp.client, "c0", tp.router, "r0", one)
	tp.r1, tp.s0 = netnstest.Veth(tb, tp.router, "r1", tp.server, "s0", one)

	// The router's kernel keeps out of the way: no forwarding, and no
	// IPv6 of its own on the engine's links (no link-local addresses,
	// router solicitations or MLD reports from it).
	netnstest.Sysctl(tb, tp.router, "net.ipv4.ip_forward", "0")
	netnstest.Sysctl(tb, tp.router, "net.ipv6.conf.all.forwarding", "0")
	for _, l := range []netnstest.Link{tp.r0, tp.r1} {
		netnstest.Sysctl(tb, tp.router, "net.ipv6.conf."+l.Name+".disable_ipv6", "1")
	}

	// Frames the hosts' kernels send reach XDP with complete checksums
	// (see netnstest.DisableTxChecksum); this also turns TSO off, so TCP
	// leaves in MTU-sized segments.
	netnstest.DisableTxChecksum(tb, tp.c0)
	netnstest.DisableTxChecksum(tb, tp.s0)

	netnstest.AddAddr(tb, tp.c0, clientPfx4)
	netnstest.AddAddr(tb, tp.c0, clientPfx6)
	netnstest.AddAddr(tb, tp.s0, serverPfx4)
	netnstest.AddAddr(tb, tp.s0, serverPfx6)
	netnstest.AddRoute(tb, tp.c0, defaultRoute4, routerLAN4.Addr())
	netnstest.AddRoute(tb, tp.c0, defaultRoute6, routerLAN6.Addr())
	netnstest.AddRoute(tb, tp.s0, defaultRoute4, routerWAN4.Addr())
	netnstest.AddRoute(tb, tp.s0, defaultRoute6, routerWAN6.Addr())
	return tp
}

// router is an engine running on two ports of the router namespace.
type router struct {
	e     *engine.Engine
	ports []engine.Port
	lan   uint32 // interface index of the client side
	wan   uint32 // and of the server side
	stop  func() // stops the engine and waits for it; once
}

// openXDP opens AF_XDP ports on the router's veth ends in mode, from a
// thread inside the router's namespace. They close when tb ends.
func openXDP(tb testing.TB, tp *topo, mode afxdp.AttachMode) (lan, wan *afxdp.Port) {
	tb.Helper()
	ports := make([]*afxdp.Port, 2)
	for i, l := range []netnstest.Link{tp.r0, tp.r1} {
		opts := afxdp.Options{Interface: l.Name, Queues: 1, Mode: mode, Logger: testLogger(tb)}
		if err := tp.router.Do(func() (err error) { ports[i], err = afxdp.New(opts); return err }); err != nil {
			tb.Fatalf("AF_XDP port on %s (%s): %v", l.Name, mode, err)
		}
		p := ports[i]
		tb.Cleanup(func() {
			if err := p.Close(); err != nil {
				tb.Errorf("close %s: %v", p.Name(), err)
			}
		})
		if got := p.AttachMode(); got != mode && mode != afxdp.ModeAuto {
			tb.Fatalf("%s attached in %s mode, want %s", l.Name, got, mode)
		}
	}
	return ports[0], ports[1]
}

// startRouter runs an engine over lan and wan, with the router's
// addresses on them, until tb ends or r.stop is called. The ports stay
// open.
func startRouter(tb testing.TB, lan, wan engine.Port) *router {
	tb.Helper()
	return startRouterWith(tb, lan, wan, engine.Options{})
}

// startRouterWith is startRouter with engine options (connection
// tracking, for one); configure is called before the engine runs.
func startRouterWith(tb testing.TB, lan, wan engine.Port, opts engine.Options, configure ...func(*engine.Engine)) *router {
	tb.Helper()
	opts.Logger = testLogger(tb)
	e := engine.New(opts)
	r := &router{e: e, ports: []engine.Port{lan, wan}}
	var err error
	if r.lan, err = e.AddPort(lan, engine.PortConfig{Addrs: []netip.Prefix{routerLAN4, routerLAN6}}); err != nil {
		tb.Fatal(err)
	}
	if r.wan, err = e.AddPort(wan, engine.PortConfig{Addrs: []netip.Prefix{routerWAN4, routerWAN6}}); err != nil {
		tb.Fatal(err)
	}
	for _, f := range configure {
		f(e)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	r.stop = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("engine: %v", err)
			}
		case <-time.After(10 * time.Second):
			tb.Errorf("engine still running 10s after it was stopped")
		}
		r.logStats(tb)
	})
	tb.Cleanup(r.stop)
	return r
}

// logStats logs the engine's counters that are not zero.
func (r *router) logStats(tb testing.TB) {
	tb.Helper()
	s := r.e.Stats()
	tb.Logf("engine: rx %d tx %d forwarded %d delivered %d generated %d icmp-errors %d neigh-solicits %d frags-out %d",
		s.RxPackets, s.TxPackets, s.Forwarded, s.Delivered, s.Generated, s.ICMPErrors, s.NeighSolicits, s.FragmentsOut)
	for i, n := range s.Drops {
		if n > 0 {
			tb.Logf("engine: drop %s: %d", engine.DropReason(i), n)
		}
	}
	for _, p := range r.ports {
		if sp, ok := p.(interface{ Stats() afxdp.Stats }); ok {
			st := sp.Stats()
			tb.Logf("port %s (%s): %+v kernel %+v", p.Name(), st.Mode, st.Port, st.Kernel)
		}
	}
}

// testLogger logs through tb at info level, or nowhere unless -v.
func testLogger(tb testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tbWriter{tb}, nil))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(b []byte) (int, error) {
	w.tb.Log(string(bytes.TrimRight(b, "\n")))
	return len(b), nil
}
