package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nfgo/nfgo/hooks"
	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/io/memio"
	"github.com/nfgo/nfgo/packet"
)

var (
	lanAddr  = netip.MustParsePrefix("198.18.0.1/24")
	wanAddr  = netip.MustParsePrefix("198.19.0.1/24")
	lanAddr6 = netip.MustParsePrefix("2001:db8:1::1/64")
	wanAddr6 = netip.MustParsePrefix("2001:db8:2::1/64")
	client   = netip.MustParseAddr("198.18.0.10")
	server   = netip.MustParseAddr("198.19.0.20")
	client6  = netip.MustParseAddr("2001:db8:1::10")
	server6  = netip.MustParseAddr("2001:db8:2::20")
)

// rig is an engine with two memio ports, lan and wan, driven one batch at
// a time from the test goroutine.
type rig struct {
	t         *testing.T
	e         *Engine
	lan, wan  *memio.Port // the far ends, where the test sends and receives
	workers   map[uint32]*worker
	mu        sync.Mutex
	delivered [][]byte
	calls     []string
}

func newRig(t *testing.T, opts Options) *rig {
	t.Helper()
	return newRigPorts(t, opts, memio.Options{PollInterval: time.Millisecond})
}

// newRigPorts is newRig with ports made with mo.
func newRigPorts(t *testing.T, opts Options, mo memio.Options) *rig {
	t.Helper()
	r := &rig{t: t, workers: map[uint32]*worker{}}
	if opts.Deliver == nil {
		opts.Deliver = func(pkts []*packet.Packet) {
			r.mu.Lock()
			defer r.mu.Unlock()
			for _, p := range pkts {
				r.delivered = append(r.delivered, append([]byte(nil), p.L3()...))
			}
		}
	}
	r.e = New(opts)
	lanE, lanT := memio.Pair("lan0", "lan-peer", mo)
	wanE, wanT := memio.Pair("wan0", "wan-peer", mo)
	r.lan, r.wan = lanT, wanT
	for _, pc := range []struct {
		p     *memio.Port
		addrs []netip.Prefix
	}{{lanE, []netip.Prefix{lanAddr, lanAddr6}}, {wanE, []netip.Prefix{wanAddr, wanAddr6}}} {
		idx, err := r.e.AddPort(pc.p, PortConfig{Addrs: pc.addrs})
		if err != nil {
			t.Fatal(err)
		}
		r.workers[idx] = newWorker(r.e, int(idx), r.e.ifs[idx], 0)
	}
	return r
}

// record registers a callback that logs "hook/name" and answers v.
func (r *rig) record(fam packet.Family, h hooks.Hook, prio hooks.Priority, name string, v hooks.Verdict) *hooks.Ops {
	ops := &hooks.Ops{Name: name, Family: fam, Hook: h, Priority: prio, Func: func(p *packet.Packet, _ *hooks.State) hooks.Verdict {
		r.calls = append(r.calls, h.String()+"/"+name)
		return v
	}}
	if err := r.e.Hooks().Register(ops); err != nil {
		r.t.Fatal(err)
	}
	return ops
}

// step lets each port's worker process what is waiting for it, until
// nothing is left.
func (r *rig) step() {
	for round := 0; round < 8; round++ {
		busy := false
		for _, idx := range []uint32{2, 3} {
			w := r.workers[idx]
			n, _ := w.ifc.port.ReadBatch(0, w.rx[:])
			if n > 0 {
				busy = true
				w.process(w.rx[:n])
			}
		}
		if !busy {
			return
		}
	}
}

func (r *rig) recv(p *memio.Port) [][]byte { return p.Recv(0, 1000) }

