package conntrack

import (
	"encoding/binary"
	"math/bits"

	"github.com/nfgo/nfgo/packet"
)

// kind is what Track does with a packet after classify.
type kind uint8

const (
	kSkip      kind = iota // leave the packet as it is (already tracked, not IP)
	kInvalid               // no entry can be found or made: INVALID
	kUntracked             // never tracked (ICMPv6 neighbour discovery and MLD)
	kNormal                // look up key, create on a miss
	kRelated               // an ICMP error: look up key (the quoted packet, inverted)
)

// classify builds the packet's tuple into key (nf_ct_get_tuple and, for ICMP
// errors, the error callbacks).
func classify(p *packet.Packet, key *Tuple) kind {
	if p.CT != 0 || p.CTInfo == uint8(InfoUntracked) {
		return kSkip
	}
	if p.Flags&packet.FlagNoTrack != 0 {
		p.CTInfo = uint8(InfoUntracked)
		return kSkip
	}
	if p.Family != packet.FamilyIPv4 && p.Family != packet.FamilyIPv6 {
		return kSkip
	}
	if p.L4Off == 0 || p.L4Off > p.L3End || int(p.L3End) > len(p.Frame) {
		return kInvalid // a non-first fragment, or a broken packet
	}
	if !addrs(p.Frame[p.L3Off:p.L3End], p.Family, key) {
		return kInvalid
	}
	key.Zone = p.Zone
	return l4Key(p.Proto, p.Frame[p.L4Off:p.L3End], key, true)
}

// classifyKey is classify writing the tuple's words into k; for an ICMP
// error, the words of the connection it quotes (relatedKey), or kInvalid.
func classifyKey(p *packet.Packet, k *key) kind {
	if portKey(p, k) {
		return kNormal
	}
	var t Tuple
	kd := classify(p, &t)
	if kd == kRelated && !relatedKey(p, &t) {
		kd = kInvalid
	}
	*k = t.key()
	return kd
}

// portKey is classify for most packets: TCP, UDP, UDP-Lite, SCTP or DCCP
// over IPv4 or IPv6, to track. It builds the words of the tuple from the
// packet with whole-word loads, and reports false for anything else, which
// classify handles.
func portKey(p *packet.Packet, k *key) bool {
	if p.CT != 0 || p.CTInfo == uint8(InfoUntracked) || p.Flags&packet.FlagNoTrack != 0 || !hasPorts(p.Proto) {
		return false
	}
	l3off, l4off, end := int(p.L3Off), int(p.L4Off), int(p.L3End)
	if l4off == 0 || l4off > end || end > len(p.Frame) {
		return false
	}
	f := p.Frame[:end]
	l4 := f[l4off:]
	if len(l4) < 4 || (p.Proto == packet.ProtoUDP && !udpLenOK(l4)) {
		return false
	}
	// The ports are big-endian in the packet and native in the tuple:
	// swap the bytes of the 32 bits, then their halves back.
	ports := bits.RotateLeft32(bits.ReverseBytes32(binary.LittleEndian.Uint32(l4)), 16)
	l3 := f[l3off:]
	switch p.Family {
	case packet.FamilyIPv4:
		if len(l3) < 20 {
			return false
		}
		k[0], k[1] = uint64(binary.LittleEndian.Uint32(l3[12:])), 0
		k[2], k[3] = uint64(binary.LittleEndian.Uint32(l3[16:])), 0
	case packet.FamilyIPv6:
		if len(l3) < 40 {
			return false
		}
		k[0], k[1] = binary.LittleEndian.Uint64(l3[8:]), binary.LittleEndian.Uint64(l3[16:])
		k[2], k[3] = binary.LittleEndian.Uint64(l3[24:]), binary.LittleEndian.Uint64(l3[32:])
	default:
		return false
	}
	k[4] = uint64(ports) | uint64(p.Proto)<<32 | uint64(p.Family)<<40 | uint64(p.Zone)<<48
	return true
}

// addrs reads the family and addresses of the IP header in l3.
func addrs(l3 []byte, f packet.Family, key *Tuple) bool {
	key.Family = f
	if f == packet.FamilyIPv4 {
		if len(l3) < 20 {
			return false
		}
		key.Src = [16]byte{}
		key.Dst = [16]byte{}
		copy(key.Src[:4], l3[12:16])
		copy(key.Dst[:4], l3[16:20])
		return true
	}
	if len(l3) < 40 {
		return false
	}
	key.Src = [16]byte(l3[8:24])
	key.Dst = [16]byte(l3[24:40])
	return true
}

