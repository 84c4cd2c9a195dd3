package engine

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/nfgo/nfgo/packet"
)

// The largest ICMP error the engine sends: RFC 1812's 576 bytes for IPv4,
// the minimum MTU of 1280 for IPv6 (RFC 4443 2.4 (c)).
const (
	icmpv4MaxLen = 576
	icmpv6MaxLen = 1280
	icmpTTL      = 64
)

// sendUnreachable answers p with the destination-unreachable error that
// route type t calls for (noRoute: no route at all).
func (pp *pipe) sendUnreachable(p *packet.Packet, t RouteType, noRoute bool) {
	if p.Family == packet.FamilyIPv4 {
		code := uint8(packet.ICMPv4HostUnreachable)
		switch {
		case noRoute:
			code = packet.ICMPv4NetUnreachable
		case t == RouteProhibit:
			code = packet.ICMPv4AdminProhibited
		}
		pp.icmpError(p, packet.ICMPv4DestUnreachable, code, 0)
		return
	}
	code := uint8(packet.ICMPv6NoRoute)
	if t == RouteProhibit {
		code = packet.ICMPv6AdminProhibited
	} else if t == RouteUnreachable && !noRoute {
		code = 3 // address unreachable
	}
	pp.icmpError(p, packet.ICMPv6DestUnreachable, code, 0)
}

// icmpError originates an ICMP or ICMPv6 error about p, quoting as much of
// it as fits, unless the rules of RFC 1122 3.2.2 / RFC 4443 2.4 (the
// kernel's icmp_send and icmp6_send) forbid an error about this packet:
// never about an ICMP error, a non-first fragment, or a packet to or from
// a multicast or broadcast address. info goes into the second word (the
// MTU of a fragmentation-needed or packet-too-big message).
func (pp *pipe) icmpError(p *packet.Packet, typ, code uint8, info uint32) {
	src, dst := p.Src(), p.Dst()
	if p.Fragment && p.FragOff != 0 {
		return
	}
	if !src.IsValid() || src.IsUnspecified() || src.IsMulticast() || src.IsLoopback() {
		return
	}
	v4 := p.Family == packet.FamilyIPv4
	if v4 {
		if dst.IsMulticast() || dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || pp.broadcast(dst) {
			return
		}
		if p.Proto == packet.ProtoICMP && (p.L4Off == 0 || packet.ICMPv4IsError(p.ICMPType)) {
			return
		}
	} else {
		if dst.IsMulticast() && typ != packet.ICMPv6PacketTooBig {
			return
		}
		if p.Proto == packet.ProtoICMPv6 && (p.L4Off == 0 || packet.ICMPv6IsError(p.ICMPType)) {
			return
		}
	}
	if !pp.icmp.allow(pp.e.now()) {
		pp.e.ctr.icmpRateLimited.Add(1)
		return
	}
	from, ok := pp.sourceFor(src, p.InIf, v4)
	if !ok {
		return
	}
	q := pp.newPacket()
	if q == nil {
		pp.e.ctr.icmpRateLimited.Add(1)
		return
	}
	quote := p.L3()
	if v4 {
		n := min(len(quote), icmpv4MaxLen-packet.IPv4MinHeaderLen-packet.ICMPv4HeaderLen)
		b := q.SetFrame(packet.IPv4MinHeaderLen + packet.ICMPv4HeaderLen + n)
		// TOS as icmp_send: the original's TOS bits with precedence
		// "internetwork control".
		writeIPv4Header(b, from, src, packet.ProtoICMP, p.IPv4().TOS()&0x1e|0xc0)
		ic := packet.ICMPv4(b[packet.IPv4MinHeaderLen:])
		ic.SetType(typ)
		ic.SetCode(code)
		ic.SetRest(0)
		if typ == packet.ICMPv4DestUnreachable && code == packet.ICMPv4FragNeeded {
			ic.SetMTU(uint16(info))
		}
		copy(ic.Payload(), quote[:n])
		ic.SetChecksum(0)
		ic.SetChecksum(ic.ComputeChecksum())
	} else {
		n := min(len(quote), icmpv6MaxLen-packet.IPv6HeaderLen-packet.ICMPv6HeaderLen)
		b := q.SetFrame(packet.IPv6HeaderLen + packet.ICMPv6HeaderLen + n)
		writeIPv6Header(b, from, src, packet.ProtoICMPv6, packet.ICMPv6HeaderLen+n)
		ic := packet.ICMPv6(b[packet.IPv6HeaderLen:])
		ic.SetType(typ)
		ic.SetCode(code)
		ic.SetRest(info)
		copy(ic.Payload(), quote[:n])
		ic.SetChecksum(0)
		ic.SetChecksum(ic.ComputeChecksum(from, src))
	}
	pp.originate(q)
	pp.e.ctr.icmpErrors.Add(1)
}

// originate parses a packet the engine built and queues it for OUTPUT.
func (pp *pipe) originate(q *packet.Packet) {
	if q.Parse(packet.LinkRaw) != packet.ReasonNone {
		return // cannot happen for what we build; never send a bad packet
	}
	q.Flags |= packet.FlagLocalOut
	pp.gen = append(pp.gen, q)
}

