package packet

import "net/netip"

// Parse reads p.Frame, which starts with a header of the given link type,
// and fills the parsed fields of p: Link, Family, EtherType, VLANs,
// VLANID, L3Off, L4Off, L3End, Proto, the fragment fields, the ports and
// the ICMP type and code. It leaves the metadata (InIf, Mark, CT, ...)
// alone. It checks every length once, does not allocate, and does not
// panic on any input.
//
// On ReasonNone, L3Off <= L4Off <= L3End <= len(Frame) (L4Off is 0 when
// there is no transport header) and the views IPv4, IPv6, TCP, UDP,
// ICMPv4, ICMPv6 and ARP of the packet's protocols can be read without
// further checks. On any other reason the fields parsed before the fault
// are kept (Family is set once the network header is known) and the rest
// are zero.
//
// What it decides:
//   - VLANID lists the tags outermost first; at most MaxVLANs are accepted,
//     with either TPID (0x8100 or 0x88A8) at either place.
//   - L3End is where the network packet ends by its own length field, so
//     Ethernet padding is excluded.
//   - A non-first fragment (offset not zero) has no transport header:
//     L4Off, ports and ICMP type are 0 and Proto is the protocol the
//     fragment carries. A first fragment is parsed like a whole packet,
//     except that the UDP length may run past it; a first fragment too
//     short for its transport header gets the truncated-* reason, as
//     nf_conntrack finds such a packet invalid.
//   - ICMP and ICMPv6 messages that carry an identifier (echo request and
//     reply; for ICMPv4 also timestamp, information and address-mask)
//     have it in both SrcPort and DstPort, so that a flow key built from
//     addresses and ports maps to the reply's key by swapping sides, as
//     the identifier is the same both ways. Other ICMP messages have ports
//     0. ICMPType and ICMPCode are set for every ICMP message.
//   - SCTP, DCCP and UDP-Lite have their ports read; other protocols
//     (GRE, ESP, ...) only their L4Off set. "No next header" has none.
//   - An IPv4 frame must have version 4 and an IPv6 one version 6; on
//     LinkRaw the version nibble picks the family.
func (p *Packet) Parse(link LinkType) Reason {
	p.Link = link
	p.Family = FamilyUnspec
	p.EtherType = 0
	p.VLANs = 0
	p.VLANID = [2]uint16{}
	p.L3Off, p.L4Off, p.L3End = 0, 0, 0
	p.Proto = 0
	p.Fragment, p.FragOff, p.MoreFrags, p.FragID = false, 0, false, 0
	p.SrcPort, p.DstPort = 0, 0
	p.ICMPType, p.ICMPCode = 0, 0

	f := p.Frame
	switch link {
	case LinkRaw:
		if len(f) == 0 {
			return ReasonEmpty
		}
		switch f[0] >> 4 {
		case 4:
			return p.parseIPv4(0)
		case 6:
			return p.parseIPv6(0)
		}
		return ReasonBadIPVersion
	case LinkEthernet:
		if len(f) < EthernetHeaderLen {
			return ReasonTruncatedEthernet
		}
		et := Ethernet(f).EtherType()
		off := EthernetHeaderLen
		for et == EtherTypeVLAN || et == EtherTypeQinQ {
			if p.VLANs == MaxVLANs {
				return ReasonTooManyVLANs
			}
			if len(f)-off < VLANTagLen {
				return ReasonTruncatedVLAN
			}
			v := VLAN(f[off : off+VLANTagLen])
			p.VLANID[p.VLANs] = v.ID()
			p.VLANs++
			et = v.EtherType()
			off += VLANTagLen
		}
		p.EtherType = et
		p.L3Off = uint16(off)
		switch et {
		case EtherTypeIPv4:
			return p.parseIPv4(off)
		case EtherTypeIPv6:
			return p.parseIPv6(off)
		case EtherTypeARP:
			return p.parseARP(off)
		}
		p.L3End = uint16(min(len(f), 0xffff))
		return ReasonUnsupportedEtherType
	}
	return ReasonUnsupportedEtherType
}

func (p *Packet) parseARP(off int) Reason {
	p.Family = FamilyARP
	if len(p.Frame)-off < ARPLen {
		return ReasonTruncatedARP
	}
	if !ARP(p.Frame[off : off+ARPLen]).IsValid() {
		return ReasonBadARP
	}
	p.L3End = uint16(off + ARPLen)
	return ReasonNone
}

