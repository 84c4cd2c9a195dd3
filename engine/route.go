package engine

import (
	"net/netip"

	"github.com/nfgo/nfgo/hooks"
	"github.com/nfgo/nfgo/packet"
)

type routeResult uint8

const (
	toNowhere routeResult = iota // dropped (and counted) or answered with an error
	toLocal
	toForward
)

// routeInput is the routing decision for a packet that came in on an
// interface (the kernel's ip_route_input_noref, then ip_forward's checks
// before the FORWARD hook: TTL, then MTU).
func (pp *pipe) routeInput(p *packet.Packet) routeResult {
	src, dst := p.Src(), p.Dst()
	if dst.Is6() && dst.IsMulticast() && p.Proto == packet.ProtoICMPv6 && pp.e.joined(p.InIf, dst) {
		p.Flags |= packet.FlagLocalIn
		return toLocal
	}
	if martianSource(src, p.InIf) || martianDestination(dst, p.InIf) {
		pp.discard(p, DropMartian)
		return toNowhere
	}
	r, ok := pp.lastRoute, true
	if dst != pp.lastDst || r == nil {
		r, ok = pp.fib.lookup(dst)
		if ok {
			pp.lastDst, pp.lastRoute = dst, r
		}
	}
	if !ok {
		pp.sendUnreachable(p, RouteUnreachable, true)
		pp.discard(p, DropNoRoute)
		return toNowhere
	}
	switch r.Type {
	case RouteLocal:
		p.Flags |= packet.FlagLocalIn
		return toLocal
	case RouteBroadcast:
		// A subnet's broadcast is delivered here, never forwarded:
		// directed broadcasts are not routed (bc_forwarding off, RFC
		// 2644), and one for the subnet it came from is not sent back.
		p.Flags |= packet.FlagLocalIn | packet.FlagBroadcast
		return toLocal
	case RouteUnicast:
	default:
		if r.Type != RouteBlackhole {
			pp.sendUnreachable(p, r.Type, false)
		}
		pp.discard(p, DropUnreachable)
		return toNowhere
	}
	if dst.Is6() && (dst.IsLinkLocalUnicast() || src.IsLinkLocalUnicast()) {
		// Link-local traffic is never forwarded (ip6_forward).
		pp.discard(p, DropMartian)
		return toNowhere
	}
	out := pp.e.iface(r.OutIf)
	if out == nil || out.port == nil {
		pp.discard(p, DropPortDown)
		return toNowhere
	}
	if p.Family == packet.FamilyIPv4 {
		ip := p.IPv4()
		if ip.TTL() <= 1 {
			pp.icmpError(p, packet.ICMPv4TimeExceeded, 0, 0)
			pp.discard(p, DropTTLExceeded)
			return toNowhere
		}
		if p.Len() > out.mtu && ip.DontFragment() {
			pp.icmpError(p, packet.ICMPv4DestUnreachable, packet.ICMPv4FragNeeded, uint32(out.mtu))
			pp.discard(p, DropTooBig)
			return toNowhere
		}
		ip.DecTTL()
	} else {
		ip := p.IPv6()
		if ip.HopLimit() <= 1 {
			pp.icmpError(p, packet.ICMPv6TimeExceeded, 0, 0)
			pp.discard(p, DropTTLExceeded)
			return toNowhere
		}
		if p.Len() > out.mtu && p.Flags&packet.FlagReassembled == 0 {
			// A datagram we reassembled goes out in fragments again, as
			// after nf_defrag_ipv6.
			pp.icmpError(p, packet.ICMPv6PacketTooBig, 0, uint32(out.mtu))
			pp.discard(p, DropTooBig)
			return toNowhere
		}
		ip.SetHopLimit(ip.HopLimit() - 1)
	}
	p.OutIf = r.OutIf
	p.NextHop = nextHop(r, dst)
	return toForward
}

// routeOutput routes a packet the host originates (ip_route_output). A
// packet with no route is dropped without an ICMP error: the kernel
// returns ENETUNREACH to the sending socket instead.
func (pp *pipe) routeOutput(p *packet.Packet) bool {
	dst := p.Dst()
	r, ok := pp.fib.lookup(dst)
	if !ok {
		pp.discard(p, DropNoRoute)
		return false
	}
	switch r.Type {
	case RouteLocal:
		p.OutIf = LoopbackIndex
		p.NextHop = dst
		return true
	case RouteUnicast, RouteBroadcast:
		p.OutIf = r.OutIf
		p.NextHop = nextHop(r, dst)
		return true
	}
	pp.discard(p, DropUnreachable)
	return false
}

// joined reports whether the interface listens on IPv6 multicast group
// dst: all-nodes, and the solicited-node group of each of its addresses.
func (e *Engine) joined(index uint32, dst netip.Addr) bool {
	d := dst.As16()
	if dst == allNodes {
		return true
	}
	if !solicitedNode.Contains(dst) {
		return false
	}
	ifc := e.iface(index)
	if ifc == nil {
		return false
	}
	for _, a := range *ifc.addrs.Load() {
		if a.Addr().Is6() {
			t := a.Addr().As16()
			if t[13] == d[13] && t[14] == d[14] && t[15] == d[15] {
				return true
			}
		}
	}
	return false
}

var (
	allNodes      = netip.MustParseAddr("ff02::1")
	solicitedNode = netip.MustParsePrefix("ff02::1:ff00:0/104")
)

