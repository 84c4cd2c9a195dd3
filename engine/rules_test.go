package engine

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/hooks"
	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/io/memio"
	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/ruleset"
)

const statefulFirewall = `
table inet filter {
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		ct state invalid drop
		iifname "lan0" accept
		tcp dport { 22, 80 } ct state new accept
		icmp type echo-request accept
	}
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		tcp dport 23 reject with tcp reset
		udp dport 69 reject
	}
}
`

func mustRuleset(t testing.TB, src string) *ruleset.Ruleset {
	t.Helper()
	cmds, err := ruleset.Parse("test.nft", []byte(src), ruleset.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ruleset.New(ruleset.Options{}).Apply(cmds)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// firewallRig is newRig with connection tracking and the stateful firewall:
// lan0 is inside, wan0 outside; the server is outside.
func firewallRig(t *testing.T) *rig {
	ct := conntrack.New(conntrack.Options{SweepInterval: -1})
	t.Cleanup(ct.Close)
	r := newRig(t, Options{Conntrack: ct})
	if err := r.e.SetRuleset(mustRuleset(t, statefulFirewall)); err != nil {
		t.Fatal(err)
	}
	return r
}

var (
	outsider = netip.AddrPortFrom(server, 40000)
	insider  = netip.AddrPortFrom(client, 50000)
)

func TestStatefulFirewallLetsRepliesInAndBlocksNewInbound(t *testing.T) {
	r := firewallRig(t)
	web := netip.AddrPortFrom(server, 443)

	// Outbound: the handshake from inside goes out, the reply comes back.
	r.lan.Send(0, pktbuild.TCP4(insider, web, packet.TCPFlagSYN, 100, 0, nil))
	r.step()
	if n := len(r.recv(r.wan)); n != 1 {
		t.Fatalf("outbound SYN: %d packets out, want 1", n)
	}
	r.wan.Send(0, pktbuild.TCP4(web, insider, packet.TCPFlagSYN|packet.TCPFlagACK, 900, 101, nil))
	r.step()
	if n := len(r.recv(r.lan)); n != 1 {
		t.Fatalf("SYN-ACK of an outbound connection: %d packets in, want 1", n)
	}
	r.lan.Send(0, pktbuild.TCP4(insider, web, packet.TCPFlagACK, 101, 901, []byte("GET /")))
	r.step()
	if n := len(r.recv(r.wan)); n != 1 {
		t.Fatal("established data did not go out")
	}

	// Inbound: a new connection to a closed port is dropped, to ssh it passes.
	r.wan.Send(0, pktbuild.TCP4(outsider, netip.AddrPortFrom(client, 8080), packet.TCPFlagSYN, 1, 0, nil))
	r.step()
	if n := len(r.recv(r.lan)); n != 0 {
		t.Fatalf("a new inbound connection to 8080 got through (%d packets)", n)
	}
	r.wan.Send(0, pktbuild.TCP4(outsider, netip.AddrPortFrom(client, 22), packet.TCPFlagSYN, 1, 0, nil))
	r.step()
	if n := len(r.recv(r.lan)); n != 1 {
		t.Fatal("a new inbound connection to ssh was blocked")
	}
	// A stray ACK from outside matches no connection: invalid, dropped.
	r.wan.Send(0, pktbuild.TCP4(outsider, netip.AddrPortFrom(client, 9999), packet.TCPFlagACK, 5, 5, nil))
	r.step()
	if n := len(r.recv(r.lan)); n != 0 {
		t.Fatal("a stray ACK got through")
	}

	// Only connections whose first packet passed are in the table: the
	// blocked SYN to 8080 left no entry.
	n := 0
	r.e.Conntrack().List(conntrack.Filter{}, func(e conntrack.Entry) bool {
		n++
		if e.Orig.DstPort == 8080 {
			t.Error("the dropped SYN left an entry")
		}
		return true
	})
	if n != 2 {
		t.Fatalf("%d entries, want 2 (https out, ssh in)", n)
	}
}

func TestRulesetRejectAnswersOnInput(t *testing.T) {
	r := firewallRig(t)
	r.lan.Send(0, pktbuild.TCP4(insider, netip.AddrPortFrom(lanAddr.Addr(), 23), packet.TCPFlagSYN, 7, 0, nil))
	r.lan.Send(0, pktbuild.UDP4(insider, netip.AddrPortFrom(lanAddr.Addr(), 69), nil))
	r.step()
	out := r.recv(r.lan)
	if len(out) != 2 {
		t.Fatalf("%d replies, want a reset and a port unreachable", len(out))
	}
	rst, icmp := pktbuild.Parsed(t, out[0]), pktbuild.Parsed(t, out[1])
	if rst.Proto != packet.ProtoTCP || rst.TCP().Flags()&packet.TCPFlagRST == 0 || rst.TCP().Ack() != 8 {
		t.Fatalf("not a reset: %+v", rst.TCP())
	}
	if icmp.ICMPType != packet.ICMPv4DestUnreachable || icmp.ICMPCode != packet.ICMPv4PortUnreachable {
		t.Fatalf("icmp %d/%d", icmp.ICMPType, icmp.ICMPCode)
	}
}

func TestICMPErrorsAboutAConnectionAreRelated(t *testing.T) {
	r := firewallRig(t)
	// An outbound UDP flow, then an ICMP error about it from a router
	// beyond wan0: related, so the forward chain lets it in.
	udp := pktbuild.UDP4(insider, netip.AddrPortFrom(server, 53), []byte("q"))
	r.lan.Send(0, udp)
	r.step()
	sent := r.recv(r.wan)
	if len(sent) != 1 {
		t.Fatal("UDP did not go out")
	}
	r.wan.Send(0, pktbuild.ICMPError(netip.MustParseAddr("198.19.0.99"), client, packet.ICMPv4DestUnreachable, packet.ICMPv4PortUnreachable, 0, sent[0], nil))
	r.wan.Send(0, pktbuild.ICMPError(netip.MustParseAddr("198.19.0.99"), client, packet.ICMPv4DestUnreachable, packet.ICMPv4PortUnreachable, 0,
		pktbuild.UDP4(netip.AddrPortFrom(client, 1), netip.AddrPortFrom(server, 2), nil), nil))
	r.step()
	if n := len(r.recv(r.lan)); n != 1 {
		t.Fatalf("%d ICMP errors let in, want only the related one", n)
	}
}

func TestSetRulesetReplacesChainsAndRefusesWhatItCannotRun(t *testing.T) {
	r := firewallRig(t)
	if n := r.e.Hooks().List(packet.FamilyIPv4, hooks.Forward).Len(); n != 1 {
		t.Fatalf("%d forward entries", n)
	}
	open := mustRuleset(t, "table ip raw { chain pre { type filter hook prerouting priority raw; policy accept; } }")
	if err := r.e.SetRuleset(open); err != nil {
		t.Fatal(err)
	}
	r.wan.Send(0, pktbuild.TCP4(outsider, netip.AddrPortFrom(client, 8080), packet.TCPFlagSYN, 1, 0, nil))
	r.step()
	if n := len(r.recv(r.lan)); n != 1 {
		t.Fatal("the old ruleset's forward policy still drops")
	}
	if n := r.e.Hooks().List(packet.FamilyIPv4, hooks.Prerouting).Len(); n != 3 {
		t.Fatalf("%d prerouting entries, want defrag, raw chain, conntrack", n)
	}
	nat := mustRuleset(t, "table ip nat { chain post { type nat hook postrouting priority srcnat; masquerade; } }")
	plain := New(Options{})
	if err := plain.SetRuleset(open); err != nil {
		t.Fatal(err)
	}
	if err := plain.SetRuleset(nat); !errors.Is(err, ErrNeedsConntrack) {
		t.Fatalf("nat chain without conntrack: %v", err)
	}
	if plain.Ruleset() != open {
		t.Fatal("a refused ruleset replaced the running one")
	}
	dev := mustRuleset(t, `table netdev f { chain in { type filter hook ingress device "nope0" priority 0; } }`)
	if err := r.e.SetRuleset(dev); err == nil {
		t.Fatal("an ingress chain on a missing device was accepted")
	}
}

// A swap under load: every packet is judged by one ruleset. Each ruleset
// marks packets at prerouting and checks the mark at forward; a packet
// judged by a mix would carry the other ruleset's mark and be dropped.
func TestRulesetSwapUnderLoadNeverMixes(t *testing.T) {
	e := New(Options{})
	lanE, lanT := memio.Pair("lan0", "lan-peer", memio.Options{RingSize: 4096})
	wanE, wanT := memio.Pair("wan0", "wan-peer", memio.Options{RingSize: 4096})
	e.AddPort(lanE, PortConfig{Addrs: []netip.Prefix{lanAddr}})
	e.AddPort(wanE, PortConfig{Addrs: []netip.Prefix{wanAddr}})
	gen := func(mark string) *ruleset.Ruleset {
		return mustRuleset(t, `table ip t {
	chain pre { type filter hook prerouting priority 0; policy accept; meta mark set `+mark+` }
	chain fwd { type filter hook forward priority 0; policy drop; meta mark `+mark+` accept }
}`)
	}
	a, b := gen("1"), gen("2")
	if err := e.SetRuleset(a); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := contextWithTimeout(t, 20*time.Second)
	defer cancel()
	go e.Run(ctx)
	var swaps atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil && i < 2000; i++ {
			rs := a
			if i%2 == 1 {
				rs = b
			}
			if err := e.SetRuleset(rs); err != nil {
				t.Error(err)
				return
			}
			swaps.Add(1)
		}
	}()
	const n = 20000
	sent, got := 0, 0
	pkt := pktbuild.UDP4(insider, netip.AddrPortFrom(server, 9), nil)
	for sent < n && ctx.Err() == nil {
		sent += lanT.Send(0, pkt)
		got += len(wanT.Recv(0, n))
	}
	for got < sent && ctx.Err() == nil {
		got += len(wanT.Recv(0, n))
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	// Under load the far end's ring may overflow (tx-full); that is not a
	// judgement. Every packet is either forwarded or lost there.
	s := e.Stats()
	if s.Drops[DropHook] != 0 || uint64(got)+s.Drops[DropTxFull] != uint64(sent) {
		t.Fatalf("%d of %d forwarded, %d lost to a full ring, %d dropped by a mixed judgement, over %d swaps",
			got, sent, s.Drops[DropTxFull], s.Drops[DropHook], swaps.Load())
	}
	if swaps.Load() < 100 {
		t.Fatalf("only %d swaps happened", swaps.Load())
	}
}

func TestTracerFollowsSelectedPacketsThroughHooksAndRules(t *testing.T) {
	r := firewallRig(t)
	var events []string
	r.e.SetTracer(&Tracer{
		Select: func(p *packet.Packet) bool { return p.DstPort == 8080 || p.DstPort == 22 },
		Event: func(ev *TraceEvent) {
			s := ev.Kind.String() + " " + ev.Hook.String()
			switch ev.Kind {
			case TraceRule:
				s += fmt.Sprintf(" %s %s handle=%d policy=%v %s", ev.Table, ev.Chain, ev.Handle, ev.Policy, ev.Verdict)
			case TraceDrop:
				s += " " + ev.Reason.String()
			case TraceTransmit:
				s += " " + r.e.IfName(ev.Packet.OutIf)
			}
			events = append(events, s)
		},
	})
	r.wan.Send(0, pktbuild.TCP4(outsider, netip.AddrPortFrom(client, 8080), packet.TCPFlagSYN, 1, 0, nil))
	r.wan.Send(0, pktbuild.TCP4(outsider, netip.AddrPortFrom(client, 22), packet.TCPFlagSYN, 1, 0, nil))
	r.wan.Send(0, pktbuild.TCP4(outsider, netip.AddrPortFrom(client, 443), packet.TCPFlagSYN, 1, 0, nil))
	r.step()
	want := []string{
		"hook prerouting", "hook prerouting",
		"hook forward", "hook forward",
		// A batch's rules are evaluated before its drops are carried out.
		"rule forward filter forward handle=0 policy=true drop",
		"rule forward filter forward handle=6 policy=false accept",
		"drop forward hook-drop",
		"hook postrouting",
		"transmit postrouting lan0",
	}
	if !slices.Equal(events, want) {
		t.Fatalf("events\n%s\nwant\n%s", strings.Join(events, "\n"), strings.Join(want, "\n"))
	}
}

// Fragments are reassembled for tracking and the datagram leaves in
// fragments again where it does not fit, for IPv4 and IPv6.
func TestReassembledDatagramsAreFragmentedAgainOnEgress(t *testing.T) {
	ct := conntrack.New(conntrack.Options{SweepInterval: -1})
	t.Cleanup(ct.Close)
	e := New(Options{Conntrack: ct})
	lanE, lanT := memio.Pair("lan0", "lan-peer", memio.Options{PollInterval: time.Millisecond})
	wanE, wanT := memio.Pair("wan0", "wan-peer", memio.Options{PollInterval: time.Millisecond, MTU: 1280})
	lanIdx, _ := e.AddPort(lanE, PortConfig{Addrs: []netip.Prefix{lanAddr, lanAddr6}})
	e.AddPort(wanE, PortConfig{Addrs: []netip.Prefix{wanAddr, wanAddr6}})
	w := newWorker(e, 1, e.ifs[lanIdx], 0)
	payload := make([]byte, 3000)
	for i := range payload {
		payload[i] = byte(i*13 + 1)
	}
	for _, tc := range []struct{ name string }{{"ipv4"}, {"ipv6"}} {
		t.Run(tc.name, func(t *testing.T) {
			var whole []byte
			var frags [][]byte
			if tc.name == "ipv4" {
				whole = pktbuild.UDP4(insider, netip.AddrPortFrom(server, 9), payload)
				frags = pktbuild.FragmentIPv4(whole, 1400)
			} else {
				whole = pktbuild.UDP6(netip.AddrPortFrom(client6, 5), netip.AddrPortFrom(server6, 9), payload)
				frags = pktbuild.FragmentIPv6(whole, 1400, 77)
			}
			// Out of order, to be sure reassembly happened.
			for i := len(frags) - 1; i >= 0; i-- {
				lanT.Send(0, frags[i])
			}
			n, _ := lanE.ReadBatch(0, w.rx[:])
			w.process(w.rx[:n])
			out := wanT.Recv(0, 20)
			if len(out) < 3 {
				t.Fatalf("%d fragments out", len(out))
			}
			var got []byte
			for _, f := range out {
				if len(f) > 1280 {
					t.Fatalf("a fragment of %d bytes left by a 1280-byte link", len(f))
				}
				p := pktbuild.Parsed(t, f)
				if !p.Fragment {
					t.Fatal("a packet out is not a fragment")
				}
				if int(p.FragOff) != len(got) {
					t.Fatalf("fragment at %d, want %d", p.FragOff, len(got))
				}
				if tc.name == "ipv4" {
					got = append(got, p.IPv4().Payload()...)
				} else {
					got = append(got, p.L3()[packet.IPv6HeaderLen+8:]...)
				}
			}
			want := whole[packet.IPv4MinHeaderLen:]
			if tc.name == "ipv6" {
				want = whole[packet.IPv6HeaderLen:]
			}
			if string(got) != string(want) {
				t.Fatal("the fragments do not add up to the datagram")
			}
		})
	}
	if s := e.Stats(); s.Drops[DropTooBig] != 0 || s.ICMPErrors != 0 {
		t.Fatalf("too-big drops %d, ICMP errors %d", s.Drops[DropTooBig], s.ICMPErrors)
	}
}

// TestTraceEndsOfPacketsTheEngineKeeps: a traced packet's way ends with an
// event also when the engine keeps it: an echo request it answers, a
// packet waiting for its next hop, a fragment held for reassembly.
func TestTraceEndsOfPacketsTheEngineKeeps(t *testing.T) {
	var events []string
	tracer := &Tracer{
		Select: func(*packet.Packet) bool { return true },
		Event: func(ev *TraceEvent) {
			if ev.Kind != TraceHook {
				events = append(events, ev.Kind.String()+" "+ev.Hook.String())
			}
		},
	}
	r := newEthRig(t)
	r.e.SetTracer(tracer)
	r.raw.Send(0, pktbuild.UDP4(netip.AddrPortFrom(client, 1), netip.AddrPortFrom(server, 2), []byte("x")))
	r.eth.Send(0, pktbuild.Ether(r.macE, r.macP, packet.EtherTypeIPv4, pktbuild.ICMPEcho(server, wanAddr.Addr(), 7, 1, false, []byte("ping"), nil)))
	r.step()
	// The echo reply the engine makes waits for the server's address too.
	want := []string{"neigh-wait postrouting", "answered input", "neigh-wait postrouting"}
	if !slices.Equal(events, want) {
		t.Fatalf("events %q, want %q", events, want)
	}

	events = nil
	ct := conntrack.New(conntrack.Options{SweepInterval: -1})
	t.Cleanup(ct.Close)
	fr := newRig(t, Options{Conntrack: ct})
	fr.e.SetTracer(tracer)
	frags := pktbuild.FragmentIPv4(pktbuild.UDP4(netip.AddrPortFrom(client, 5), netip.AddrPortFrom(server, 9), make([]byte, 3000)), 1400)
	fr.lan.Send(0, frags[0])
	fr.step()
	if want := []string{"held prerouting"}; !slices.Equal(events, want) {
		t.Fatalf("events %q, want %q", events, want)
	}
}
