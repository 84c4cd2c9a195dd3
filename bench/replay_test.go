package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/nfgo/nfgo/engine"
	"github.com/nfgo/nfgo/internal/netnstest"
	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/io/pcapio"
	"github.com/nfgo/nfgo/packet"
)

// The replay's link-layer addresses: the router's two ports and the two
// hosts behind them.
var (
	macLAN    = packet.MAC{0x02, 0x00, 0x5e, 0, 0, 1}
	macWAN    = packet.MAC{0x02, 0x00, 0x5e, 0, 0, 2}
	macClient = packet.MAC{0x02, 0x00, 0x5e, 0, 1, 1}
	macServer = packet.MAC{0x02, 0x00, 0x5e, 0, 2, 1}
	macOther  = packet.MAC{0x02, 0x00, 0x5e, 0, 9, 9}
)

// replayCase is one frame of the input capture and what the router must
// make of it: frames on the server side (exact bytes) and frames back on
// the client side (checked by a function: packets the engine originates
// carry IDs and quotes of its choosing).
type replayCase struct {
	name string
	in   []byte
	wan  [][]byte
	lan  []func([]byte) error
}

func eth4(dst, src packet.MAC, ip []byte) []byte {
	return pktbuild.Ether(dst, src, packet.EtherTypeIPv4, ip)
}
func eth6(dst, src packet.MAC, ip []byte) []byte {
	return pktbuild.Ether(dst, src, packet.EtherTypeIPv6, ip)
}

// toServer wraps a packet as the router sends it to the server.
func toServer(ip []byte) []byte {
	if ip[0]>>4 == 6 {
		return eth6(macServer, macWAN, ip)
	}
	return eth4(macServer, macWAN, ip)
}

func replayCases() []replayCase {
	c4, s4 := netip.AddrPortFrom(clientAddr4, 1000), netip.AddrPortFrom(serverAddr4, 2000)
	c6, s6 := netip.AddrPortFrom(clientAddr6, 1000), netip.AddrPortFrom(serverAddr6, 2000)
	nowhere4 := netip.AddrPortFrom(netip.MustParseAddr("198.19.99.1"), 2000)
	payload := []byte("nfgo replay")
	big := bytes.Repeat([]byte{0xab}, 1400)
	ttl := func(n uint8) *pktbuild.Options { return &pktbuild.Options{TTL: n} }

	udp4 := pktbuild.UDP(c4, s4, payload, nil)
	tcp4 := pktbuild.TCP(c4, s4, packet.TCPFlagSYN, 1, 0, nil, ttl(10))
	icmp4 := pktbuild.ICMPEcho(clientAddr4, serverAddr4, 7, 1, false, payload, nil)
	udp6 := pktbuild.UDP(c6, s6, payload, nil)
	expired4 := pktbuild.UDP(c4, s4, payload, ttl(1))
	expired6 := pktbuild.UDP(c6, s6, payload, ttl(1))
	noRoute4 := pktbuild.UDP(c4, nowhere4, payload, nil)
	bigDF := pktbuild.UDP(c4, s4, big, &pktbuild.Options{DF: true, ID: 42})
	bigFrag := pktbuild.UDP(c4, s4, big, &pktbuild.Options{ID: 43})
	truncated := pktbuild.UDP(c4, s4, payload, nil)
	truncated = truncated[:len(truncated)-4] // shorter than its total length
	echoRouter := pktbuild.ICMPEcho(clientAddr4, routerLAN4.Addr(), 9, 2, false, payload, nil)

	return []replayCase{
		{name: "udp4 forwarded, TTL 63", in: eth4(macLAN, macClient, udp4),
			wan: [][]byte{toServer(pktbuild.UDP(c4, s4, payload, ttl(63)))}},
		{name: "tcp4 SYN forwarded, TTL 9", in: eth4(macLAN, macClient, tcp4),
			wan: [][]byte{toServer(pktbuild.TCP(c4, s4, packet.TCPFlagSYN, 1, 0, nil, ttl(9)))}},
		{name: "echo request forwarded", in: eth4(macLAN, macClient, icmp4),
			wan: [][]byte{toServer(pktbuild.ICMPEcho(clientAddr4, serverAddr4, 7, 1, false, payload, ttl(63)))}},
		{name: "udp6 forwarded, hop limit 63", in: eth6(macLAN, macClient, udp6),
			wan: [][]byte{toServer(pktbuild.UDP(c6, s6, payload, ttl(63)))}},
		{name: "frame for another host dropped", in: eth4(macOther, macClient, udp4)},
		{name: "truncated IPv4 dropped", in: eth4(macLAN, macClient, truncated)},
		{name: "TTL 1: time exceeded", in: eth4(macLAN, macClient, expired4),
			lan: []func([]byte) error{icmpFrom(routerLAN4.Addr(), clientAddr4, packet.ICMPv4TimeExceeded, 0, expired4)}},
		{name: "hop limit 1: time exceeded", in: eth6(macLAN, macClient, expired6),
			lan: []func([]byte) error{icmpFrom(routerLAN6.Addr(), clientAddr6, packet.ICMPv6TimeExceeded, 0, expired6)}},
		{name: "no route: net unreachable", in: eth4(macLAN, macClient, noRoute4),
			lan: []func([]byte) error{icmpFrom(routerLAN4.Addr(), clientAddr4, packet.ICMPv4DestUnreachable, packet.ICMPv4NetUnreachable, noRoute4)}},
		{name: "too big with DF: fragmentation needed", in: eth4(macLAN, macClient, bigDF),
			lan: []func([]byte) error{icmpFrom(routerLAN4.Addr(), clientAddr4, packet.ICMPv4DestUnreachable, packet.ICMPv4FragNeeded, bigDF)}},
		{name: "too big without DF: fragmented", in: eth4(macLAN, macClient, bigFrag),
			wan: frames(toServer, pktbuild.FragmentIPv4(pktbuild.UDP(c4, s4, big, &pktbuild.Options{ID: 43, TTL: 63}), replayWANMTU-packet.IPv4MinHeaderLen))},
		{name: "echo to the router answered", in: eth4(macLAN, macClient, echoRouter),
			lan: []func([]byte) error{equalFrame(eth4(macClient, macLAN, pktbuild.ICMPEcho(routerLAN4.Addr(), clientAddr4, 9, 2, true, payload, nil)), icmpEchoReplyFields)}},
		{name: "ARP for the router answered", in: pktbuild.PadEther(pktbuild.Ether(packet.BroadcastMAC, macClient, packet.EtherTypeARP,
			pktbuild.ARP(packet.ARPRequest, macClient, clientAddr4, packet.MAC{}, routerLAN4.Addr()))),
			lan: []func([]byte) error{equalFrame(pktbuild.Ether(macClient, macLAN, packet.EtherTypeARP,
				pktbuild.ARP(packet.ARPReply, macLAN, routerLAN4.Addr(), macClient, clientAddr4)), nil)}},
	}
}