func nextHop(r *Route, dst netip.Addr) netip.Addr {
	if r.Gateway.IsValid() {
		return r.Gateway
	}
	return dst
}

// martianSource reports a source address that no interface may send from
// (the kernel's martian source checks in ip_route_input_slow).
func martianSource(a netip.Addr, inIf uint32) bool {
	if a.IsMulticast() || (a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255})) {
		return true
	}
	return a.IsLoopback() && inIf != LoopbackIndex
}

// martianDestination reports a destination the engine neither delivers nor
// forwards: it does not route multicast or broadcast.
func martianDestination(a netip.Addr, inIf uint32) bool {
	if a.IsMulticast() || a.IsUnspecified() || (a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255})) {
		return true
	}
	return a.IsLoopback() && inIf != LoopbackIndex
}

// transmit frames a packet for its out interface and queues it there.
func (pp *pipe) transmit(p *packet.Packet) {
	ifc := pp.e.iface(p.OutIf)
	if ifc == nil || ifc.port == nil {
		pp.discard(p, DropPortDown)
		return
	}
	if p.Len() > ifc.mtu {
		if p.Family == packet.FamilyIPv4 && !p.IPv4().DontFragment() {
			pp.fragment(p, ifc)
			return
		}
		if p.Family == packet.FamilyIPv6 && p.Flags&packet.FlagReassembled != 0 {
			pp.fragment6(p, ifc)
			return
		}
		// A packet we originate with DF, or IPv6 from this host: the
		// kernel refuses it to the socket (EMSGSIZE).
		pp.discard(p, DropTooBig)
		return
	}
	if !pp.frame(p, ifc) {
		return
	}
	if pp.traced(p) {
		pp.tracer.Event(&TraceEvent{Kind: TraceTransmit, Packet: p, Hook: hooks.Postrouting})
	}
	tb := &pp.tx[ifc.index]
	tb.pkts[tb.n] = p
	tb.n++
	if tb.n == len(tb.pkts) {
		pp.flushOne(ifc, tb)
	}
}

// flush writes every pending transmit buffer.
func (pp *pipe) flush() {
	for i := range pp.tx {
		if tb := &pp.tx[i]; tb.n > 0 {
			pp.flushOne(pp.e.ifs[i], tb)
		}
	}
}

func (pp *pipe) flushOne(ifc *iface, tb *txBuf) {
	q := pp.id % len(ifc.txLock)
	ifc.txLock[q].Lock()
	n, err := ifc.port.WriteBatch(q, tb.pkts[:tb.n])
	ifc.txLock[q].Unlock()
	if err != nil {
		n = 0
	}
	var bytes uint64
	for _, p := range tb.pkts[:n] {
		bytes += uint64(len(p.Frame))
	}
	pp.e.ctr.txPackets.Add(uint64(n))
	pp.e.ctr.txBytes.Add(bytes)
	if n < tb.n {
		r := DropTxFull
		if err != nil {
			r = DropPortDown
		}
		pp.e.ctr.drops[r].Add(uint64(tb.n - n))
	}
	clear(tb.pkts[:tb.n])
	tb.n = 0
}

// frame gives p the link-layer header of ifc: none on a raw port, an
// Ethernet header to the next hop's address on an Ethernet port. Ethernet
// padding and VLAN tags of the incoming frame are not kept.
func (pp *pipe) frame(p *packet.Packet, ifc *iface) bool {
	var dst packet.MAC
	l2 := 0
	if ifc.link == packet.LinkEthernet {
		k := neighKey{ifc.index, p.NextHop}
		if k != pp.lastNeigh {
			mac, ok := pp.e.neighbor(ifc.index, p.NextHop)
			if !ok {
				if !pp.broadcast(p.NextHop) {
					pp.resolve(p, ifc)
					return false
				}
				// The host's packet to a subnet's broadcast address
				// goes to every station (arp_constructor).
				mac = packet.BroadcastMAC
			}
			pp.lastNeigh, pp.lastMAC = k, mac
		}
		dst = pp.lastMAC
		l2 = packet.EthernetHeaderLen
	}
	reframe(p, l2)
	if l2 > 0 {
		eth := packet.Ethernet(p.Frame)
		eth.SetDst(dst)
		eth.SetSrc(ifc.mac)
		if p.Family == packet.FamilyIPv4 {
			eth.SetEtherType(packet.EtherTypeIPv4)
		} else {
			eth.SetEtherType(packet.EtherTypeIPv6)
		}
		p.Link, p.EtherType, p.VLANs = packet.LinkEthernet, eth.EtherType(), 0
	} else {
		p.Link, p.EtherType, p.VLANs = packet.LinkRaw, 0, 0
	}
	return true
}

// reframe moves the start of p.Frame so that l2 bytes of link header stand
// before the network header, and ends the frame with the network packet.
// The network packet itself does not move.
func reframe(p *packet.Packet, l2 int) {
	l3 := int(p.L3Off)
	end := int(p.L3End)
	if l3 == l2 {
		p.Frame = p.Frame[:end]
		return
	}
	start := cap(p.Buf) - cap(p.Frame) // where Frame begins in Buf
	ns := start + l3 - l2
	p.Frame = p.Buf[ns : ns+l2+end-l3]
	shift := l2 - l3
	p.L3Off = uint16(l2)
	p.L3End = uint16(end + shift)
	if p.L4Off != 0 {
		p.L4Off = uint16(int(p.L4Off) + shift)
	}
}
