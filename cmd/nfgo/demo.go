package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nfgo/nfgo/cmd/nfgo/internal/config"
	"github.com/nfgo/nfgo/cmd/nfgo/internal/ctcmd"
	"github.com/nfgo/nfgo/cmd/nfgo/internal/exitcode"
)

// demoRuleset is the router's ruleset: a stateful firewall (the LAN may
// go out; only answers and forwarded ports come in), masquerade out of
// the WAN port, and a port forward from the router's WAN address to a
// server on the LAN.
const demoRuleset = `table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		icmp type echo-request accept
		icmpv6 type { echo-request, nd-neighbor-solicit, nd-neighbor-advert } accept
	}

	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		ct state invalid drop
		iifname "r0" oifname "r1" accept
		ct status dnat accept
	}
}

table ip nat {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		iifname "r1" tcp dport 8080 dnat to 198.18.0.2:8000
	}

	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "r1" masquerade
	}
}
`

func cmdDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr)
	verbose := fs.Bool("v", false, "the router's logs on standard error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return &exitcode.Error{Code: 1, Err: errors.New("needs root: it builds network namespaces and attaches XDP (run it with sudo)")}
	}
	if !hasAFXDP() {
		return &exitcode.Error{Code: 1, Err: errors.New("this kernel has no AF_XDP sockets (CONFIG_XDP_SOCKETS)")}
	}
	start := time.Now()
	say := func(format string, a ...any) { fmt.Fprintf(stdout, format+"\n", a...) }
	say("== building client, router and server namespaces")
	n, err := newDemoNet()
	if err != nil {
		return err
	}
	defer func() {
		n.teardown()
		say("== cleaned up: namespaces and veths deleted (%.1fs in all)", time.Since(start).Seconds())
	}()
	// An interrupt still cleans up.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		if _, ok := <-sigs; ok {
			n.teardown()
			os.Exit(130)
		}
	}()
	say("   client %s: c0 198.18.0.2/24 2001:db8::2/64", n.client)
	say("   router %s: r0 198.18.0.1/24 2001:db8::1/64, r1 198.18.1.1/24 2001:db8:1::1/64 (nfgo on AF_XDP)", n.router)
	say("   server %s: s0 198.18.1.2/24 2001:db8:1::2/64", n.server)

	dir, err := os.MkdirTemp("", "nfgo-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	rules := filepath.Join(dir, "demo.nft")
	if err := os.WriteFile(rules, []byte(demoRuleset), 0o600); err != nil {
		return err
	}
	cfg := &config.Config{File: "(demo)", Ruleset: rules, Socket: filepath.Join(dir, "nfgo.sock"), LogLevel: "info", LogFormat: "text",
		Interfaces: []config.Interface{
			{Name: "r0", Backend: "afxdp", Queues: 1, Addrs: mustPrefixes("198.18.0.1/24", "2001:db8::1/64")},
			{Name: "r1", Backend: "afxdp", Queues: 1, Addrs: mustPrefixes("198.18.1.1/24", "2001:db8:1::1/64")},
		},
		Conntrack: config.Conntrack{Events: 1024},
	}
	logw := io.Discard
	if *verbose {
		logw = stderr
	}
	log := newLogger(logw, "info", "text")
	var d *daemon
	if err := inNS(n.router, func() (err error) { d, err = newDaemon(cfg, log); return err }); err != nil {
		return fmt.Errorf("starting nfgo in the router namespace: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.run(ctx, nil) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			fmt.Fprintf(stderr, "nfgo: %v\n", err)
		}
	}()
	say("== nfgo is routing (control socket %s) with a stateful firewall, masquerade and a port forward:", cfg.Socket)
	for _, l := range strings.Split(strings.TrimSpace(demoRuleset), "\n") {
		say("   %s", l)
	}

	// One connection's way, traced as nft monitor trace would show it:
	// the client's first packets to the server and the server's answers.
	lines := make(chan string, 256)
	for _, expr := range []string{"ip saddr 198.18.0.2 tcp dport 8000", "ip daddr 198.18.1.1 tcp sport 8000"} {
		sel, err := compileSelector(expr)
		if err != nil {
			return err
		}
		sub := &traceSub{sel: sel, lines: lines, max: 3}
		d.trace.add(sub)
		defer d.trace.remove(sub)
	}

	say("== traffic")
	var failed []string
	check := func(what string, err error) {
		if err != nil {
			failed = append(failed, what)
			say("   FAIL %s: %v", what, err)
			return
		}
		say("   ok   %s", what)
	}
	peers := &peerLog{}
	srvClose, err := echoServers(n.server, []string{"198.18.1.2:8000", "[2001:db8:1::2]:8000"}, "198.18.1.2:5300", peers)
	if err != nil {
		return err
	}
	defer srvClose()
	lanClose, err := echoServers(n.client, []string{"198.18.0.2:8000"}, "", peers)
	if err != nil {
		return err
	}
	defer lanClose()
	check("client -> server, TCP over IPv4, 256 KiB echoed (masqueraded)", tcpEcho(n.client, "198.18.1.2:8000", 256<<10))
	if p := peers.get("198.18.1.2:8000"); p != "" {
		say("        the server saw the connection come from %s: the router's WAN address", p)
	}
	check("client -> server, TCP over IPv6, 64 KiB echoed", tcpEcho(n.client, "[2001:db8:1::2]:8000", 64<<10))
	check("client -> server, 20 UDP datagrams echoed", udpEcho(n.client, "198.18.1.2:5300", 20))
	check("server -> router:8080, port-forwarded to the client's :8000, 16 KiB echoed", tcpEcho(n.server, "198.18.1.1:8080", 16<<10))
	if p := peers.get("198.18.0.2:8000"); p != "" {
		say("        the LAN server saw the connection come from %s", p)
	}
	err = tcpEchoTimeout(n.server, "198.18.0.2:8000", 64, 700*time.Millisecond)
	if err == nil {
		check("server -> client directly is dropped by the firewall", errors.New("it got through"))
	} else {
		check("server -> client directly is dropped by the firewall (no answer in 0.7s)", nil)
	}

	say("== nfgo stats")
	var sb strings.Builder
	d.writeStats(&sb)
	indent(stdout, sb.String())
	say("== nfgo conntrack -L")
	sb.Reset()
	ctcmd.Run(context.Background(), d.ct, nil, false, []string{"-L"}, &sb, io.Discard)
	indent(stdout, sb.String())
	say("== nfgo trace (one connection: the client's first packets and the server's answers)")
	timeout := time.After(500 * time.Millisecond)
	for got := 0; got < 64; got++ {
		select {
		case l := <-lines:
			fmt.Fprint(stdout, "   "+l)
			continue
		case <-timeout:
		}
		break
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d check(s) failed: %s", len(failed), strings.Join(failed, "; "))
	}
	return nil
}

