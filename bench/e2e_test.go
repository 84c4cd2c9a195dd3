package bench

import (
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nfgo/nfgo/internal/netnstest"
	"github.com/nfgo/nfgo/io/afxdp"
)

// tcpSize is the size of the IPv4 TCP transfer of each end-to-end run:
// 100 MB, or NFGO_E2E_TCP_MB megabytes. The IPv6 one is a fifth of it.
func tcpSize(tb testing.TB) int64 {
	if s := os.Getenv("NFGO_E2E_TCP_MB"); s != "" {
		mb, err := strconv.Atoi(s)
		if err != nil || mb <= 0 {
			tb.Fatalf("NFGO_E2E_TCP_MB=%q: want a positive number", s)
		}
		return int64(mb) << 20
	}
	return 100 << 20
}

// The datagram sizes of the UDP tests: small, full-sized for an MTU of
// 1500 (1472 + 28), and two that the client's kernel fragments.
var udpSizes = map[bool][]int{
	false: {8, 100, 1000, 1472, 3000, 9000},
	true:  {8, 100, 1000, 1452, 3000, 9000},
}

// routerScenario is what every end-to-end run checks through the router,
// whatever its ports: pings both ways and to the router, UDP and TCP over
// IPv4 and IPv6.
func routerScenario(t *testing.T, client, server *netnstest.NS) {
	t.Run("ping", func(t *testing.T) {
		for _, c := range []struct {
			from *netnstest.NS
			to   netip.Addr
		}{
			{client, serverAddr4}, {server, clientAddr4},
			{client, routerLAN4.Addr()}, {server, routerWAN4.Addr()},
			{client, routerWAN4.Addr()}, // the router's far address, delivered locally
			{client, serverAddr6}, {server, clientAddr6},
			{client, routerLAN6.Addr()}, {server, routerWAN6.Addr()},
		} {
			ping(t, c.from, c.to, 3)
		}
	})
	t.Run("udp4", func(t *testing.T) {
		udpEcho(t, client, server, netip.AddrPortFrom(serverAddr4, 7001), udpSizes[false], 200)
	})
	t.Run("udp6", func(t *testing.T) {
		udpEcho(t, client, server, netip.AddrPortFrom(serverAddr6, 7001), udpSizes[true], 200)
	})
	t.Run("tcp4", func(t *testing.T) {
		tcpTransfer(t, client, server, netip.AddrPortFrom(serverAddr4, 7002), tcpSize(t), 60*time.Second)
	})
	t.Run("tcp6", func(t *testing.T) {
		tcpTransfer(t, client, server, netip.AddrPortFrom(serverAddr6, 7002), tcpSize(t)/5, 60*time.Second)
	})
}

// A client and a server talk through nfgo running on AF_XDP ports on
// both of the router's veth ends, with XDP attached natively and
// generically.
func TestRouterOverAFXDP(t *testing.T) {
	requireXDP(t)
	for _, mode := range []afxdp.AttachMode{afxdp.ModeNative, afxdp.ModeGeneric} {
		t.Run(mode.String(), func(t *testing.T) {
			tp := newTopo(t)
			lan, wan := openXDP(t, tp, mode)
			r := startRouter(t, lan, wan)
			t.Logf("ports %s %s, %s %s", lan.Name(), lan.Mode(), wan.Name(), wan.Mode())
			routerScenario(t, tp.client, tp.server)
			if got := netnstest.ReadSysctl(t, tp.router, "net.ipv4.ip_forward"); got != "0" {
				t.Errorf("the router's kernel forwards (ip_forward=%s)", got)
			}
			if s := r.e.Stats(); s.Forwarded == 0 {
				t.Errorf("the engine forwarded nothing: %+v", s)
			}
		})
	}
}
