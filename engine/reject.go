package engine

import (
	"github.com/nfgo/nfgo/packet"
)

// ICMPX codes of nft's reject (NFT_REJECT_ICMPX_*).
const (
	icmpxNoRoute = iota
	icmpxPortUnreach
	icmpxHostUnreach
	icmpxAdminProhibited
)

// reject answers a packet a hook dropped with reject: an ICMP or ICMPv6
// unreachable (nf_send_unreach, nf_send_unreach6) or a TCP reset
// (nf_send_reset). Replies go out through OUTPUT like the kernel's.
func (pp *pipe) reject(p *packet.Packet) {
	code := p.RejectCode
	v4 := p.Family == packet.FamilyIPv4
	switch p.Reject {
	case packet.RejectTCPReset:
		pp.tcpReset(p)
		return
	case packet.RejectICMP:
		if !v4 {
			return
		}
	case packet.RejectICMPv6:
		if v4 {
			return
		}
	case packet.RejectICMPx:
		code = icmpxCode(code, v4)
	default:
		return
	}
	if v4 {
		pp.icmpError(p, packet.ICMPv4DestUnreachable, code, 0)
	} else {
		pp.icmpError(p, packet.ICMPv6DestUnreachable, code, 0)
	}
}

// icmpxCode maps an ICMPX code to the family's (nft_reject_icmp_code,
// nft_reject_icmpv6_code).
func icmpxCode(c uint8, v4 bool) uint8 {
	if v4 {
		switch c {
		case icmpxNoRoute:
			return packet.ICMPv4NetUnreachable
		case icmpxHostUnreach:
			return packet.ICMPv4HostUnreachable
		case icmpxAdminProhibited:
			return packet.ICMPv4AdminProhibited
		}
		return packet.ICMPv4PortUnreachable
	}
	switch c {
	case icmpxNoRoute:
		return packet.ICMPv6NoRoute
	case icmpxHostUnreach:
		return 3 // address unreachable
	case icmpxAdminProhibited:
		return packet.ICMPv6AdminProhibited
	}
	return 4 // port unreachable
}

// tcpReset answers a TCP segment with a RST from its destination, as
// nf_send_reset: never to a RST, a fragment, or a segment with a bad
// checksum; with the segment's ACK number as sequence if it had one, else
// acknowledging all it carried.
func (pp *pipe) tcpReset(p *packet.Packet) {
	if p.Proto != packet.ProtoTCP || p.L4Off == 0 || p.Fragment {
		return
	}
	in := p.TCP()
	if in.Flags()&packet.TCPFlagRST != 0 || !p.VerifyChecksums() {
		return
	}
	q := pp.newPacket()
	if q == nil {
		return
	}
	src, dst := p.Dst(), p.Src()
	l3 := packet.IPv4MinHeaderLen
	if p.Family == packet.FamilyIPv6 {
		l3 = packet.IPv6HeaderLen
	}
	b := q.SetFrame(l3 + packet.TCPMinHeaderLen)
	if l3 == packet.IPv4MinHeaderLen {
		writeIPv4Header(b, src, dst, packet.ProtoTCP, 0)
	} else {
		writeIPv6Header(b, src, dst, packet.ProtoTCP, packet.TCPMinHeaderLen)
	}
	t := packet.TCP(b[l3:])
	clear(t)
	t.SetSrcPort(in.DstPort())
	t.SetDstPort(in.SrcPort())
	t.SetDataOffset(packet.TCPMinHeaderLen)
	if in.Flags()&packet.TCPFlagACK != 0 {
		t.SetSeq(in.Ack())
		t.SetFlags(packet.TCPFlagRST)
	} else {
		ack := in.Seq() + uint32(len(in.Payload()))
		if in.Flags()&packet.TCPFlagSYN != 0 {
			ack++
		}
		if in.Flags()&packet.TCPFlagFIN != 0 {
			ack++
		}
		t.SetAck(ack)
		t.SetFlags(packet.TCPFlagRST | packet.TCPFlagACK)
	}
	t.SetChecksum(0)
	t.SetChecksum(t.ComputeChecksum(src, dst))
	pp.originate(q)
}
