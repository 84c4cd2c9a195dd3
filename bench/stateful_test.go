package bench

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/engine"
	"github.com/nfgo/nfgo/io/afxdp"
	"github.com/nfgo/nfgo/ruleset"
)

// The router's ruleset: a stateful firewall that lets the client side
// out and nothing new in, masquerade towards the server side, and a port
// forward from the router's outside address, port 8080, to the client's
// port 80.
const routerRuleset = `
table inet filter {
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		ct state invalid drop
		iifname "r0" accept
		ct status dnat accept
	}
}
table ip nat {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		iifname "r1" tcp dport 8080 dnat to 198.18.0.2:80
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "r1" masquerade
	}
}
`

// Real TCP connections through nfgo as a stateful, masquerading router
// on AF_XDP: outbound connections work and leave from the router's
// address, new inbound ones are blocked, and the port forward reaches the
// client.
func TestFirewallAndNATOverAFXDP(t *testing.T) {
	requireXDP(t)
	tp := newTopo(t)
	lan, wan := openXDP(t, tp, afxdp.ModeAuto)
	ct := conntrack.New(conntrack.Options{})
	t.Cleanup(ct.Close)
	rs := mustRuleset(t, "router.nft", routerRuleset)
	startRouterWith(t, lan, wan, engine.Options{Conntrack: ct}, func(e *engine.Engine) {
		if err := e.SetRuleset(rs); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("outbound connections are masqueraded", func(t *testing.T) {
		l := listenTCP(t, tp.server, netip.AddrPortFrom(serverAddr4, 7100))
		from := make(chan net.Addr, 1)
		go func() {
			c, err := l.Accept()
			if err != nil {
				from <- nil
				return
			}
			from <- c.RemoteAddr()
			io.Copy(io.Discard, c)
			c.Close()
		}()
		c := dial(t, tp.client, "tcp", netip.AddrPortFrom(serverAddr4, 7100))
		c.Write([]byte("hello"))
		select {
		case a := <-from:
			if a == nil || a.(*net.TCPAddr).AddrPort().Addr() != routerWAN4.Addr() {
				t.Fatalf("the server saw the connection from %v, want the router's %v", a, routerWAN4.Addr())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no connection reached the server")
		}
		tcpTransfer(t, tp.client, tp.server, netip.AddrPortFrom(serverAddr4, 7101), 10<<20, 30*time.Second)
	})

	t.Run("new inbound connections are blocked", func(t *testing.T) {
		listenTCP(t, tp.client, netip.AddrPortFrom(clientAddr4, 7200))
		var err error
		tp.server.Do(func() error {
			var c net.Conn
			c, err = net.DialTimeout("tcp", netip.AddrPortFrom(clientAddr4, 7200).String(), time.Second)
			if err == nil {
				c.Close()
			}
			return nil
		})
		if err == nil {
			t.Fatal("a new connection from outside reached the client")
		}
	})

	t.Run("the port forward reaches the client", func(t *testing.T) {
		l := listenTCP(t, tp.client, netip.AddrPortFrom(clientAddr4, 80))
		got := pongOnce(l)
		c := dial(t, tp.server, "tcp", netip.AddrPortFrom(routerWAN4.Addr(), 8080))
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("ping through the port forward"))
		c.(*net.TCPConn).CloseWrite()
		reply, _ := io.ReadAll(c)
		if msg := (<-got).text; msg != "ping through the port forward" || string(reply) != "pong" {
			t.Fatalf("the client got %q and answered %q", msg, reply)
		}
	})
}

// mustRuleset parses and applies nft text, failing tb on an error.
func mustRuleset(tb testing.TB, name, text string) *ruleset.Ruleset {
	tb.Helper()
	cmds, err := ruleset.Parse(name, []byte(text), ruleset.ParseOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	rs, err := ruleset.New(ruleset.Options{}).Apply(cmds)
	if err != nil {
		tb.Fatal(err)
	}
	return rs
}