func TestForwardedPacketWalksPreroutingForwardPostroutingInPriorityOrder(t *testing.T) {
	r := newRig(t, Options{})
	for _, h := range []hooks.Hook{hooks.Prerouting, hooks.Input, hooks.Forward, hooks.Output, hooks.Postrouting} {
		r.record(packet.FamilyIPv4, h, hooks.PriorityFilter, "filter", hooks.Accept)
		r.record(packet.FamilyIPv4, h, hooks.PriorityMangle, "mangle", hooks.Accept)
		r.record(packet.FamilyInet, h, hooks.PriorityRaw, "inet-raw", hooks.Accept)
		r.record(packet.FamilyIPv6, h, hooks.PriorityFirst, "ip6-only", hooks.Accept)
	}
	in := pktbuild.IPv4(client, server, packet.ProtoUDP, make([]byte, 8), &pktbuild.Options{TTL: 17})
	r.lan.Send(0, pktbuild.UDP4(netip.AddrPortFrom(client, 5000), netip.AddrPortFrom(server, 53), []byte("query")))
	_ = in
	r.step()
	want := []string{
		"prerouting/inet-raw", "prerouting/mangle", "prerouting/filter",
		"forward/inet-raw", "forward/mangle", "forward/filter",
		"postrouting/inet-raw", "postrouting/mangle", "postrouting/filter",
	}
	if !slices.Equal(r.calls, want) {
		t.Fatalf("callbacks\n got %v\nwant %v", r.calls, want)
	}
	out := r.recv(r.wan)
	if len(out) != 1 {
		t.Fatalf("wan got %d packets, want 1", len(out))
	}
	p := pktbuild.Parsed(t, out[0])
	if ttl := p.IPv4().TTL(); ttl != 63 {
		t.Fatalf("TTL %d after forwarding, want 63", ttl)
	}
	if !p.VerifyChecksums() {
		t.Fatal("checksums wrong after the TTL decrement")
	}
	if s := r.e.Stats(); s.Forwarded != 1 || s.TxPackets != 1 || s.TotalDrops() != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestLocallyDeliveredPacketWalksPreroutingAndInput(t *testing.T) {
	r := newRig(t, Options{})
	for _, h := range []hooks.Hook{hooks.Prerouting, hooks.Input, hooks.Forward, hooks.Output, hooks.Postrouting} {
		r.record(packet.FamilyIPv6, h, hooks.PriorityConntrack, "ct", hooks.Accept)
		r.record(packet.FamilyIPv6, h, hooks.PriorityNATSrc, "snat", hooks.Accept)
		r.record(packet.FamilyIPv6, h, hooks.PriorityNATDst, "dnat", hooks.Accept)
	}
	r.lan.Send(0, pktbuild.UDP6(netip.AddrPortFrom(client6, 5000), netip.AddrPortFrom(lanAddr6.Addr(), 53), []byte("hi")))
	r.step()
	want := []string{"prerouting/ct", "prerouting/dnat", "prerouting/snat", "input/ct", "input/dnat", "input/snat"}
	if !slices.Equal(r.calls, want) {
		t.Fatalf("callbacks\n got %v\nwant %v", r.calls, want)
	}
	if len(r.delivered) != 1 || pktbuild.Parsed(t, r.delivered[0]).UDP().DstPort() != 53 {
		t.Fatalf("delivered %d packets", len(r.delivered))
	}
	if ttl := pktbuild.Parsed(t, r.delivered[0]).IPv6().HopLimit(); ttl != 64 {
		t.Fatalf("local delivery changed the hop limit to %d", ttl)
	}
}

func TestLocallyGeneratedPacketWalksOutputAndPostrouting(t *testing.T) {
	r := newRig(t, Options{})
	for _, h := range []hooks.Hook{hooks.Prerouting, hooks.Input, hooks.Forward, hooks.Output, hooks.Postrouting} {
		r.record(packet.FamilyIPv4, h, hooks.PriorityFilter, "filter", hooks.Accept)
		r.record(packet.FamilyIPv4, h, hooks.PriorityConntrackConfirm, "confirm", hooks.Accept)
	}
	var outIf uint32
	r.e.Hooks().Register(&hooks.Ops{Family: packet.FamilyIPv4, Hook: hooks.Output, Priority: -1, Func: func(p *packet.Packet, _ *hooks.State) hooks.Verdict {
		outIf = p.OutIf
		return hooks.Accept
	}})
	if err := r.e.Inject(pktbuild.UDP4(netip.AddrPortFrom(wanAddr.Addr(), 4000), netip.AddrPortFrom(server, 53), nil)); err != nil {
		t.Fatal(err)
	}
	want := []string{"output/filter", "output/confirm", "postrouting/filter", "postrouting/confirm"}
	if !slices.Equal(r.calls, want) {
		t.Fatalf("callbacks\n got %v\nwant %v", r.calls, want)
	}
	if outIf != r.e.IfIndex("wan0") {
		t.Fatalf("OUTPUT saw out interface %d, want wan0", outIf)
	}
	if out := r.recv(r.wan); len(out) != 1 || pktbuild.Parsed(t, out[0]).IPv4().TTL() != 64 {
		t.Fatalf("wan got %d packets", len(out))
	}
}

func TestPacketToOwnAddressLoopsBackThroughLo(t *testing.T) {
	r := newRig(t, Options{})
	var inIf []string
	for _, h := range []hooks.Hook{hooks.Prerouting, hooks.Input, hooks.Forward, hooks.Output, hooks.Postrouting} {
		h := h
		r.e.Hooks().Register(&hooks.Ops{Family: packet.FamilyIPv4, Hook: h, Func: func(p *packet.Packet, _ *hooks.State) hooks.Verdict {
			inIf = append(inIf, fmt.Sprintf("%s in=%s out=%s", h, r.e.IfName(p.InIf), r.e.IfName(p.OutIf)))
			return hooks.Accept
		}})
	}
	if err := r.e.Inject(pktbuild.UDP4(netip.AddrPortFrom(lanAddr.Addr(), 4000), netip.AddrPortFrom(wanAddr.Addr(), 53), nil)); err != nil {
		t.Fatal(err)
	}
	want := []string{"output in= out=lo", "postrouting in= out=lo", "prerouting in=lo out=", "input in=lo out="}
	if !slices.Equal(inIf, want) {
		t.Fatalf("way\n got %v\nwant %v", inIf, want)
	}
	if len(r.delivered) != 1 {
		t.Fatalf("delivered %d", len(r.delivered))
	}
}

func TestDropEndsTheWayAndIsCounted(t *testing.T) {
	r := newRig(t, Options{})
	r.record(packet.FamilyIPv4, hooks.Forward, 0, "drop", hooks.Drop)
	r.record(packet.FamilyIPv4, hooks.Forward, 1, "after", hooks.Accept)
	r.record(packet.FamilyIPv4, hooks.Postrouting, 0, "post", hooks.Accept)
	r.lan.Send(0, pktbuild.UDP4(netip.AddrPortFrom(client, 1), netip.AddrPortFrom(server, 2), nil))
	r.step()
	if !slices.Equal(r.calls, []string{"forward/drop"}) {
		t.Fatalf("calls %v", r.calls)
	}
	s := r.e.Stats()
	if s.Drops[DropHook] != 1 || s.TxPackets != 0 {
		t.Fatalf("hook-drop %d, tx %d", s.Drops[DropHook], s.TxPackets)
	}
	if s.PortDrops["lan0"][DropHook] != 1 || s.PortDrops["wan0"][DropHook] != 0 || s.HookDrops[hooks.Forward][DropHook] != 1 {
		t.Fatalf("drops by port %v, by hook %v", s.PortDrops, s.HookDrops)
	}
}

func TestStolenPacketBelongsToTheCallback(t *testing.T) {
	r := newRig(t, Options{})
	var kept *packet.Packet
	r.e.Hooks().Register(&hooks.Ops{Family: packet.FamilyIPv4, Hook: hooks.Prerouting, Func: func(p *packet.Packet, _ *hooks.State) hooks.Verdict {
		if p.SrcPort == 1 {
			kept = p
			return hooks.Stolen
		}
		return hooks.Accept
	}})
	r.lan.Send(0, pktbuild.UDP4(netip.AddrPortFrom(client, 1), netip.AddrPortFrom(server, 2), []byte("mine")))
	r.step()
	// More traffic through the same worker must not reuse the stolen buffer.
	for i := 0; i < 200; i++ {
		r.lan.Send(0, pktbuild.UDP4(netip.AddrPortFrom(client, 9), netip.AddrPortFrom(server, 9), []byte("other")))
	}
	r.step()
	if kept == nil || string(kept.UDP().Payload()) != "mine" || kept.SrcPort != 1 {
		t.Fatal("the stolen packet was overwritten")
	}
	if s := r.e.Stats(); s.Stolen != 1 || s.Forwarded != 200 {
		t.Fatalf("stolen %d forwarded %d", s.Stolen, s.Forwarded)
	}
}

func TestQueueWithoutHandlerDropsUnlessBypass(t *testing.T) {
	for _, bypass := range []bool{false, true} {
		t.Run(fmt.Sprint("bypass=", bypass), func(t *testing.T) {
			r := newRig(t, Options{})
			r.record(packet.FamilyIPv4, hooks.Forward, 0, "queue", hooks.Queue(3, bypass))
			r.record(packet.FamilyIPv4, hooks.Forward, 1, "after", hooks.Accept)
			r.lan.Send(0, pktbuild.UDP4(netip.AddrPortFrom(client, 1), netip.AddrPortFrom(server, 2), nil))
			r.step()
			s := r.e.Stats()
			if bypass {
				if !slices.Equal(r.calls, []string{"forward/queue", "forward/after"}) || s.TxPackets != 1 {
					t.Fatalf("bypass: calls %v, tx %d", r.calls, s.TxPackets)
				}
			} else if !slices.Equal(r.calls, []string{"forward/queue"}) || s.Drops[DropQueueNoHandler] != 1 || s.TxPackets != 0 {
				t.Fatalf("no bypass: calls %v, drops %v", r.calls, s.Drops)
			}
		})
	}
}

func TestQueuedPacketIsReinjectedAfterTheQueueingEntry(t *testing.T) {
	for _, tc := range []struct {
		verdict hooks.Verdict
		calls   []string
		tx      uint64
	}{
		{hooks.Accept, []string{"forward/before", "forward/queue", "forward/after", "postrouting/post"}, 1},
		{hooks.Drop, []string{"forward/before", "forward/queue"}, 0},
		{hooks.Repeat, []string{"forward/before", "forward/queue", "forward/queue", "forward/after", "postrouting/post"}, 1},
	} {
		t.Run(tc.verdict.String(), func(t *testing.T) {
			r := newRig(t, Options{})
			r.record(packet.FamilyIPv4, hooks.Forward, -1, "before", hooks.Accept)
			queued := 0
			r.e.Hooks().Register(&hooks.Ops{Family: packet.FamilyIPv4, Hook: hooks.Forward, Func: func(p *packet.Packet, _ *hooks.State) hooks.Verdict {
				r.calls = append(r.calls, "forward/queue")
				queued++
				if queued == 1 {
					return hooks.Queue(5, false)
				}
				return hooks.Accept
			}})
			r.record(packet.FamilyIPv4, hooks.Forward, 1, "after", hooks.Accept)
			r.record(packet.FamilyIPv4, hooks.Postrouting, 0, "post", hooks.Accept)
			var got []*QueuedPacket
			r.e.SetQueueHandler(5, func(q *QueuedPacket) { got = append(got, q) })
			r.lan.Send(0, pktbuild.UDP4(netip.AddrPortFrom(client, 1), netip.AddrPortFrom(server, 2), []byte("q")))
			r.step()
			if len(got) != 1 || got[0].Num != 5 || got[0].Hook != hooks.Forward {
				t.Fatalf("handler got %d packets", len(got))
			}
			if r.e.Stats().TxPackets != 0 {
				t.Fatal("a queued packet went on before its verdict")
			}
			if err := got[0].Reinject(tc.verdict); err != nil {
				t.Fatal(err)
			}
			if err := got[0].Reinject(tc.verdict); err != ErrReinjected {
				t.Fatalf("second reinject: %v", err)
			}
			if !slices.Equal(r.calls, tc.calls) {
				t.Fatalf("calls\n got %v\nwant %v", r.calls, tc.calls)
			}
			if n := r.e.Stats().TxPackets; n != tc.tx {
				t.Fatalf("tx %d, want %d", n, tc.tx)
			}
			if tc.tx == 1 {
				if out := r.recv(r.wan); len(out) != 1 || string(pktbuild.Parsed(t, out[0]).UDP().Payload()) != "q" {
					t.Fatal("reinjected packet did not arrive intact")
				}
			}
		})
	}
}

func TestRepeatLoopIsCutOffAndCounted(t *testing.T) {
	r := newRig(t, Options{})
	n := 0
	r.e.Hooks().Register(&hooks.Ops{Family: packet.FamilyIPv4, Hook: hooks.Prerouting, Func: func(_ *packet.Packet, _ *hooks.State) hooks.Verdict {
		n++
		return hooks.Repeat
	}})
	r.lan.Send(0, pktbuild.UDP4(netip.AddrPortFrom(client, 1), netip.AddrPortFrom(server, 2), nil))
	r.step()
	if s := r.e.Stats(); s.Drops[DropRepeatLoop] != 1 || s.TxPackets != 0 || n != hooks.MaxRepeat+1 {
		t.Fatalf("repeat-loop drops %d, tx %d, calls %d", s.Drops[DropRepeatLoop], s.TxPackets, n)
	}
}

func TestICMPErrorsGoBackToTheSender(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pkt      []byte
		typ      uint8
		code     uint8
		info     uint32
		reason   DropReason
		from     netip.Addr
		generate bool
	}{
		{"ttl 1 gets time exceeded", pktbuild.UDP(netip.AddrPortFrom(client, 1), netip.AddrPortFrom(server, 2), nil, &pktbuild.Options{TTL: 1}),
			packet.ICMPv4TimeExceeded, 0, 0, DropTTLExceeded, lanAddr.Addr(), true},
		{"no route gets net unreachable", pktbuild.UDP4(netip.AddrPortFrom(client, 1), netip.MustParseAddrPort("198.18.200.1:2"), nil),
			packet.ICMPv4DestUnreachable, packet.ICMPv4NetUnreachable, 0, DropNoRoute, lanAddr.Addr(), true},
		{"too big with DF gets fragmentation needed", pktbuild.UDP(netip.AddrPortFrom(client, 1), netip.AddrPortFrom(server, 2), make([]byte, 1480), &pktbuild.Options{DF: true}),
			packet.ICMPv4DestUnreachable, packet.ICMPv4FragNeeded, 1500, DropTooBig, lanAddr.Addr(), true},
		{"hop limit 1 gets time exceeded", pktbuild.UDP(netip.AddrPortFrom(client6, 1), netip.AddrPortFrom(server6, 2), nil, &pktbuild.Options{TTL: 1}),
			packet.ICMPv6TimeExceeded, 0, 0, DropTTLExceeded, lanAddr6.Addr(), true},
		{"too big IPv6 gets packet too big", pktbuild.UDP6(netip.AddrPortFrom(client6, 1), netip.AddrPortFrom(server6, 2), make([]byte, 1460)),
			packet.ICMPv6PacketTooBig, 0, 1500, DropTooBig, lanAddr6.Addr(), true},
		{"no IPv6 route gets no-route", pktbuild.UDP6(netip.AddrPortFrom(client6, 1), netip.MustParseAddrPort("[2001:db8:99::1]:2"), nil),
			packet.ICMPv6DestUnreachable, packet.ICMPv6NoRoute, 0, DropNoRoute, lanAddr6.Addr(), true},
		{"an ICMP error gets no error back", pktbuild.ICMPError(client, server, packet.ICMPv4DestUnreachable, 3, 0, pktbuild.UDP4(netip.AddrPortFrom(server, 2), netip.AddrPortFrom(client, 1), nil), &pktbuild.Options{TTL: 1}),
			0, 0, 0, DropTTLExceeded, netip.Addr{}, false},
		{"a non-first fragment gets no error", pktbuild.IPv4(client, server, packet.ProtoUDP, make([]byte, 16), &pktbuild.Options{TTL: 1, FragOff: 64}),
			0, 0, 0, DropTTLExceeded, netip.Addr{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, Options{})
			r.lan.Send(0, tc.pkt)
			r.step()
			s := r.e.Stats()
			if s.Drops[tc.reason] != 1 {
				t.Fatalf("drop %v counted %d times; drops %v", tc.reason, s.Drops[tc.reason], s.Drops)
			}
			out := r.recv(r.lan)
			if !tc.generate {
				if len(out) != 0 || s.ICMPErrors != 0 {
					t.Fatalf("sent %d packets back", len(out))
				}
				return
			}
			if len(out) != 1 {
				t.Fatalf("got %d packets back, want 1", len(out))
			}
			p := pktbuild.Parsed(t, out[0])
			if !p.VerifyChecksums() {
				t.Fatal("bad checksum on the ICMP error")
			}
			if p.Src() != tc.from || p.Dst() != pktbuild.Parsed(t, tc.pkt).Src() {
				t.Fatalf("error from %v to %v", p.Src(), p.Dst())
			}
			var quoted []byte
			if p.Family == packet.FamilyIPv4 {
				ic := p.ICMPv4()
				if ic.Type() != tc.typ || ic.Code() != tc.code || uint32(ic.MTU()) != tc.info {
					t.Fatalf("icmp %d/%d mtu %d", ic.Type(), ic.Code(), ic.MTU())
				}
				quoted = ic.Payload()
				if len(out[0]) > icmpv4MaxLen {
					t.Fatalf("error of %d bytes", len(out[0]))
				}
			} else {
				ic := p.ICMPv6()
				if ic.Type() != tc.typ || ic.Code() != tc.code || ic.MTU() != tc.info {
					t.Fatalf("icmpv6 %d/%d info %d", ic.Type(), ic.Code(), ic.MTU())
				}
				quoted = ic.Payload()
				if len(out[0]) > icmpv6MaxLen {
					t.Fatalf("error of %d bytes", len(out[0]))
				}
			}
			n := min(len(quoted), len(tc.pkt))
			if string(quoted[:n]) != string(tc.pkt[:n]) {
				t.Fatal("the error does not quote the original packet as it arrived")
			}
		})
	}
}

