package bench

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/engine"
	"github.com/nfgo/nfgo/internal/netnstest"
	"github.com/nfgo/nfgo/io/afxdp"
	"github.com/nfgo/nfgo/io/tun"
)

// The router's own services sit behind nfgo's INPUT chain: packets for the
// router's addresses that INPUT accepts reach the router namespace's
// kernel through a TUN host port that carries those addresses, and what
// that kernel answers comes back through the host port into OUTPUT.
const hostRuleset = `
table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		tcp dport 2222 accept
		icmp type echo-request accept
	}
}
`

func TestRouterServicesBehindInputThroughHostPort(t *testing.T) {
	requireXDP(t)
	tp := newTopo(t)
	lan, wan := openXDP(t, tp, afxdp.ModeAuto)
	host := openTUN(t, tp.router, "nfgo0", tun.OffloadsAuto)
	// The router's kernel holds the engine's addresses on the host port,
	// so it accepts what the engine delivers and routes its answers back
	// into the host port.
	hl := netnstest.LinkByName(t, tp.router, host.Name())
	netnstest.AddAddr(t, hl, routerLAN4)
	netnstest.AddAddr(t, hl, routerWAN4)

	rs := mustRuleset(t, "host.nft", hostRuleset)
	ct := conntrack.New(conntrack.Options{})
	t.Cleanup(ct.Close)
	r := startRouterWith(t, lan, wan, engine.Options{Conntrack: ct}, func(e *engine.Engine) {
		if _, err := e.AddPort(host, engine.PortConfig{Host: true}); err != nil {
			t.Fatal(err)
		}
		if err := e.SetRuleset(rs); err != nil {
			t.Fatal(err)
		}
	})

	open := listenTCP(t, tp.router, netip.AddrPortFrom(routerLAN4.Addr(), 2222))
	listenTCP(t, tp.router, netip.AddrPortFrom(routerLAN4.Addr(), 2223))
	go func() {
		for {
			c, err := open.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.Copy(c, c)
			}()
		}
	}()

	t.Run("an allowed service answers", func(t *testing.T) {
		for _, from := range []*netnstest.NS{tp.client, tp.server} {
			c := dial(t, from, "tcp", netip.AddrPortFrom(routerLAN4.Addr(), 2222))
			c.SetDeadline(time.Now().Add(10 * time.Second))
			msg := []byte("hello, router")
			c.Write(msg)
			c.(*net.TCPConn).CloseWrite()
			got, _ := io.ReadAll(c)
			if string(got) != string(msg) {
				t.Fatalf("echo service answered %q", got)
			}
		}
	})
	t.Run("a service INPUT does not allow is unreachable", func(t *testing.T) {
		var err error
		tp.client.Do(func() error {
			var c net.Conn
			c, err = net.DialTimeout("tcp", netip.AddrPortFrom(routerLAN4.Addr(), 2223).String(), time.Second)
			if err == nil {
				c.Close()
			}
			return nil
		})
		if err == nil {
			t.Fatal("INPUT's policy drop did not stop a connection to port 2223")
		}
	})
	t.Run("the engine still answers ping itself", func(t *testing.T) {
		ping(t, tp.client, routerLAN4.Addr(), 2)
	})
	if s := r.e.Stats(); s.Delivered == 0 || s.Generated == 0 {
		t.Fatalf("nothing went through the host port: delivered %d, generated %d", s.Delivered, s.Generated)
	}
}