// parseIPv4 checks the header as ip_rcv_core does.
func (p *Packet) parseIPv4(off int) Reason {
	b := IPv4(p.Frame[off:])
	if len(b) < IPv4MinHeaderLen {
		return ReasonTruncatedIPv4
	}
	if b.Version() != 4 {
		return ReasonBadIPVersion
	}
	p.Family = FamilyIPv4
	hl := b.HeaderLen()
	if hl < IPv4MinHeaderLen || hl > len(b) {
		return ReasonBadIPv4HeaderLen
	}
	tl := int(b.TotalLen())
	if tl < hl || tl > len(b) {
		return ReasonBadIPv4TotalLen
	}
	end := off + tl
	if end > 0xffff {
		return ReasonFrameTooLong
	}
	p.L3Off = uint16(off)
	p.L3End = uint16(end)
	p.Proto = b.Protocol()
	if b.IsFragment() {
		p.Fragment = true
		p.FragOff = b.FragmentOffset()
		p.MoreFrags = b.MoreFragments()
		p.FragID = uint32(b.ID())
		if p.FragOff != 0 {
			return ReasonNone
		}
	}
	return p.parseL4(off+hl, end)
}

// parseIPv6 checks the fixed header as ipv6_rcv does and walks the
// extension headers.
func (p *Packet) parseIPv6(off int) Reason {
	b := IPv6(p.Frame[off:])
	if len(b) < IPv6HeaderLen {
		return ReasonTruncatedIPv6
	}
	if b.Version() != 6 {
		return ReasonBadIPVersion
	}
	p.Family = FamilyIPv6
	n := IPv6HeaderLen + int(b.PayloadLen())
	if n > len(b) {
		return ReasonBadIPv6PayloadLen
	}
	end := off + n
	if end > 0xffff {
		return ReasonFrameTooLong
	}
	p.L3Off = uint16(off)
	p.L3End = uint16(end)
	u, r := b[:n].Walk()
	if r != ReasonNone {
		return r
	}
	p.Proto = u.Proto
	if u.Fragment {
		p.Fragment = true
		p.FragOff = u.FragOff
		p.MoreFrags = u.MoreFrags
		p.FragID = u.FragID
		if p.FragOff != 0 {
			return ReasonNone
		}
	}
	if u.Proto == ProtoNoNext {
		return ReasonNone
	}
	return p.parseL4(off+u.Offset, end)
}

// parseL4 checks the transport header at off, which runs to end, with
// the checks of the conntrack trackers' error callbacks (tcp_error,
// udp_error, icmp_error).
func (p *Packet) parseL4(off, end int) Reason {
	b := p.Frame[off:end]
	p.L4Off = uint16(off)
	switch p.Proto {
	case ProtoTCP:
		if len(b) < TCPMinHeaderLen {
			return ReasonTruncatedTCP
		}
		t := TCP(b)
		if d := t.DataOffset(); d < TCPMinHeaderLen || d > len(b) {
			return ReasonBadTCPDataOffset
		}
		p.SrcPort, p.DstPort = t.SrcPort(), t.DstPort()
	case ProtoUDP:
		if len(b) < UDPHeaderLen {
			return ReasonTruncatedUDP
		}
		u := UDP(b)
		// The length of a first fragment's UDP header covers the whole
		// datagram, not the fragment.
		if l := int(u.Length()); l < UDPHeaderLen || (l > len(b) && !p.Fragment) {
			return ReasonBadUDPLength
		}
		p.SrcPort, p.DstPort = u.SrcPort(), u.DstPort()
	case ProtoUDPLite:
		if len(b) < UDPHeaderLen {
			return ReasonTruncatedL4
		}
		p.SrcPort, p.DstPort = UDP(b).SrcPort(), UDP(b).DstPort()
	case ProtoSCTP, ProtoDCCP:
		// SCTP's common header and DCCP's generic header are 12 bytes
		// and start with the two ports.
		if len(b) < 12 {
			return ReasonTruncatedL4
		}
		p.SrcPort, p.DstPort = UDP(b).SrcPort(), UDP(b).DstPort()
	case ProtoICMP:
		if p.Family != FamilyIPv4 {
			break
		}
		if len(b) < ICMPv4HeaderLen {
			return ReasonTruncatedICMP
		}
		m := ICMPv4(b)
		p.ICMPType, p.ICMPCode = m.Type(), m.Code()
		if icmpv4HasID(p.ICMPType) {
			p.SrcPort = m.ID()
			p.DstPort = p.SrcPort
		}
	case ProtoICMPv6:
		if p.Family != FamilyIPv6 {
			break
		}
		if len(b) < ICMPv6HeaderLen {
			return ReasonTruncatedICMP
		}
		m := ICMPv6(b)
		p.ICMPType, p.ICMPCode = m.Type(), m.Code()
		if icmpv6HasID(p.ICMPType) {
			p.SrcPort = m.ID()
			p.DstPort = p.SrcPort
		}
	}
	return ReasonNone
}

// The views below slice Frame at the parsed offsets; they are valid after
// Parse returned ReasonNone for a packet of that kind.

// Ethernet is the link-layer header with its VLAN tags; nil on LinkRaw.
func (p *Packet) Ethernet() Ethernet {
	if p.Link != LinkEthernet {
		return nil
	}
	return Ethernet(p.Frame[:p.L3Off])
}