// sourceFor picks the source address for a packet the engine sends to dst:
// the preferred source of the route back, else an address of the interface
// that route leaves by, else one of the interface the packet came in on,
// else any address of the family.
func (pp *pipe) sourceFor(dst netip.Addr, inIf uint32, v4 bool) (netip.Addr, bool) {
	if r, ok := pp.fib.lookup(dst); ok {
		if r.Src.IsValid() {
			return r.Src, true
		}
		if a, ok := pp.e.addrOf(r.OutIf, v4); ok {
			return a, true
		}
	}
	if a, ok := pp.e.addrOf(inIf, v4); ok {
		return a, true
	}
	for i := 2; i < len(pp.e.ifs); i++ {
		if a, ok := pp.e.addrOf(uint32(i), v4); ok {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// addrOf is the first address of the family on interface index.
func (e *Engine) addrOf(index uint32, v4 bool) (netip.Addr, bool) {
	ifc := e.iface(index)
	if ifc == nil {
		return netip.Addr{}, false
	}
	for _, a := range *ifc.addrs.Load() {
		if a.Addr().Is4() == v4 && !a.Addr().IsLinkLocalUnicast() {
			return a.Addr(), true
		}
	}
	return netip.Addr{}, false
}

// broadcast reports whether a is the broadcast address of one of our
// IPv4 subnets.
func (pp *pipe) broadcast(a netip.Addr) bool { return pp.fib.is(a, RouteBroadcast) }

func isEchoRequest(p *packet.Packet) bool {
	if p.L4Off == 0 || p.Fragment {
		return false
	}
	switch p.Proto {
	case packet.ProtoICMP:
		return p.ICMPType == packet.ICMPv4Echo && p.ICMPCode == 0
	case packet.ProtoICMPv6:
		return p.ICMPType == packet.ICMPv6EchoRequest && p.ICMPCode == 0
	}
	return false
}

// echoReply answers an echo request to one of our addresses with the same
// identifier, sequence and data (icmp_echo, icmpv6_echo_reply).
func (pp *pipe) echoReply(p *packet.Packet) {
	q := pp.newPacket()
	if q == nil {
		return
	}
	src, dst := p.Dst(), p.Src()
	body := p.L4()
	if p.Family == packet.FamilyIPv4 {
		b := q.SetFrame(packet.IPv4MinHeaderLen + len(body))
		writeIPv4Header(b, src, dst, packet.ProtoICMP, p.IPv4().TOS())
		ic := packet.ICMPv4(b[packet.IPv4MinHeaderLen:])
		copy(ic, body)
		ic.SetType(packet.ICMPv4EchoReply)
		ic.SetChecksum(0)
		ic.SetChecksum(ic.ComputeChecksum())
	} else {
		if src.IsMulticast() {
			a, ok := pp.sourceFor(dst, p.InIf, false)
			if !ok {
				return
			}
			src = a
		}
		b := q.SetFrame(packet.IPv6HeaderLen + len(body))
		writeIPv6Header(b, src, dst, packet.ProtoICMPv6, len(body))
		ic := packet.ICMPv6(b[packet.IPv6HeaderLen:])
		copy(ic, body)
		ic.SetType(packet.ICMPv6EchoReply)
		ic.SetChecksum(0)
		ic.SetChecksum(ic.ComputeChecksum(src, dst))
	}
	pp.originate(q)
}

// writeIPv4Header writes a 20-byte header for a packet of len(b) bytes.
func writeIPv4Header(b []byte, src, dst netip.Addr, proto, tos uint8) {
	ip := packet.IPv4(b)
	ip.SetVersionIHL(packet.IPv4MinHeaderLen)
	ip.SetTOS(tos)
	ip.SetTotalLen(uint16(len(b)))
	ip.SetID(0)
	binary.BigEndian.PutUint16(b[6:], 0) // flags and fragment offset
	ip.SetTTL(icmpTTL)
	ip.SetProtocol(proto)
	ip.SetSrc(src)
	ip.SetDst(dst)
	ip.SetChecksum(0)
	ip.SetChecksum(ip.ComputeChecksum())
}

// writeIPv6Header writes a 40-byte header for payloadLen bytes.
func writeIPv6Header(b []byte, src, dst netip.Addr, next uint8, payloadLen int) {
	ip := packet.IPv6(b)
	binary.BigEndian.PutUint32(b, 6<<28)
	ip.SetPayloadLen(uint16(payloadLen))
	ip.SetNextHeader(next)
	ip.SetHopLimit(icmpTTL)
	ip.SetSrc(src)
	ip.SetDst(dst)
}

// tokenBucket limits the rate of ICMP errors, as the kernel's global
// icmp_msgs_per_sec / icmp_msgs_burst limit.
type tokenBucket struct {
	rate, burst float64 // rate < 0: unlimited
	tokens      float64
	last        time.Time
}

func (b *tokenBucket) init(rate, burst int) {
	b.rate, b.burst, b.tokens = float64(rate), float64(burst), float64(burst)
}

func (b *tokenBucket) allow(now time.Time) bool {
	if b.rate < 0 {
		return true
	}
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