func TestICMPErrorsAreRateLimited(t *testing.T) {
	now := time.Unix(1000, 0)
	r := newRig(t, Options{ICMPRate: 10, ICMPBurst: 3, Now: func() time.Time { return now }})
	for i := 0; i < 10; i++ {
		r.lan.Send(0, pktbuild.UDP(netip.AddrPortFrom(client, 1), netip.AddrPortFrom(server, 2), nil, &pktbuild.Options{TTL: 1}))
	}
	r.step()
	if s := r.e.Stats(); s.ICMPErrors != 3 || s.ICMPRateLimited != 7 {
		t.Fatalf("sent %d, limited %d; want 3 and 7", s.ICMPErrors, s.ICMPRateLimited)
	}
	now = now.Add(200 * time.Millisecond) // two more tokens
	for i := 0; i < 5; i++ {
		r.lan.Send(0, pktbuild.UDP(netip.AddrPortFrom(client, 1), netip.AddrPortFrom(server, 2), nil, &pktbuild.Options{TTL: 1}))
	}
	r.step()
	if s := r.e.Stats(); s.ICMPErrors != 5 {
		t.Fatalf("sent %d after refill, want 5", s.ICMPErrors)
	}
}

func TestEchoRequestsToOurAddressesAreAnswered(t *testing.T) {
	r := newRig(t, Options{})
	var outputSaw int
	r.e.Hooks().Register(&hooks.Ops{Family: packet.FamilyInet, Hook: hooks.Output, Func: func(p *packet.Packet, _ *hooks.State) hooks.Verdict {
		outputSaw++
		return hooks.Accept
	}})
	r.lan.Send(0, pktbuild.ICMP4Echo(client, lanAddr.Addr(), 77, 1, false), pktbuild.ICMP6Echo(client6, wanAddr6.Addr(), 78, 2, false))
	r.step()
	out := r.recv(r.lan)
	if len(out) != 2 || outputSaw != 2 {
		t.Fatalf("%d replies, OUTPUT saw %d", len(out), outputSaw)
	}
	for _, b := range out {
		p := pktbuild.Parsed(t, b)
		if !p.VerifyChecksums() {
			t.Fatal("bad checksum")
		}
		if p.Family == packet.FamilyIPv4 {
			if p.ICMPType != packet.ICMPv4EchoReply || p.SrcPort != 77 || p.Src() != lanAddr.Addr() || p.Dst() != client {
				t.Fatalf("v4 reply %v->%v type %d id %d", p.Src(), p.Dst(), p.ICMPType, p.SrcPort)
			}
		} else if p.ICMPType != packet.ICMPv6EchoReply || p.SrcPort != 78 || p.Src() != wanAddr6.Addr() || p.Dst() != client6 {
			t.Fatalf("v6 reply %v->%v type %d id %d", p.Src(), p.Dst(), p.ICMPType, p.SrcPort)
		}
	}
	if len(r.delivered) != 0 {
		t.Fatal("answered echo requests were also delivered")
	}
}