// l4Key fills the protocol part of key from the transport header l4. outer
// is false inside an ICMP error, where only 8 bytes of it are quoted and
// another error is not followed.
func l4Key(proto uint8, l4 []byte, key *Tuple, outer bool) kind {
	key.Proto = proto
	key.SrcPort, key.DstPort = 0, 0
	switch proto {
	case packet.ProtoTCP, packet.ProtoUDP, protoUDPLite, protoSCTP, protoDCCP:
		if len(l4) < 4 || (outer && proto == packet.ProtoUDP && !udpLenOK(l4)) {
			return kInvalid
		}
		key.SrcPort = binary.BigEndian.Uint16(l4[0:])
		key.DstPort = binary.BigEndian.Uint16(l4[2:])
		return kNormal
	case packet.ProtoICMP, packet.ProtoICMPv6:
		if len(l4) < 8 {
			return kInvalid
		}
		typ, code := l4[0], l4[1]
		if icmpIsError(proto, typ) {
			if !outer {
				return kInvalid
			}
			return kRelated
		}
		if proto == packet.ProtoICMPv6 && icmpv6NoTrack(typ) {
			return kUntracked
		}
		if _, ok := icmpInverse(proto, typ); !ok {
			return kInvalid
		}
		key.SrcPort = binary.BigEndian.Uint16(l4[4:])
		key.DstPort = uint16(typ)<<8 | uint16(code)
		return kNormal
	}
	return kNormal // generic: addresses and protocol only
}

// udpLenOK is udp_error's length check.
func udpLenOK(l4 []byte) bool {
	if len(l4) < 8 {
		return false
	}
	n := int(binary.BigEndian.Uint16(l4[4:]))
	return n >= 8 && n <= len(l4)
}

// relatedKey builds, for an ICMP error in p, the tuple of the connection the
// quoted packet belongs to, seen from the error's direction: the quoted
// packet's tuple inverted (icmp_error_message / icmpv6_error_message).
func relatedKey(p *packet.Packet, key *Tuple) bool {
	l4 := p.Frame[p.L4Off:p.L3End]
	inner := l4[8:]
	var q Tuple
	q.Zone = p.Zone
	var proto uint8
	var il4 []byte
	if p.Family == packet.FamilyIPv4 {
		if len(inner) < 20 || inner[0]>>4 != 4 {
			return false
		}
		hl := int(inner[0]&0xf) * 4
		if hl < 20 || len(inner) < hl+8 {
			return false
		}
		if binary.BigEndian.Uint16(inner[6:])&0x1fff != 0 {
			return false // quotes a non-first fragment
		}
		addrs(inner, packet.FamilyIPv4, &q)
		proto, il4 = inner[9], inner[hl:]
	} else {
		if len(inner) < 40 || inner[0]>>4 != 6 {
			return false
		}
		addrs(inner, packet.FamilyIPv6, &q)
		var ok bool
		proto, il4, ok = skipIPv6Ext(inner[6], inner[40:])
		if !ok {
			return false
		}
	}
	if l4Key(proto, il4, &q, false) != kNormal {
		return false
	}
	r, ok := q.invert()
	if !ok {
		return false
	}
	*key = r
	return true
}

// skipIPv6Ext walks the extension headers after an IPv6 header to the upper
// layer protocol.
func skipIPv6Ext(next uint8, b []byte) (uint8, []byte, bool) {
	for range packet.MaxIPv6ExtHeaders {
		switch next {
		case packet.ProtoHopOpts, packet.ProtoRouting, 60: // 60: destination options
			if len(b) < 8 || len(b) < (int(b[1])+1)*8 {
				return 0, nil, false
			}
			next, b = b[0], b[(int(b[1])+1)*8:]
		case packet.ProtoIPv6Fragment:
			if len(b) < 8 || binary.BigEndian.Uint16(b[2:])&0xfff8 != 0 {
				return 0, nil, false
			}
			next, b = b[0], b[8:]
		default:
			return next, b, true
		}
	}
	return 0, nil, false
}