func indent(w io.Writer, s string) {
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		fmt.Fprintln(w, "   "+l)
	}
}

// peerLog remembers who connected to each echo server last.
type peerLog struct {
	mu sync.Mutex
	m  map[string]string
}

func (p *peerLog) set(local, remote string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]string{}
	}
	p.m[local] = remote
}

func (p *peerLog) get(local string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[local]
}

// echoServers listens in namespace ns on TCP addresses and one UDP
// address, echoing what comes in. The returned func stops them.
func echoServers(ns string, tcp []string, udp string, peers *peerLog) (func(), error) {
	var closers []io.Closer
	closeAll := func() {
		for _, c := range closers {
			c.Close()
		}
	}
	err := inNS(ns, func() error {
		for _, a := range tcp {
			ln, err := net.Listen("tcp", a)
			if err != nil {
				return err
			}
			closers = append(closers, ln)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					peers.set(a, c.RemoteAddr().String())
					go func() {
						defer c.Close()
						io.Copy(c, c)
					}()
				}
			}()
		}
		if udp != "" {
			pc, err := net.ListenPacket("udp", udp)
			if err != nil {
				return err
			}
			closers = append(closers, pc)
			go func() {
				buf := make([]byte, 2048)
				for {
					n, from, err := pc.ReadFrom(buf)
					if err != nil {
						return
					}
					pc.WriteTo(buf[:n], from)
				}
			}()
		}
		return nil
	})
	if err != nil {
		closeAll()
		return nil, err
	}
	return closeAll, nil
}

func tcpEcho(ns, addr string, size int) error {
	return tcpEchoTimeout(ns, addr, size, 5*time.Second)
}

// tcpEchoTimeout connects from namespace ns to addr, sends size random
// bytes and checks that they come back, within timeout.
func tcpEchoTimeout(ns, addr string, size int, timeout time.Duration) error {
	var c net.Conn
	err := inNS(ns, func() (err error) {
		c, err = net.DialTimeout("tcp", addr, timeout)
		return err
	})
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	data := make([]byte, size)
	rand.Read(data)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		errc <- err
	}()
	got := make([]byte, size)
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if err := <-errc; err != nil {
		return err
	}
	if !bytes.Equal(got, data) {
		return errors.New("the echo differs")
	}
	return nil
}

// udpEcho sends count datagrams from namespace ns to addr and counts the
// answers.
func udpEcho(ns, addr string, count int) error {
	var c net.Conn
	if err := inNS(ns, func() (err error) { c, err = net.Dial("udp", addr); return err }); err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 64)
	for i := 0; i < count; i++ {
		msg := fmt.Sprintf("datagram %d", i)
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte(msg)); err != nil {
			return err
		}
		n, err := c.Read(buf)
		if err != nil {
			return fmt.Errorf("datagram %d: %w", i, err)
		}
		if string(buf[:n]) != msg {
			return fmt.Errorf("datagram %d: echo %q", i, buf[:n])
		}
	}
	return nil
}

func mustPrefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}