func TestMalformedFramesAreCountedByReason(t *testing.T) {
	r := newRig(t, Options{})
	good := pktbuild.UDP4(netip.AddrPortFrom(client, 1), netip.AddrPortFrom(server, 2), nil)
	badIHL := append([]byte(nil), good...)
	badIHL[0] = 0x43
	r.lan.Send(0, []byte{0x45, 0, 0}, badIHL, []byte{0x10, 1, 2, 3}, good)
	r.step()
	s := r.e.Stats()
	if s.Drops[DropMalformed] != 3 || s.Malformed[packet.ReasonTruncatedIPv4] != 1 ||
		s.Malformed[packet.ReasonBadIPv4HeaderLen] != 1 || s.Malformed[packet.ReasonBadIPVersion] != 1 || s.Forwarded != 1 {
		t.Fatalf("drops %v malformed %v forwarded %d", s.Drops, s.Malformed, s.Forwarded)
	}
}

func TestRoutesPickTheLongestPrefixAndGateway(t *testing.T) {
	r := newRig(t, Options{})
	gw := netip.MustParseAddr("198.19.0.254")
	if err := r.e.AddRoute(Route{Prefix: netip.MustParsePrefix("203.0.113.0/24"), OutIf: r.e.IfIndex("wan0"), Gateway: gw}); err != nil {
		t.Fatal(err)
	}
	if err := r.e.AddRoute(Route{Prefix: netip.MustParsePrefix("203.0.113.128/25"), Type: RouteProhibit}); err != nil {
		t.Fatal(err)
	}
	if err := r.e.AddRoute(Route{Prefix: netip.MustParsePrefix("198.18.0.1/32"), OutIf: 2}); err == nil {
		t.Fatal("a route over a local address was accepted")
	}
	var hop netip.Addr
	r.e.Hooks().Register(&hooks.Ops{Family: packet.FamilyIPv4, Hook: hooks.Postrouting, Func: func(p *packet.Packet, _ *hooks.State) hooks.Verdict {
		if p.Dst() == netip.MustParseAddr("203.0.113.5") {
			hop = p.NextHop
		}
		return hooks.Accept
	}})
	r.lan.Send(0, pktbuild.UDP4(netip.AddrPortFrom(client, 1), netip.MustParseAddrPort("203.0.113.5:2"), nil))
	r.lan.Send(0, pktbuild.UDP4(netip.AddrPortFrom(client, 1), netip.MustParseAddrPort("203.0.113.200:2"), nil))
	r.step()
	if hop != gw || len(r.recv(r.wan)) != 1 {
		t.Fatalf("next hop %v", hop)
	}
	back := r.recv(r.lan)
	if len(back) != 1 || pktbuild.Parsed(t, back[0]).ICMPCode != packet.ICMPv4AdminProhibited {
		t.Fatalf("prohibit route answered with %d packets", len(back))
	}
}

