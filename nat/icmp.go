package nat

import (
	"encoding/binary"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/packet"
)

// ICMP errors about a NATed connection (nf_nat_icmp_reply_translation and
// nf_nat_icmpv6_reply_translation). The error quotes a packet of the
// connection as it was on the wire where the error was sent, so the quote
// gets the opposite manip of the outer packet: when the outer destination
// goes from the public address back to the client, the quoted source does
// too. Traceroute and path MTU discovery work through NAT that way.

const icmpv6Redirect = 137

func isICMPError(p *packet.Packet) bool {
	if p.L4Off == 0 {
		return false
	}
	switch p.Family {
	case packet.FamilyIPv4:
		return p.Proto == packet.ProtoICMP && packet.ICMPv4IsError(p.ICMPType)
	case packet.FamilyIPv6:
		return p.Proto == packet.ProtoICMPv6 && (packet.ICMPv6IsError(p.ICMPType) || p.ICMPType == icmpv6Redirect)
	}
	return false
}

// icmpError translates an ICMP error whose connection (RELATED, in
// direction d) has status st, at manip m.
func (n *NAT) icmpError(p *packet.Packet, m Manip, d conntrack.Dir, st conntrack.Status) bool {
	v6 := p.Family == packet.FamilyIPv6
	l4 := p.Frame[p.L4Off:p.L3End]
	if len(l4) < 8 {
		n.count(sICMPDropped)
		return false
	}
	ip := p.Frame[p.L3Off:p.L3End]
	if !icmpChecksumOK(ip, l4, v6) {
		n.count(sICMPDropped)
		return false
	}
	if (!v6 && l4[0] == packet.ICMPv4Redirect) || (v6 && l4[0] == icmpv6Redirect) {
		// A redirect is believed only for a connection both of whose
		// manips are set up and neither translates.
		if st&doneMask != doneMask || st&natMask != 0 {
			n.count(sICMPDropped)
			return false
		}
	}
	if st&natBit(m, d) == 0 {
		return true
	}
	o := n.t.Tuple(p.CT, d^1)
	if !rewriteQuote(l4[8:], v6, &o, m^1) {
		n.count(sICMPDropped)
		return false
	}
	// The outer header: as any packet of the connection, but the ICMP
	// header's identifier is not a connection's.
	addr, _ := target(&o, m, true)
	rewrite(ip, v6, nil, packet.ProtoICMP, addr, 0, 0, m == ManipSrc, false)
	binary.BigEndian.PutUint16(l4[2:], 0)
	var sum uint32
	if v6 {
		sum = packet.PseudoHeaderSum(packet.IPv6(ip).Src(), packet.IPv6(ip).Dst(), packet.ProtoICMPv6, len(l4))
	}
	binary.BigEndian.PutUint16(l4[2:], packet.Fold(packet.Sum(l4, sum)))
	n.count(sICMPTranslated)
	return true
}

func icmpChecksumOK(ip, l4 []byte, v6 bool) bool {
	var sum uint32
	if v6 {
		sum = packet.PseudoHeaderSum(packet.IPv6(ip).Src(), packet.IPv6(ip).Dst(), packet.ProtoICMPv6, len(l4))
	}
	return packet.Fold(packet.Sum(l4, sum)) == 0
}

// rewriteQuote rewrites the packet q an ICMP error quotes with manip m
// toward tuple o itself (not its inverse). q may be cut anywhere: it
// checks every length and reports false when the quote is too short for
// its IP header and 8 bytes of transport header, or is not of o's family
// and protocol. It never panics, whatever q holds.
func rewriteQuote(q []byte, v6 bool, o *conntrack.Tuple, m Manip) bool {
	var l4 []byte
	var proto uint8
	if v6 {
		if len(q) < packet.IPv6HeaderLen || q[0]>>4 != 6 {
			return false
		}
		var ok, first bool
		proto, l4, first, ok = upperIPv6(q[6], q[packet.IPv6HeaderLen:])
		if !ok || !first {
			l4 = nil // only the addresses, as nf_nat_ipv6_manip_pkt
		}
	} else {
		if len(q) < packet.IPv4MinHeaderLen || q[0]>>4 != 4 {
			return false
		}
		hl := int(q[0]&0xf) * 4
		if hl < packet.IPv4MinHeaderLen || hl > len(q) {
			return false
		}
		proto = q[9]
		if binary.BigEndian.Uint16(q[6:])&0x1fff == 0 {
			l4 = q[hl:]
		}
	}
	if proto != o.Proto {
		return false
	}
	if l4 != nil && len(l4) < 8 {
		return false
	}
	addr, port := target(o, m, false)
	rewrite(q, v6, l4, proto, addr, port, o.SrcPort, m == ManipSrc, true)
	return true
}

// upperIPv6 walks the extension headers after an IPv6 header (next is its
// Next Header, b what follows) to the upper-layer header (ipv6_skip_exthdr).
// first is false for a non-first fragment.
func upperIPv6(next uint8, b []byte) (proto uint8, l4 []byte, first, ok bool) {
	first = true
	for range packet.MaxIPv6ExtHeaders {
		switch next {
		case packet.ProtoHopOpts, packet.ProtoRouting, packet.ProtoDstOpts:
			if len(b) < 8 || len(b) < (int(b[1])+1)*8 {
				return 0, nil, false, false
			}
			next, b = b[0], b[(int(b[1])+1)*8:]
		case packet.ProtoAH:
			if len(b) < 8 || len(b) < (int(b[1])+2)*4 {
				return 0, nil, false, false
			}
			next, b = b[0], b[(int(b[1])+2)*4:]
		case packet.ProtoIPv6Fragment:
			if len(b) < 8 {
				return 0, nil, false, false
			}
			if binary.BigEndian.Uint16(b[2:])&0xfff8 != 0 {
				first = false
			}
			next, b = b[0], b[8:]
		default:
			return next, b, first, true
		}
	}
	return 0, nil, false, false
}