func (p *Packet) ARP() ARP   { return ARP(p.Frame[p.L3Off:p.L3End]) }
func (p *Packet) IPv4() IPv4 { return IPv4(p.Frame[p.L3Off:p.L3End]) }
func (p *Packet) IPv6() IPv6 { return IPv6(p.Frame[p.L3Off:p.L3End]) }

// TCP is the TCP header and payload; nil when there is no transport header.
func (p *Packet) TCP() TCP { return TCP(p.L4()) }

// UDP is the UDP header and payload; nil when there is no transport header.
func (p *Packet) UDP() UDP { return UDP(p.L4()) }

// ICMPv4 is the ICMP message; nil when there is no transport header.
func (p *Packet) ICMPv4() ICMPv4 { return ICMPv4(p.L4()) }

// ICMPv6 is the ICMPv6 message; nil when there is no transport header.
func (p *Packet) ICMPv6() ICMPv6 { return ICMPv6(p.L4()) }

// Src is the network source address: IPv4 or IPv6 source, or the ARP
// sender's address; the zero Addr for other families.
func (p *Packet) Src() netip.Addr {
	switch p.Family {
	case FamilyIPv4:
		return p.IPv4().Src()
	case FamilyIPv6:
		return p.IPv6().Src()
	case FamilyARP:
		return p.ARP().SenderIP()
	}
	return netip.Addr{}
}

// Dst is the network destination address: IPv4 or IPv6 destination, or
// the ARP target's address; the zero Addr for other families.
func (p *Packet) Dst() netip.Addr {
	switch p.Family {
	case FamilyIPv4:
		return p.IPv4().Dst()
	case FamilyIPv6:
		return p.IPv6().Dst()
	case FamilyARP:
		return p.ARP().TargetIP()
	}
	return netip.Addr{}
}

// ComputeChecksums recomputes the IPv4 header checksum and the TCP, UDP,
// ICMPv4 or ICMPv6 checksum from scratch, for packets the engine builds
// (REJECT replies, ...). Fragments keep their L4 checksum: it covers the
// whole datagram. The IPv6 pseudo-header uses the header's destination,
// as nf_ip6_checksum does, even when a routing header has segments left.
// p must have been parsed with ReasonNone.
func (p *Packet) ComputeChecksums() {
	switch p.Family {
	case FamilyIPv4:
		ip := p.IPv4()
		ip.SetChecksum(ip.ComputeChecksum())
	case FamilyIPv6:
	default:
		return
	}
	if p.L4Off == 0 || p.Fragment {
		return
	}
	src, dst := p.Src(), p.Dst()
	switch p.Proto {
	case ProtoTCP:
		t := p.TCP()
		t.SetChecksum(t.ComputeChecksum(src, dst))
	case ProtoUDP:
		u := p.UDP()
		u.SetChecksum(u.ComputeChecksum(src, dst))
	case ProtoICMP:
		if p.Family == FamilyIPv4 {
			m := p.ICMPv4()
			m.SetChecksum(m.ComputeChecksum())
		}
	case ProtoICMPv6:
		if p.Family == FamilyIPv6 {
			m := p.ICMPv6()
			m.SetChecksum(m.ComputeChecksum(src, dst))
		}
	}
}

// VerifyChecksums reports whether the IPv4 header checksum and the TCP,
// UDP, ICMPv4 or ICMPv6 checksum are right. An IPv4 UDP checksum of 0
// (none) passes; an IPv6 one fails (RFC 8200 8.1). Fragments and other
// protocols have their L4 checksum taken as right. p must have been parsed
// with ReasonNone.
func (p *Packet) VerifyChecksums() bool {
	switch p.Family {
	case FamilyIPv4:
		ip := p.IPv4()
		if Fold(Sum(ip[:ip.HeaderLen()], 0)) != 0 {
			return false
		}
	case FamilyIPv6:
	default:
		return true
	}
	if p.L4Off == 0 || p.Fragment {
		return true
	}
	l4 := p.L4()
	switch p.Proto {
	case ProtoTCP:
		return Fold(Sum(l4, PseudoHeaderSum(p.Src(), p.Dst(), ProtoTCP, len(l4)))) == 0
	case ProtoUDP:
		u := UDP(l4)
		if u.Checksum() == 0 {
			return p.Family == FamilyIPv4
		}
		n := int(u.Length())
		return Fold(Sum(l4[:n], PseudoHeaderSum(p.Src(), p.Dst(), ProtoUDP, n))) == 0
	case ProtoICMP:
		if p.Family == FamilyIPv4 {
			return Fold(Sum(l4, 0)) == 0
		}
	case ProtoICMPv6:
		if p.Family == FamilyIPv6 {
			return Fold(Sum(l4, PseudoHeaderSum(p.Src(), p.Dst(), ProtoICMPv6, len(l4)))) == 0
		}
	}
	return true
}