// replayWANMTU is the server side's MTU in the replay, smaller than the
// client side's so that the engine fragments or refuses big packets.
const replayWANMTU = 1280

func frames(wrap func([]byte) []byte, ips [][]byte) [][]byte {
	out := make([][]byte, len(ips))
	for i, ip := range ips {
		out[i] = wrap(ip)
	}
	return out
}

// A capture replayed through an engine with two pcapio ports comes out as
// the expected captures: forwarded packets with TTL or hop limit one less
// and checksums right, ICMP errors and replies back to the sender, and
// nothing for the frames a router drops.
func TestReplayThroughPcapPorts(t *testing.T) {
	cases := replayCases()
	var inFrames [][]byte
	for _, c := range cases {
		inFrames = append(inFrames, c.in)
	}
	gotLAN, gotWAN, e := replay(t, inFrames)

	var wantWAN [][]byte
	var wantLAN []func([]byte) error
	var names []string
	for _, c := range cases {
		wantWAN = append(wantWAN, c.wan...)
		wantLAN = append(wantLAN, c.lan...)
		for range c.lan {
			names = append(names, c.name)
		}
	}
	// Within a batch the engine handles ARP first, then IPv4, then IPv6,
	// so the output's order across families is not the input's: each
	// expected frame is looked for anywhere in its capture, and every
	// frame of the capture must be expected.
	used := make([]bool, len(gotWAN))
	for i, w := range wantWAN {
		found := false
		for j, g := range gotWAN {
			if !used[j] && bytes.Equal(g, w) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("server side: expected frame %d missing:\n want %x", i, w)
		}
	}
	for j, g := range gotWAN {
		if !used[j] {
			t.Errorf("server side: unexpected frame: %x", g)
		}
	}
	used = make([]bool, len(gotLAN))
	for i, check := range wantLAN {
		var errs []error
		found := false
		for j, g := range gotLAN {
			if used[j] {
				continue
			}
			err := check(g)
			if err == nil {
				used[j], found = true, true
				break
			}
			errs = append(errs, err)
		}
		if !found {
			t.Errorf("client side: no frame for %q: %v", names[i], errors.Join(errs...))
		}
	}
	for j, g := range gotLAN {
		if !used[j] {
			t.Errorf("client side: unexpected frame: %x", g)
		}
	}
	if t.Failed() {
		s := e.Stats()
		t.Logf("engine: forwarded %d, drops %v", s.Forwarded, s.Drops)
	}
}