// ethRig is an engine with a raw port (tun0, 198.18.0.1/24) and an
// Ethernet port (eth0, MTU 600, 198.19.0.1/24 and 2001:db8:2::1/64).
type ethRig struct {
	e          *Engine
	now        time.Time
	raw, eth   *memio.Port // far ends
	wRaw, wEth *worker
	macE, macP packet.MAC
}

func newEthRig(t *testing.T) *ethRig { return newEthRigPoll(t, time.Millisecond) }

// newEthRigPoll is newEthRig with ports that wait poll for a frame.
func newEthRigPoll(t *testing.T, poll time.Duration) *ethRig {
	r := &ethRig{now: time.Unix(5000, 0), macE: packet.MAC{2, 0, 0, 0, 0, 1}, macP: packet.MAC{2, 0, 0, 0, 0, 2}}
	r.e = New(Options{Now: func() time.Time { return r.now }})
	ethE, ethT := memio.Pair("eth0", "peer", memio.Options{Link: packet.LinkEthernet, MACA: r.macE, MACB: r.macP, PollInterval: poll, MTU: 600})
	rawE, rawT := memio.Pair("tun0", "tpeer", memio.Options{PollInterval: poll})
	ethIdx, _ := r.e.AddPort(ethE, PortConfig{Addrs: []netip.Prefix{wanAddr, wanAddr6}})
	rawIdx, _ := r.e.AddPort(rawE, PortConfig{Addrs: []netip.Prefix{lanAddr, lanAddr6}})
	r.raw, r.eth = rawT, ethT
	r.wRaw = newWorker(r.e, 1, r.e.ifs[rawIdx], 0)
	r.wEth = newWorker(r.e, 2, r.e.ifs[ethIdx], 0)
	return r
}

func (r *ethRig) step() {
	for _, w := range []*worker{r.wRaw, r.wEth} {
		if n, _ := w.ifc.port.ReadBatch(0, w.rx[:]); n > 0 {
			w.process(w.rx[:n])
		}
	}
}

func TestNextHopIsResolvedWithARPAndWaitingPacketsFollow(t *testing.T) {
	r := newEthRig(t)
	for i := 0; i < 3; i++ {
		r.raw.Send(0, pktbuild.UDP4(netip.AddrPortFrom(client, uint16(i)), netip.AddrPortFrom(server, 2), []byte("x")))
	}
	r.step()
	out := r.eth.Recv(0, 10)
	if len(out) != 1 {
		t.Fatalf("%d frames before resolution, want one ARP request", len(out))
	}
	req := pktbuild.ParsedFrame(t, out[0])
	a := req.ARP()
	if req.Family != packet.FamilyARP || a.Op() != packet.ARPRequest || a.TargetIP() != server || a.SenderIP() != wanAddr.Addr() || req.Ethernet().Dst() != packet.BroadcastMAC {
		t.Fatalf("not an ARP request for %v: % x", server, out[0])
	}
	r.eth.Send(0, pktbuild.Ether(r.macE, r.macP, packet.EtherTypeARP, pktbuild.ARP(packet.ARPReply, r.macP, server, r.macE, wanAddr.Addr())))
	r.step()
	out = r.eth.Recv(0, 10)
	if len(out) != 3 {
		t.Fatalf("%d frames after the reply, want the 3 waiting packets", len(out))
	}
	for _, f := range out {
		p := pktbuild.ParsedFrame(t, f)
		if p.Ethernet().Dst() != r.macP || p.Ethernet().Src() != r.macE || string(p.UDP().Payload()) != "x" || !p.VerifyChecksums() {
			t.Fatalf("bad frame % x", f)
		}
	}
	// An Ethernet frame for another host is not ours; one for us is routed.
	r.eth.Send(0, pktbuild.Ether(packet.MAC{2, 9, 9, 9, 9, 9}, r.macP, packet.EtherTypeIPv4, pktbuild.UDP4(netip.AddrPortFrom(server, 2), netip.AddrPortFrom(client, 1), nil)))
	r.eth.Send(0, pktbuild.Ether(r.macE, r.macP, packet.EtherTypeIPv4, pktbuild.UDP4(netip.AddrPortFrom(server, 2), netip.AddrPortFrom(client, 1), []byte("back"))))
	r.step()
	if s := r.e.Stats(); s.Drops[DropOtherHost] != 1 || s.NeighQueued != 3 || s.NeighSolicits != 1 {
		t.Fatalf("other-host %d, queued %d, solicits %d", s.Drops[DropOtherHost], s.NeighQueued, s.NeighSolicits)
	}
	back := r.raw.Recv(0, 10)
	if len(back) != 1 || string(pktbuild.Parsed(t, back[0]).UDP().Payload()) != "back" {
		t.Fatalf("raw port got %d packets", len(back))
	}
}

// TestFramesTaggedForAVLANAreNotOurs: as in the kernel without a VLAN
// interface, a frame tagged with a VLAN ID, outer or inner, is dropped as
// for another host, and one tagged with ID 0 (a priority only) is taken.
func TestFramesTaggedForAVLANAreNotOurs(t *testing.T) {
	r := newEthRig(t)
	r.eth.Send(0, pktbuild.Ether(r.macE, r.macP, packet.EtherTypeARP, pktbuild.ARP(packet.ARPReply, r.macP, server, r.macE, wanAddr.Addr())))
	echo := func(id uint16) []byte {
		return pktbuild.Ether(r.macE, r.macP, packet.EtherTypeIPv4, pktbuild.ICMP4Echo(server, wanAddr.Addr(), id, 1, false))
	}
	r.eth.Send(0,
		pktbuild.PushVLAN(echo(1), packet.EtherTypeVLAN, 0, 7),
		pktbuild.PushVLAN(pktbuild.PushVLAN(echo(2), packet.EtherTypeVLAN, 0, 7), packet.EtherTypeQinQ, 0, 0),
		pktbuild.PushVLAN(echo(3), packet.EtherTypeVLAN, 5, 0),
		echo(4))
	r.step()
	var ids []uint16
	for _, f := range r.eth.Recv(0, 10) {
		p := pktbuild.ParsedFrame(t, f)
		if p.ICMPType != packet.ICMPv4EchoReply || p.Ethernet().EtherType() != packet.EtherTypeIPv4 {
			t.Fatalf("not an untagged echo reply: % x", f)
		}
		ids = append(ids, p.SrcPort) // the echo identifier
	}
	if !slices.Equal(ids, []uint16{3, 4}) {
		t.Fatalf("answered echoes %v, want 3 (priority tag) and 4 (untagged)", ids)
	}
	if n := r.e.Stats().Drops[DropOtherHost]; n != 2 {
		t.Fatalf("%d dropped as for another host, want the 2 tagged with VLAN 7", n)
	}
}

