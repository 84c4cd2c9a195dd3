package bench

import (
	"os"
	"testing"

	"github.com/nfgo/nfgo/internal/netnstest"
	"github.com/nfgo/nfgo/io/tun"
)

// Over TUN, the router is the process itself. A TUN device is a
// point-to-point link between the kernel of the namespace it lives in and
// the process that holds its file descriptor, so nfgo's two TUN ports are
// created one in the client's namespace and one in the server's: each
// host's kernel sends into its TUN device as into a link towards the
// router, and nfgo reads the packets there, routes them, and writes them
// into the other host's device, whose kernel receives them as from its
// router.
//
//	client ns                                            server ns
//	tc 198.18.0.2/24 ═══ nfgo (in this process) ═══ ts 198.18.1.2/24
//	   2001:db8::2/64      engine: 198.18.0.1/24 on tc,     2001:db8:1::2/64
//	                               198.18.1.1/24 on ts
//
// No kernel forwards anything: there is no router namespace, and the
// hosts' kernels only send and receive. (Steering veth traffic into TUN
// devices in a router namespace with policy routing would work too, but
// then that namespace's kernel forwards every packet twice, once into a
// TUN device and once out of the other, and it is the kernel, not nfgo,
// that decrements the TTL on the way to the hosts.)
func TestRouterOverTUN(t *testing.T) {
	netnstest.RequireRoot(t)
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("skipping: no TUN support: %v", err)
	}
	for _, mode := range []tun.OffloadMode{tun.OffloadsAuto, tun.OffloadsOff} {
		t.Run("offloads-"+mode.String(), func(t *testing.T) {
			client, server := netnstest.New(t), netnstest.New(t)
			lan := openTUN(t, client, "tc", mode)
			wan := openTUN(t, server, "ts", mode)
			t.Logf("ports %s %s, %s %s", lan.Name(), lan.Mode(), wan.Name(), wan.Mode())
			tc, ts := netnstest.LinkByName(t, client, lan.Name()), netnstest.LinkByName(t, server, wan.Name())
			netnstest.AddAddr(t, tc, clientPfx4)
			netnstest.AddAddr(t, tc, clientPfx6)
			netnstest.AddAddr(t, ts, serverPfx4)
			netnstest.AddAddr(t, ts, serverPfx6)
			netnstest.AddRoute(t, tc, defaultRoute4, routerLAN4.Addr())
			netnstest.AddRoute(t, tc, defaultRoute6, routerLAN6.Addr())
			netnstest.AddRoute(t, ts, defaultRoute4, routerWAN4.Addr())
			netnstest.AddRoute(t, ts, defaultRoute6, routerWAN6.Addr())
			r := startRouter(t, lan, wan)
			routerScenario(t, client, server)
			if s := r.e.Stats(); s.Forwarded == 0 {
				t.Errorf("the engine forwarded nothing: %+v", s)
			}
		})
	}
}

// openTUN creates a TUN port named name in ns, closed when tb ends.
func openTUN(tb testing.TB, ns *netnstest.NS, name string, mode tun.OffloadMode) *tun.Port {
	tb.Helper()
	var p *tun.Port
	err := ns.Do(func() (err error) {
		p, err = tun.New(tun.Options{Name: name, Offloads: mode, Logger: testLogger(tb)})
		return err
	})
	if err != nil {
		tb.Fatalf("TUN port %s in %s: %v", name, ns.Name, err)
	}
	tb.Cleanup(func() {
		if err := p.Close(); err != nil {
			tb.Errorf("close %s: %v", name, err)
		}
	})
	return p
}
