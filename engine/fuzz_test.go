package engine

import (
	"encoding/binary"
	"iter"
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
		for ctl, frame := range records(data) {
			in := r.lan
			if ctl&1 == 1 {
				in = r.wan
			}
			in.Send(0, frame)
			r.step()
			for _, out := range append(r.recv(r.lan), r.recv(r.wan)...) {
				checkSent(t, out, packet.LinkRaw)
			}
		}
		if c, m := ct.Count(), ct.Max(); c > m {
			t.Fatalf("%d connections tracked, limit %d", c, m)
		}
	})
}

// FuzzEngineEthernet is FuzzEngine for the link layer: a router with a
// raw port (tun0) and an Ethernet port of MTU 600 (eth0), which answers
// ARP and neighbor solicitations, resolves next hops with a queue of
// waiting packets, fragments or answers "too big", and learns and ages
// neighbors. Bit 0 of a record's control byte sends it into eth0 (else
// tun0); bit 1 moves the clock on by 2 s first, so that entries and
// queued packets age. Every frame out must parse on its port's link type
// with a good IPv4 header checksum.
func FuzzEngineEthernet(f *testing.F) {
	for _, s := range ethernetSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newEthRigPoll(t, time.Microsecond) // step reads each port once, waiting on an empty one
		for ctl, frame := range records(data) {
			if ctl&2 != 0 {
				r.now = r.now.Add(2 * time.Second)
			}
			in := r.raw
			if ctl&1 == 1 {
				in = r.eth
			}
			in.Send(0, frame)
			for range 4 {
				r.step()
			}
			for _, out := range r.raw.Recv(0, 1000) {
				checkSent(t, out, packet.LinkRaw)
			}
			for _, out := range r.eth.Recv(0, 1000) {
				checkSent(t, out, packet.LinkEthernet)
			}
		}
	})
}

// checkSent fails t unless frame, sent by the engine on a port of link
// type link, parses and has a good IPv4 header checksum.
func checkSent(t *testing.T, frame []byte, link packet.LinkType) {
	t.Helper()
	p := &packet.Packet{Frame: frame}
	if r := p.Parse(link); r != packet.ReasonNone {
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
	convs := [][]record{
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
	var frag, frag6 []record
	for _, fr := range pktbuild.FragmentIPv4(big, 256) {
		frag = append(frag, record{lan, fr})
	}
	for _, fr := range pktbuild.FragmentIPv6(big6, 256, 77) {
		frag6 = append(frag6, record{lan, fr})
	}
	convs = append(convs, frag, frag6)
	return encode(convs)
}

// ethernetSeeds are exchanges FuzzEngineEthernet's router handles: ARP
// both ways, neighbor discovery, a next hop resolved while packets wait,
// datagrams too big for eth0 with and without DF, a VLAN-tagged frame and
// echo to the router through eth0.
func ethernetSeeds() [][]byte {
	const raw, eth, later = 0, 1, 2
	mE, mP := packet.MAC{2, 0, 0, 0, 0, 1}, packet.MAC{2, 0, 0, 0, 0, 2}
	wanIP, wanIP6 := wanAddr.Addr(), wanAddr6.Addr()
	arpReply := pktbuild.Ether(mE, mP, packet.EtherTypeARP, pktbuild.ARP(packet.ARPReply, mP, server, mE, wanIP))
	na := make([]byte, 16+8)
	t16 := server6.As16()
	copy(na[:16], t16[:])
	na[16], na[17] = 2, 1
	copy(na[18:24], mP[:])
	ns := make([]byte, 16+8)
	w16 := wanIP6.As16()
	copy(ns[:16], w16[:])
	ns[16], ns[17] = 1, 1
	copy(ns[18:24], mP[:])
	df := &pktbuild.Options{DF: true}
	convs := [][]record{
		{
			{raw, pktbuild.UDP4(insider, netip.AddrPortFrom(server, 2), []byte("x"))},
			{raw, pktbuild.UDP4(insider, netip.AddrPortFrom(server, 3), []byte("y"))},
			{eth, arpReply},
			{eth, pktbuild.Ether(mE, mP, packet.EtherTypeIPv4, pktbuild.UDP4(netip.AddrPortFrom(server, 2), insider, []byte("back")))},
			{raw | later, pktbuild.UDP4(insider, netip.AddrPortFrom(server, 2), []byte("z"))},
		},
		{
			{eth, pktbuild.Ether(packet.BroadcastMAC, mP, packet.EtherTypeARP, pktbuild.ARP(packet.ARPRequest, mP, server, packet.MAC{}, wanIP))},
			{eth, pktbuild.Ether(mE, mP, packet.EtherTypeIPv4, pktbuild.ICMP4Echo(server, wanIP, 4, 1, false))},
		},
		{
			{raw, pktbuild.UDP6(netip.AddrPortFrom(client6, 1), netip.AddrPortFrom(server6, 2), []byte("six"))},
			{eth, pktbuild.Ether(mE, mP, packet.EtherTypeIPv6, pktbuild.ICMP(server6, wanIP6, packet.ICMPv6NeighborAdvert, 0, 0x60000000, na, &pktbuild.Options{TTL: 255}))},
			{eth, pktbuild.Ether(packet.MAC{0x33, 0x33, 0xff, 0, 0, 1}, mP, packet.EtherTypeIPv6, pktbuild.ICMP(server6, netip.MustParseAddr("ff02::1:ff00:1"), packet.ICMPv6NeighborSolicit, 0, 0, ns, &pktbuild.Options{TTL: 255}))},
		},
		{
			{eth, arpReply},
			{raw, pktbuild.UDP4(insider, netip.AddrPortFrom(server, 2), make([]byte, 1000))},
			{raw, pktbuild.UDP(insider, netip.AddrPortFrom(server, 2), make([]byte, 1000), df)},
			{raw, pktbuild.UDP6(netip.AddrPortFrom(client6, 1), netip.AddrPortFrom(server6, 2), make([]byte, 1000))},
		},
		{
			{eth, pktbuild.PushVLAN(pktbuild.Ether(mE, mP, packet.EtherTypeIPv4, pktbuild.ICMP4Echo(server, wanIP, 5, 1, false)), 0x8100, 0, 7)},
		},
	}
	return encode(convs)
}

// A record is one frame of a fuzz input and its control byte.
type record struct {
	ctl   byte
	frame []byte
}

// records yields the records of a fuzz input, at most 32: a control
// byte, a 2-byte length and that many bytes of frame (fewer at the end).
func records(data []byte) iter.Seq2[byte, []byte] {
	return func(yield func(byte, []byte) bool) {
		for n := 0; len(data) >= 3 && n < 32; n++ {
			ctl, l := data[0], int(binary.BigEndian.Uint16(data[1:3]))
			data = data[3:]
			l = min(l, len(data))
			frame := append([]byte(nil), data[:l]...)
			data = data[l:]
			if !yield(ctl, frame) {
				return
			}
		}
	}
}

// encode makes a fuzz input of each conversation.
func encode(convs [][]record) [][]byte {
	var seeds [][]byte
	for _, c := range convs {
		var b []byte
		for _, r := range c {
			b = append(b, r.ctl, byte(len(r.frame)>>8), byte(len(r.frame)))
			b = append(b, r.frame...)
		}
		seeds = append(seeds, b)
	}
	return seeds
}