func TestARPRequestsForOurAddressesAreAnswered(t *testing.T) {
	r := newEthRig(t)
	r.eth.Send(0, pktbuild.Ether(packet.BroadcastMAC, r.macP, packet.EtherTypeARP, pktbuild.ARP(packet.ARPRequest, r.macP, server, packet.MAC{}, wanAddr.Addr())))
	r.eth.Send(0, pktbuild.Ether(packet.BroadcastMAC, r.macP, packet.EtherTypeARP, pktbuild.ARP(packet.ARPRequest, r.macP, server, packet.MAC{}, netip.MustParseAddr("198.19.0.77"))))
	r.step()
	out := r.eth.Recv(0, 10)
	if len(out) != 1 {
		t.Fatalf("%d replies, want 1 (only for our address)", len(out))
	}
	rep := pktbuild.ParsedFrame(t, out[0])
	a := rep.ARP()
	if a.Op() != packet.ARPReply || a.SenderIP() != wanAddr.Addr() || a.SenderMAC() != r.macE || a.TargetIP() != server || rep.Ethernet().Dst() != r.macP {
		t.Fatalf("bad reply % x", out[0])
	}
	// The requester was learned: traffic to it goes out without asking.
	r.raw.Send(0, pktbuild.UDP4(netip.AddrPortFrom(client, 1), netip.AddrPortFrom(server, 2), nil))
	r.step()
	if out := r.eth.Recv(0, 10); len(out) != 1 || pktbuild.ParsedFrame(t, out[0]).Family != packet.FamilyIPv4 {
		t.Fatal("the requester's address was not learned")
	}
}

func TestIPv6NextHopIsResolvedWithNeighborDiscovery(t *testing.T) {
	r := newEthRig(t)
	r.raw.Send(0, pktbuild.UDP6(netip.AddrPortFrom(client6, 1), netip.AddrPortFrom(server6, 2), []byte("six")))
	r.step()
	out := r.eth.Recv(0, 10)
	if len(out) != 1 {
		t.Fatalf("%d frames, want one solicitation", len(out))
	}
	ns := pktbuild.ParsedFrame(t, out[0])
	if ns.ICMPType != packet.ICMPv6NeighborSolicit || ns.Dst() != netip.MustParseAddr("ff02::1:ff00:20") || ns.IPv6().HopLimit() != 255 || !ns.VerifyChecksums() {
		t.Fatalf("bad solicitation to %v type %d", ns.Dst(), ns.ICMPType)
	}
	if d := ns.Ethernet().Dst(); d != (packet.MAC{0x33, 0x33, 0xff, 0, 0, 0x20}) {
		t.Fatalf("solicitation to MAC %v", d)
	}
	// The server advertises itself.
	na := make([]byte, 4+16+8)
	na[0] = 0x60
	t16 := server6.As16()
	copy(na[4:20], t16[:])
	na[20], na[21] = 2, 1
	copy(na[22:28], r.macP[:])
	r.eth.Send(0, pktbuild.Ether(r.macE, r.macP, packet.EtherTypeIPv6,
		pktbuild.ICMP(server6, wanAddr6.Addr(), packet.ICMPv6NeighborAdvert, 0, 0x60000000, na[4:], &pktbuild.Options{TTL: 255})))
	r.step()
	out = r.eth.Recv(0, 10)
	if len(out) != 1 || string(pktbuild.ParsedFrame(t, out[0]).UDP().Payload()) != "six" || pktbuild.ParsedFrame(t, out[0]).Ethernet().Dst() != r.macP {
		t.Fatalf("%d frames after the advertisement", len(out))
	}
	// And we answer solicitations for our own address.
	body := make([]byte, 16+8)
	w6 := wanAddr6.Addr().As16()
	copy(body, w6[:])
	body[16], body[17] = 1, 1
	copy(body[18:24], r.macP[:])
	r.eth.Send(0, pktbuild.Ether(packet.MAC{0x33, 0x33, 0xff, 0, 0, 1}, r.macP, packet.EtherTypeIPv6,
		pktbuild.ICMP(server6, netip.MustParseAddr("ff02::1:ff00:1"), packet.ICMPv6NeighborSolicit, 0, 0, body, &pktbuild.Options{TTL: 255})))
	r.step()
	out = r.eth.Recv(0, 10)
	if len(out) != 1 {
		t.Fatalf("%d answers to a solicitation", len(out))
	}
	adv := pktbuild.ParsedFrame(t, out[0])
	if adv.ICMPType != packet.ICMPv6NeighborAdvert || adv.Src() != wanAddr6.Addr() || adv.Dst() != server6 || !adv.VerifyChecksums() {
		t.Fatalf("bad advertisement from %v to %v", adv.Src(), adv.Dst())
	}
	if ll, ok := ndpOption(adv.ICMPv6()[24:], 2); !ok || ll != r.macE {
		t.Fatal("advertisement without our address")
	}
}

func TestUnresolvedNextHopFailsWithHostUnreachable(t *testing.T) {
	r := newEthRig(t)
	r.raw.Send(0, pktbuild.UDP4(netip.AddrPortFrom(client, 1), netip.AddrPortFrom(server, 2), nil))
	r.step()
	for i := 0; i < neighRetries+1; i++ {
		r.now = r.now.Add(neighRetryInterval)
		r.e.neighTick()
	}
	if n := len(r.eth.Recv(0, 10)); n != neighRetries {
		t.Fatalf("%d ARP requests, want %d", n, neighRetries)
	}
	back := r.raw.Recv(0, 10)
	if len(back) != 1 {
		t.Fatalf("%d packets back, want host unreachable", len(back))
	}
	if p := pktbuild.Parsed(t, back[0]); p.ICMPType != packet.ICMPv4DestUnreachable || p.ICMPCode != packet.ICMPv4HostUnreachable {
		t.Fatalf("got icmp %d/%d", p.ICMPType, p.ICMPCode)
	}
	if s := r.e.Stats(); s.Drops[DropNoNeighbor] != 1 {
		t.Fatalf("no-neighbor drops %d", s.Drops[DropNoNeighbor])
	}
}