// replay runs inFrames, a capture from the client side, through an engine
// with two pcapio ports (client side "lan", server side "wan", with static
// neighbors for both hosts) and returns what it wrote on each side.
func replay(t *testing.T, inFrames [][]byte) (lanFrames, wanFrames [][]byte, e *engine.Engine) {
	t.Helper()
	dir := t.TempDir()
	in, lanOut, wanOut := filepath.Join(dir, "in.pcap"), filepath.Join(dir, "lan-out.pcap"), filepath.Join(dir, "wan-out.pcap")
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	writeCapture(t, in, packet.LinkEthernet, inFrames, t0)

	lan, err := pcapio.Open(pcapio.Options{Name: "lan", In: in, Out: lanOut, HardwareAddr: macLAN})
	if err != nil {
		t.Fatal(err)
	}
	defer lan.Close()
	wan, err := pcapio.Open(pcapio.Options{Name: "wan", Out: wanOut, Link: packet.LinkEthernet, HardwareAddr: macWAN, MTU: replayWANMTU})
	if err != nil {
		t.Fatal(err)
	}
	defer wan.Close()
	e = engine.New(engine.Options{Logger: testLogger(t), ICMPRate: -1})
	lanIf, err := e.AddPort(lan, engine.PortConfig{Addrs: []netip.Prefix{routerLAN4, routerLAN6}})
	if err != nil {
		t.Fatal(err)
	}
	wanIf, err := e.AddPort(wan, engine.PortConfig{Addrs: []netip.Prefix{routerWAN4, routerWAN6}})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []struct {
		ifc  uint32
		addr netip.Addr
		mac  packet.MAC
	}{{lanIf, clientAddr4, macClient}, {lanIf, clientAddr6, macClient}, {wanIf, serverAddr4, macServer}, {wanIf, serverAddr6, macServer}} {
		if err := e.AddNeighbor(n.ifc, n.addr, n.mac); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	// The capture is read as fast as the engine asks; once the engine
	// has counted every frame, stopping it waits for the last batch.
	err = netnstest.Eventually(10*time.Second, func() bool { return e.Stats().RxPackets >= uint64(len(inFrames)) })
	cancel()
	if rerr := <-done; rerr != nil {
		t.Fatal(rerr)
	}
	if err != nil {
		t.Fatalf("the engine read %d of %d frames", e.Stats().RxPackets, len(inFrames))
	}
	if err := errors.Join(lan.Close(), wan.Close()); err != nil {
		t.Fatal(err)
	}

	return readCapture(t, lanOut), readCapture(t, wanOut), e
}

// The kernel drops an IPv4 packet whose header checksum is wrong
// (ip_rcv_core, counted as InCsumErrors) before routing it.
func TestReplayDropsBadIPv4HeaderChecksum(t *testing.T) {
	c4, s4 := netip.AddrPortFrom(clientAddr4, 1000), netip.AddrPortFrom(serverAddr4, 2000)
	bad := pktbuild.UDP(c4, s4, []byte("bad header checksum"), &pktbuild.Options{BadIPChecksum: true})
	lan, wan, _ := replay(t, [][]byte{eth4(macLAN, macClient, bad)})
	if len(lan)+len(wan) != 0 {
		t.Fatalf("a packet with a bad IPv4 header checksum was forwarded (%d frames out); the kernel drops it", len(lan)+len(wan))
	}
}

func writeCapture(t *testing.T, path string, link packet.LinkType, frames [][]byte, t0 time.Time) {
	t.Helper()
	i := 0
	w, err := pcapio.Open(pcapio.Options{Out: path, Link: link, Clock: func() time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }})
	if err != nil {
		t.Fatal(err)
	}
	pkts := []*packet.Packet{packet.New()}
	for i = range frames {
		copy(pkts[0].SetFrame(len(frames[i])), frames[i])
		if n, err := w.WriteBatch(0, pkts); n != 1 || err != nil {
			t.Fatalf("write %s: %d, %v", path, n, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func readCapture(t *testing.T, path string) [][]byte {
	t.Helper()
	r, err := pcapio.Open(pcapio.Options{In: path})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	pkts := []*packet.Packet{packet.New(), packet.New(), packet.New(), packet.New()}
	var out [][]byte
	for range 10000 {
		n, err := r.ReadBatch(0, pkts)
		if errors.Is(err, pcapio.ErrEndOfCapture) {
			return out
		}
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		for _, p := range pkts[:n] {
			out = append(out, bytes.Clone(p.Frame))
		}
	}
	t.Fatalf("%s never ended", path)
	return nil
}

// equalFrame checks a frame against want, after copying the fields that
// fill names (the engine's choice) from the frame into want.
func equalFrame(want []byte, fill func(got, want []byte)) func([]byte) error {
	return func(got []byte) error {
		w := bytes.Clone(want)
		if fill != nil && len(got) == len(w) {
			fill(got, w)
		}
		if !bytes.Equal(got, w) {
			return fmt.Errorf("want %x", w)
		}
		return nil
	}
}

// icmpEchoReplyFields takes the IPv4 ID of an echo reply from the frame,
// and with it the header checksum: the engine picks the ID.
func icmpEchoReplyFields(got, want []byte) {
	copy(want[14+4:14+6], got[14+4:14+6])
	ip := packet.IPv4(want[14:])
	ip.SetChecksum(ip.ComputeChecksum())
	// DF as the kernel sets it on replies, if the engine does.
	if packet.IPv4(got[14:]).DontFragment() != ip.DontFragment() {
		want[14+6] = got[14+6]
		ip.SetChecksum(ip.ComputeChecksum())
	}
}

// icmpFrom checks an ICMP or ICMPv6 error from src to dst of type typ and
// code, to the client's MAC from the router's: header and message
// checksums right, and the quote starting with the offending packet's
// header as it arrived.
func icmpFrom(src, dst netip.Addr, typ, code uint8, orig []byte) func([]byte) error {
	return func(f []byte) error {
		p := packet.New()
		copy(p.SetFrame(len(f)), f)
		if r := p.Parse(packet.LinkEthernet); r != packet.ReasonNone {
			return fmt.Errorf("does not parse: %v", r)
		}
		eth := p.Ethernet()
		if eth.Dst() != macClient || eth.Src() != macLAN {
			return fmt.Errorf("Ethernet %v -> %v, want %v -> %v", eth.Src(), eth.Dst(), macLAN, macClient)
		}
		if p.Src() != src || p.Dst() != dst {
			return fmt.Errorf("%v -> %v, want %v -> %v", p.Src(), p.Dst(), src, dst)
		}
		var msg []byte
		if src.Is4() {
			ip := p.IPv4()
			if packet.Fold(packet.Sum(ip[:ip.HeaderLen()], 0)) != 0 {
				return errors.New("bad IPv4 header checksum")
			}
			if p.Proto != packet.ProtoICMP {
				return fmt.Errorf("protocol %d, want ICMP", p.Proto)
			}
			msg = p.L4()
			if packet.Fold(packet.Sum(msg, 0)) != 0 {
				return errors.New("bad ICMP checksum")
			}
		} else {
			if p.Proto != packet.ProtoICMPv6 {
				return fmt.Errorf("next header %d, want ICMPv6", p.Proto)
			}
			msg = p.L4()
			ic := packet.ICMPv6(msg)
			if ic.ComputeChecksum(src, dst) != ic.Checksum() {
				return errors.New("bad ICMPv6 checksum")
			}
		}
		if msg[0] != typ || msg[1] != code {
			return fmt.Errorf("type %d code %d, want %d %d", msg[0], msg[1], typ, code)
		}
		hl := packet.IPv6HeaderLen
		if src.Is4() {
			hl = packet.IPv4(orig).HeaderLen()
		}
		if len(msg) < 8+hl+8 || !bytes.Equal(msg[8:8+hl+8], orig[:hl+8]) {
			return fmt.Errorf("quote does not start with the packet's header and 8 bytes")
		}
		return nil
	}
}
