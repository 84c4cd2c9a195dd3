package engine

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/io/memio"
	"github.com/nfgo/nfgo/packet"
)

// FuzzEngine sends any sequence of frames, each into the lan or the wan
// port, through a router with connection tracking, NAT (masquerade, a DNAT
// port forward, SNAT66), a stateful firewall with rejects, reassembly and
// local delivery. The engine must not panic, and every frame it sends out
// must parse and carry an IPv4 header checksum that adds up: a malformed
// frame in is counted and dropped, never passed on.
//
// The input is a list of records: a control byte (bit 0: from the wan
// side), a 2-byte length and that many bytes of frame (raw IP).
func FuzzEngine(f *testing.F) {
	for _, s := range engineSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ct := conntrack.New(conntrack.Options{Max: 256, SweepInterval: -1})
		t.Cleanup(ct.Close)
		// Small rings, as each record's answers are read before the
		// next, and a short wait for an empty one: rig.step ends on one.
		r := newRigPorts(t, Options{Conntrack: ct}, memio.Options{RingSize: 64, PollInterval: time.Microsecond})
		if err := r.e.SetRuleset(mustRuleset(t, statefulFirewall+natRouter)); err != nil {
			t.Fatal(err)
		}
		for n := 0; len(data) >= 3 && n < 32; n++ {
			ctl, l := data[0], int(binary.BigEndian.Uint16(data[1:3]))
			data = data[3:]
			l = min(l, len(data))
			frame := append([]byte(nil), data[:l]...)
			data = data[l:]
			in := r.lan
			if ctl&1 == 1 {
				in = r.wan
			}
			in.Send(0, frame)
			r.step()
			for _, out := range append(r.recv(r.lan), r.recv(r.wan)...) {
				checkSent(t, out)
			}
		}
		if c, m := ct.Count(), ct.Max(); c > m {
			t.Fatalf("%d connections tracked, limit %d", c, m)
		}
	})
}

// checkSent fails t unless frame, sent by the engine, parses and has a
// good IPv4 header checksum.
func checkSent(t *testing.T, frame []byte) {
	t.Helper()
	p := &packet.Packet{Frame: frame}
	if r := p.Parse(packet.LinkRaw); r != packet.ReasonNone {
		t.Fatalf("the engine sent a frame that does not parse (%v): % x", r, frame)
	}
	if p.Family == packet.FamilyIPv4 {
		if ip := p.IPv4(); ip.Checksum() != ip.ComputeChecksum() {
			t.Fatalf("the engine sent an IPv4 header checksum of %#04x, want %#04x: % x", ip.Checksum(), ip.ComputeChecksum(), frame)
		}
	}
}

// engineSeeds are conversations FuzzEngine's router handles: connections
// out through masquerade and their replies, the port forward, UDP, ICMP
// echo and an error about a connection, IPv6, fragments of both families,
// and packets for the router itself that it rejects or answers.
func engineSeeds() [][]byte {
	const lan, wan = 0, 1
	wanIP, wanIP6 := wanAddr.Addr(), wanAddr6.Addr()
	srv := netip.AddrPortFrom(server, 443)
	masq := netip.AddrPortFrom(wanIP, insider.Port())
	srv6 := netip.AddrPortFrom(server6, 443)
	in6 := netip.AddrPortFrom(client6, 50000)
	udpOut := pktbuild.UDP4(insider, netip.AddrPortFrom(server, 53), []byte("query"))
	big := pktbuild.UDP4(insider, netip.AddrPortFrom(server, 53), make([]byte, 600))
	big6 := pktbuild.UDP6(in6, netip.AddrPortFrom(server6, 53), make([]byte, 600))
	type rec struct {
		side  byte
		frame []byte
	}
	convs := [][]rec{
		{
			{lan, pktbuild.TCP4(insider, srv, packet.TCPFlagSYN, 100, 0, nil)},
			{wan, pktbuild.TCP4(srv, masq, packet.TCPFlagSYN|packet.TCPFlagACK, 900, 101, nil)},
			{lan, pktbuild.TCP4(insider, srv, packet.TCPFlagACK, 101, 901, []byte("GET /"))},
			{wan, pktbuild.TCP4(srv, masq, packet.TCPFlagFIN|packet.TCPFlagACK, 901, 106, nil)},
		},
		{
			{wan, pktbuild.TCP4(outsider, netip.AddrPortFrom(wanIP, 8080), packet.TCPFlagSYN, 7, 0, nil)},
			{lan, pktbuild.TCP4(netip.AddrPortFrom(client, 80), outsider, packet.TCPFlagSYN|packet.TCPFlagACK, 70, 8, nil)},
		},
		{
			{lan, udpOut},
			{wan, pktbuild.UDP4(netip.AddrPortFrom(server, 53), masq, []byte("answer"))},
			{wan, pktbuild.ICMPError(server, wanIP, 3, 3, 0, pktbuild.UDP4(masq, netip.AddrPortFrom(server, 53), []byte("query")), nil)},
		},
		{
			{lan, pktbuild.ICMP4Echo(client, server, 9, 1, false)},
			{wan, pktbuild.ICMP4Echo(server, wanIP, 9, 1, true)},
			{lan, pktbuild.ICMP4Echo(client, lanAddr.Addr(), 9, 2, false)},
		},
		{
			{lan, pktbuild.TCP6(in6, srv6, packet.TCPFlagSYN, 1, 0, nil)},
			{wan, pktbuild.TCP6(srv6, netip.AddrPortFrom(wanIP6, 50000), packet.TCPFlagSYN|packet.TCPFlagACK, 5, 2, nil)},
			{lan, pktbuild.ICMP6Echo(client6, server6, 3, 1, false)},
		},
		{
			{lan, pktbuild.TCP4(insider, netip.AddrPortFrom(lanAddr.Addr(), 23), packet.TCPFlagSYN, 1, 0, nil)},
			{lan, pktbuild.UDP4(insider, netip.AddrPortFrom(lanAddr.Addr(), 69), nil)},
			{wan, pktbuild.TCP4(outsider, netip.AddrPortFrom(wanIP, 22), packet.TCPFlagSYN, 1, 0, nil)},
		},
	}
	var frag, frag6 []rec
	for _, fr := range pktbuild.FragmentIPv4(big, 256) {
		frag = append(frag, rec{lan, fr})
	}
	for _, fr := range pktbuild.FragmentIPv6(big6, 256, 77) {
		frag6 = append(frag6, rec{lan, fr})
	}
	convs = append(convs, frag, frag6)
	var seeds [][]byte
	for _, c := range convs {
		var b []byte
		for _, r := range c {
			b = append(b, r.side, byte(len(r.frame)>>8), byte(len(r.frame)))
			b = append(b, r.frame...)
		}
		seeds = append(seeds, b)
	}
	return seeds
}