func TestLargeIPv4WithoutDFIsFragmentedOnEgress(t *testing.T) {
	r := newEthRig(t)
	r.e.AddNeighbor(r.e.IfIndex("eth0"), server, r.macP)
	payload := make([]byte, 1400)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	// A loose source route option (not copied? it is: 0x83) and a
	// timestamp option (0x44, not copied) check ip_options_fragment.
	opts := []byte{0x44, 4, 5, 0, 0x83, 3, 0, 1}
	orig := pktbuild.UDP(netip.AddrPortFrom(client, 7), netip.AddrPortFrom(server, 9), payload, &pktbuild.Options{ID: 4242, IPv4Options: opts})
	r.raw.Send(0, orig)
	r.step()
	out := r.eth.Recv(0, 10)
	if len(out) != 3 {
		t.Fatalf("%d fragments, want 3", len(out))
	}
	var got []byte
	for i, f := range out {
		p := pktbuild.ParsedFrame(t, f)
		ip := p.IPv4()
		if len(f)-packet.EthernetHeaderLen > 600 || ip.ID() != 4242 || int(ip.FragmentOffset()) != len(got) || ip.MoreFragments() != (i < 2) {
			t.Fatalf("fragment %d: len %d id %d off %d mf %v", i, len(f), ip.ID(), ip.FragmentOffset(), ip.MoreFragments())
		}
		if ip.ComputeChecksum() != 0 && ip.Checksum() != ip.ComputeChecksum() {
			t.Fatalf("fragment %d: bad header checksum", i)
		}
		o := ip.Options()
		if i == 0 && string(o) != string(opts) {
			t.Fatalf("first fragment options % x", o)
		}
		if i > 0 && string(o) != string([]byte{1, 1, 1, 1, 0x83, 3, 0, 1}) {
			t.Fatalf("fragment %d options % x: the timestamp is not copied, the source route is", i, o)
		}
		got = append(got, ip.Payload()...)
	}
	want := pktbuild.Parsed(t, orig).IPv4().Payload()
	if string(got) != string(want) {
		t.Fatal("fragments do not reassemble to the original payload")
	}
	if r.e.Stats().FragmentsOut != 3 {
		t.Fatal("fragments not counted")
	}
}