func icmpIsError(proto, typ uint8) bool {
	if proto == packet.ProtoICMP {
		switch typ {
		case 3, 4, 5, 11, 12: // unreachable, source quench, redirect, time exceeded, parameter problem
			return true
		}
		return false
	}
	return typ < 128 // ICMPv6: 1 unreachable, 2 too big, 3 time exceeded, 4 parameter problem
}

// icmpv6NoTrack are the ICMPv6 types that are never tracked (noct_valid_new:
// MLD and neighbour discovery).
func icmpv6NoTrack(typ uint8) bool {
	return (typ >= 130 && typ <= 136) || typ == 143
}

// icmpInverse is the answer type of an ICMP query, or its question
// (invmap in icmp_invert_tuple / icmpv6_invert_tuple).
func icmpInverse(proto, typ uint8) (uint8, bool) {
	if proto == packet.ProtoICMP {
		switch typ {
		case 8:
			return 0, true
		case 0:
			return 8, true
		case 13, 15, 17:
			return typ + 1, true
		case 14, 16, 18:
			return typ - 1, true
		}
		return 0, false
	}
	switch typ {
	case 128:
		return 129, true
	case 129:
		return 128, true
	case 139:
		return 140, true
	case 140:
		return 139, true
	}
	return 0, false
}

// icmpValidNew reports whether an ICMP type may start an entry (valid_new).
func icmpValidNew(proto, typ uint8) bool {
	if proto == packet.ProtoICMP {
		return typ == 8 || typ == 13 || typ == 15 || typ == 17
	}
	return typ == 128 || typ == 139
}

// allowClash: protocols whose entries may clash on confirm and be merged
// (nf_conntrack_l4proto.allow_clash).
func allowClash(proto uint8) bool {
	return proto != packet.ProtoTCP && proto != protoSCTP && proto != protoDCCP
}

// udpStreamDelay is how long after creation a replied UDP entry must still be
// active to count as a stream (two seconds, as udp_packet).
const udpStreamDelay = 2e9

// simpleTimeout is simplePacket for a confirmed entry: the timeout, and
// whether the entry becomes assured. For UDP it has no branch on the
// status: whether an entry has seen a reply varies from packet to packet,
// and a mispredicted branch on a value that comes from a cache miss holds
// back the lookups of the packets behind it. An assured entry is a stream,
// as its stream time has passed when it became assured.
func (t *Table) simpleTimeout(e *entry, st Status, now int64) (timeout int64, assured bool) {
	switch e.tup[0].Proto {
	case packet.ProtoUDP, protoUDPLite:
		seen := uint32(st>>1) & 1    // StatusSeenReply
		already := uint32(st>>2) & 1 // StatusAssured
		late := uint32(0)
		if now > e.proto.udpStreamAt() {
			late = 1
		}
		stream := seen & (already | late)
		u, us := t.to.udp, t.to.udpStream
		return u ^ (u^us)&-int64(stream), stream&^already != 0
	case packet.ProtoICMP:
		return t.to.icmp, false
	case packet.ProtoICMPv6:
		return t.to.icmpv6, false
	}
	return t.to.generic, false
}

// simplePacket is the tracker for everything but TCP: UDP (udp_packet),
// ICMP/ICMPv6 (icmp_packet) and generic. It returns the timeout and whether
// the entry becomes assured.
func (t *Table) simplePacket(e *entry, st Status, confirmed bool, now int64) (v verdict, timeout int64, assured bool) {
	k := &e.tup[0]
	switch k.Proto {
	case packet.ProtoUDP, protoUDPLite:
		if !confirmed {
			e.proto.setUDPStreamAt(now + udpStreamDelay)
		}
		if st&StatusSeenReply == 0 {
			return vAccept, t.to.udp, false
		}
		if now > e.proto.udpStreamAt() {
			return vAccept, t.to.udpStream, st&StatusAssured == 0
		}
		return vAccept, t.to.udp, false
	case packet.ProtoICMP, packet.ProtoICMPv6:
		if !confirmed && !icmpValidNew(k.Proto, uint8(k.DstPort>>8)) {
			return vInvalid, 0, false
		}
		if k.Proto == packet.ProtoICMP {
			return vAccept, t.to.icmp, false
		}
		return vAccept, t.to.icmpv6, false
	}
	return vAccept, t.to.generic, false
}