func TestRunForwardsWithWorkersAndStopsWithTheContext(t *testing.T) {
	e := New(Options{})
	lanE, lanT := memio.Pair("lan0", "lan-peer", memio.Options{Queues: 2})
	wanE, wanT := memio.Pair("wan0", "wan-peer", memio.Options{Queues: 2})
	e.AddPort(lanE, PortConfig{Addrs: []netip.Prefix{lanAddr}})
	e.AddPort(wanE, PortConfig{Addrs: []netip.Prefix{wanAddr}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx) }()
	const n = 2000
	for i := 0; i < n; i++ {
		for lanT.Send(i%2, pktbuild.UDP4(netip.AddrPortFrom(client, uint16(i)), netip.AddrPortFrom(server, 9), nil)) == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	got := 0
	deadline := time.Now().Add(10 * time.Second)
	for got < n && time.Now().Before(deadline) {
		got += len(wanT.Recv(0, n)) + len(wanT.Recv(1, n))
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if got != n {
		t.Fatalf("forwarded %d of %d", got, n)
	}
}

func TestHostPortCarriesLocalTrafficThroughInputAndOutput(t *testing.T) {
	e := New(Options{})
	lanE, lanT := memio.Pair("lan0", "lan-peer", memio.Options{PollInterval: time.Millisecond})
	hostE, hostT := memio.Pair("nfgo0", "host", memio.Options{PollInterval: time.Millisecond})
	lanIdx, _ := e.AddPort(lanE, PortConfig{Addrs: []netip.Prefix{lanAddr}})
	hostIdx, err := e.AddPort(hostE, PortConfig{Host: true})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := memio.Pair("nfgo1", "host1", memio.Options{})
	if _, err := e.AddPort(other, PortConfig{Host: true}); err == nil {
		t.Fatal("a second host port was accepted")
	}
	var way []string
	for _, h := range []hooks.Hook{hooks.Prerouting, hooks.Input, hooks.Forward, hooks.Output, hooks.Postrouting} {
		h := h
		e.Hooks().Register(&hooks.Ops{Family: packet.FamilyIPv4, Hook: h, Func: func(p *packet.Packet, _ *hooks.State) hooks.Verdict {
			way = append(way, fmt.Sprintf("%s in=%s out=%s", h, e.IfName(p.InIf), e.IfName(p.OutIf)))
			return hooks.Accept
		}})
	}
	wLan := newWorker(e, 1, e.ifs[lanIdx], 0)
	wHost := newWorker(e, 2, e.ifs[hostIdx], 0)
	step := func(w *worker) {
		if n, _ := w.ifc.port.ReadBatch(0, w.rx[:]); n > 0 {
			w.process(w.rx[:n])
		}
	}
	// A client connects to ssh on the router: it reaches the host.
	lanT.Send(0, pktbuild.TCP4(netip.AddrPortFrom(client, 40000), netip.AddrPortFrom(lanAddr.Addr(), 22), packet.TCPFlagSYN, 1, 0, nil))
	step(wLan)
	got := hostT.Recv(0, 10)
	if len(got) != 1 || pktbuild.Parsed(t, got[0]).DstPort != 22 {
		t.Fatalf("host got %d packets", len(got))
	}
	// The host answers: the reply enters OUTPUT as a local packet.
	hostT.Send(0, pktbuild.TCP4(netip.AddrPortFrom(lanAddr.Addr(), 22), netip.AddrPortFrom(client, 40000), packet.TCPFlagSYN|packet.TCPFlagACK, 7, 2, nil))
	step(wHost)
	if out := lanT.Recv(0, 10); len(out) != 1 || pktbuild.Parsed(t, out[0]).SrcPort != 22 {
		t.Fatalf("client got %d packets", len(out))
	}
	want := []string{"prerouting in=lan0 out=", "input in=lan0 out=", "output in= out=lan0", "postrouting in= out=lan0"}
	if !slices.Equal(way, want) {
		t.Fatalf("way\n got %v\nwant %v", way, want)
	}
	// Pings are still answered by the engine, not passed to the host.
	lanT.Send(0, pktbuild.ICMP4Echo(client, lanAddr.Addr(), 1, 1, false))
	step(wLan)
	if n := len(hostT.Recv(0, 10)); n != 0 {
		t.Fatalf("host got %d echo requests", n)
	}
	if out := lanT.Recv(0, 10); len(out) != 1 {
		t.Fatal("no echo reply")
	}
}

// TestSubnetBroadcastsAreDeliveredNotForwarded: as in the kernel (the
// broadcast routes of fib_add_ifaddr, bc_forwarding off), a packet to the
// broadcast address of one of the router's subnets is delivered locally,
// whichever side it came from: a directed broadcast is not routed onto the
// lan, one for the wan is not sent back out, an echo request to it is not
// answered by the engine, and no ICMP error is sent about it.
func TestSubnetBroadcastsAreDeliveredNotForwarded(t *testing.T) {
	r := newRig(t, Options{})
	from := netip.AddrPortFrom(server, 5)
	lanBC, wanBC := netip.MustParseAddr("198.18.0.255"), netip.MustParseAddr("198.19.0.255")
	r.wan.Send(0,
		pktbuild.UDP4(from, netip.AddrPortFrom(lanBC, 9), []byte("directed")),
		pktbuild.UDP4(from, netip.AddrPortFrom(wanBC, 9), []byte("local")),
		pktbuild.ICMP4Echo(server, wanBC, 1, 1, false),
		pktbuild.IP(server, lanBC, 253, []byte("no such protocol"), nil))
	r.step()
	if lan, wan := r.recv(r.lan), r.recv(r.wan); len(lan)+len(wan) != 0 {
		t.Fatalf("%d packets out on lan and %d on wan, want none", len(lan), len(wan))
	}
	if len(r.delivered) != 4 {
		t.Fatalf("%d delivered, want all 4", len(r.delivered))
	}
	// A /31 has no broadcast address (RFC 3021): its other end is a host.
	lanIdx := r.e.IfIndex("lan0")
	if err := r.e.AddAddress(lanIdx, netip.MustParsePrefix("198.20.0.0/31")); err != nil {
		t.Fatal(err)
	}
	r.wan.Send(0, pktbuild.UDP4(from, netip.AddrPortFrom(netip.MustParseAddr("198.20.0.1"), 9), nil))
	r.step()
	if n := len(r.recv(r.lan)); n != 1 {
		t.Fatalf("%d packets to the /31's other end forwarded, want 1", n)
	}
	// A route cannot take a broadcast address away.
	if err := r.e.AddRoute(Route{Prefix: netip.PrefixFrom(lanBC, 32), OutIf: lanIdx}); !errors.Is(err, ErrLocalRoute) {
		t.Fatalf("route over the broadcast address: %v, want ErrLocalRoute", err)
	}
}

// TestHostBroadcastsLeaveToEveryStation: the host's packet to a subnet's
// broadcast address goes out its interface to the Ethernet broadcast
// address, without an ARP request.
func TestHostBroadcastsLeaveToEveryStation(t *testing.T) {
	e := New(Options{})
	mac := packet.MAC{2, 0, 0, 0, 0, 1}
	ethE, ethT := memio.Pair("eth0", "peer", memio.Options{Link: packet.LinkEthernet, MACA: mac, MACB: packet.MAC{2, 0, 0, 0, 0, 2}, PollInterval: time.Millisecond})
	hostE, hostT := memio.Pair("nfgo0", "host", memio.Options{PollInterval: time.Millisecond})
	if _, err := e.AddPort(ethE, PortConfig{Addrs: []netip.Prefix{wanAddr}}); err != nil {
		t.Fatal(err)
	}
	hostIdx, err := e.AddPort(hostE, PortConfig{Host: true})
	if err != nil {
		t.Fatal(err)
	}
	w := newWorker(e, 1, e.ifs[hostIdx], 0)
	hostT.Send(0, pktbuild.UDP4(netip.AddrPortFrom(wanAddr.Addr(), 67), netip.AddrPortFrom(netip.MustParseAddr("198.19.0.255"), 68), []byte("offer")))
	if n, _ := w.ifc.port.ReadBatch(0, w.rx[:]); n > 0 {
		w.process(w.rx[:n])
	}
	out := ethT.Recv(0, 10)
	if len(out) != 1 {
		t.Fatalf("%d frames out, want the broadcast", len(out))
	}
	p := pktbuild.ParsedFrame(t, out[0])
	if p.Ethernet().Dst() != packet.BroadcastMAC || p.Family != packet.FamilyIPv4 || string(p.UDP().Payload()) != "offer" {
		t.Fatalf("not the datagram to every station: % x", out[0])
	}
}

func TestHookCanRejectWithTCPResetOrICMP(t *testing.T) {
	r := newRig(t, Options{})
	r.e.Hooks().Register(&hooks.Ops{Family: packet.FamilyInet, Hook: hooks.Forward, Func: func(p *packet.Packet, _ *hooks.State) hooks.Verdict {
		switch p.DstPort {
		case 23:
			p.Reject = packet.RejectTCPReset
		case 69:
			p.Reject, p.RejectCode = packet.RejectICMPx, icmpxAdminProhibited
		}
		return hooks.Drop
	}})
	syn := pktbuild.TCP4(netip.AddrPortFrom(client, 40000), netip.AddrPortFrom(server, 23), packet.TCPFlagSYN, 1000, 0, nil)
	ack := pktbuild.TCP4(netip.AddrPortFrom(client, 40001), netip.AddrPortFrom(server, 23), packet.TCPFlagACK, 1000, 5555, []byte("abc"))
	tftp6 := pktbuild.UDP6(netip.AddrPortFrom(client6, 5000), netip.AddrPortFrom(server6, 69), nil)
	r.lan.Send(0, syn, ack, tftp6)
	r.step()
	out := r.recv(r.lan)
	if len(out) != 3 {
		t.Fatalf("%d replies, want 3", len(out))
	}
	for _, b := range out {
		p := pktbuild.Parsed(t, b)
		if !p.VerifyChecksums() {
			t.Fatal("bad checksum")
		}
		switch {
		case p.Proto == packet.ProtoTCP && p.DstPort == 40000:
			tc := p.TCP()
			if p.Src() != server || tc.Flags() != packet.TCPFlagRST|packet.TCPFlagACK || tc.Seq() != 0 || tc.Ack() != 1001 {
				t.Fatalf("reset to a SYN: flags %#x seq %d ack %d", tc.Flags(), tc.Seq(), tc.Ack())
			}
		case p.Proto == packet.ProtoTCP && p.DstPort == 40001:
			tc := p.TCP()
			if tc.Flags() != packet.TCPFlagRST || tc.Seq() != 5555 {
				t.Fatalf("reset to an ACK: flags %#x seq %d", tc.Flags(), tc.Seq())
			}
		case p.Proto == packet.ProtoICMPv6:
			if p.ICMPType != packet.ICMPv6DestUnreachable || p.ICMPCode != packet.ICMPv6AdminProhibited {
				t.Fatalf("icmpv6 %d/%d", p.ICMPType, p.ICMPCode)
			}
		default:
			t.Fatalf("unexpected reply %v", p.Proto)
		}
	}
}

func contextWithTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	t.Helper()
	return context.WithTimeout(context.Background(), d)
}
