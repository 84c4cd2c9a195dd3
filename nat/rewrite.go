package nat

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/packet"
)

// Do rewrites p as its connection's bindings say, at a NAT hook doing
// manip m (nf_nat_packet): the destination at PREROUTING and OUTPUT, the
// source at POSTROUTING and INPUT, in both directions, without consulting
// any rule. An ICMP error RELATED to a NATed connection gets its quoted
// packet rewritten too (nf_nat_icmp_reply_translation). A packet whose
// connection has no translation costs a status load.
//
// It returns false when the packet must be dropped: an ICMP error about a
// NATed connection with a bad checksum or a broken quote, or a packet of a
// masqueraded connection leaving by another interface than the one it was
// masqueraded on (the connection is deleted, as nf_nat_oif_changed).
func (n *NAT) Do(p *packet.Packet, m Manip) bool {
	slot := p.CT
	if slot == 0 {
		return true
	}
	st := n.t.Status(slot)
	want := wants[m&1][p.CTInfo&7]
	if (st|relatedMark)&want == 0 {
		return true // the common case of a connection without NAT
	}
	if want != relatedMark {
		// An established packet of a NATed connection: the fast path.
		if one := [1]*packet.Packet{p}; n.fastRun(one[:], m) == 1 {
			return true
		}
	}
	return n.do(p, m, st)
}

// wants is, by manip and ctinfo, the status bit that says a packet needs
// the manip (natBit), or relatedMark for RELATED packets, which take the
// general path. It spares the fast paths a branch per question.
var wants = func() (w [2][8]conntrack.Status) {
	for m := range w {
		for i := range w[m] {
			switch info := conntrack.CTInfo(i); info {
			case conntrack.InfoRelated, conntrack.InfoRelatedReply:
				w[m][i] = relatedMark
			case conntrack.InfoEstablished, conntrack.InfoNew, conntrack.InfoNone:
				w[m][i] = natBit(Manip(m), conntrack.DirOriginal)
			case conntrack.InfoEstablishedReply:
				w[m][i] = natBit(Manip(m), conntrack.DirReply)
			}
		}
	}
	return w
}()

// relatedMark is a bit no status has.
const relatedMark conntrack.Status = 1 << 31

func related(p *packet.Packet) bool {
	return p.CTInfo == uint8(conntrack.InfoRelated) || p.CTInfo == uint8(conntrack.InfoRelatedReply)
}

// do is Do for a packet with a connection whose status is st.
func (n *NAT) do(p *packet.Packet, m Manip, st conntrack.Status) bool {
	slot := p.CT
	if related(p) {
		if isICMPError(p) {
			return n.icmpError(p, m, dirOf(p), st)
		}
	}
	if st&natMask == 0 {
		return true // the common case of a connection without NAT
	}
	d := dirOf(p)
	if st&natBit(m, d) == 0 {
		return true
	}
	if n.oifMoved(p, slot, m, d) {
		n.oifChanged(slot)
		return false
	}
	// The general rewrite: Do and DoBatch have tried fastRun on the
	// packets it can take.
	var own conntrack.Tuple
	o := &own
	if x := n.xl.get(slot); x != nil {
		o = &x.tup[d^1]
	} else {
		n.t.CopyTuple(o, slot, d^1)
	}
	addr, port := target(o, m, true)
	rewrite(p.Frame[p.L3Off:p.L3End], p.Family == packet.FamilyIPv6, l4Of(p), p.Proto,
		addr, port, o.SrcPort, m == ManipSrc, false)
	return true
}

// oifMoved tells whether p, of a masqueraded connection, leaves by another
// interface than the one it was masqueraded on (nf_nat_oif_changed).
func (n *NAT) oifMoved(p *packet.Packet, slot uint32, m Manip, d conntrack.Dir) bool {
	if m != ManipSrc || d != conntrack.DirOriginal || p.OutIf == 0 {
		return false
	}
	x := n.t.NATData(slot)
	return x != 0 && x != p.OutIf
}

// DoBatch is Do for a batch of packets at one hook: drop[i] is set for
// each packet Do would drop, and left alone for the others. A packet whose
// new connection is not bound at manip m yet (Pending) is not rewritten:
// pending(i) is called for it, in the batch's order, for the caller to bind
// it (Setup or Null); nil leaves such packets alone.
//
// fastRun takes the packets of established connections, one status load
// each; the loop below takes the rest, one at a time.
func (n *NAT) DoBatch(pkts []*packet.Packet, m Manip, drop []bool, pending func(i int)) {
	drop = drop[:len(pkts)]
	done := conntrack.StatusConfirmed | doneBit(m)
	for i := n.fastRun(pkts, m); i < len(pkts); i += 1 + n.fastRun(pkts[i+1:], m) {
		p := pkts[i]
		st := n.t.Status(p.CT)
		want := wants[m&1][p.CTInfo&7]
		switch {
		case st&want != 0:
			// An established packet fastRun did not take: the general
			// rewrite (a bound connection is never pending).
		case st&done == 0 && !isICMPError(p):
			if pending != nil {
				pending(i)
			}
			continue
		case want != relatedMark:
			continue // no translation at this manip
		}
		if !n.do(p, m, st) {
			drop[i] = true
		}
	}
}

func l4Of(p *packet.Packet) []byte {
	if p.L4Off == 0 || p.Fragment && p.FragOff != 0 {
		return nil
	}
	return p.Frame[p.L4Off:p.L3End]
}

// target is what manip m writes into a packet from tuple o: the address
// and port of o's inverse (inverted, nf_nat_manip_pkt: the packet is made
// to look like the inverse of the other direction) or of o itself (for the
// packet an ICMP error quotes). An ICMP query's identifier is o.SrcPort
// either way.
func target(o *conntrack.Tuple, m Manip, inverted bool) ([]byte, uint16) {
	if (m == ManipSrc) != inverted {
		return o.Src[:], o.SrcPort
	}
	return o.Dst[:], o.DstPort
}

// rewrite changes the source (src) or destination of the IP packet ip to
// addr and port (id for ICMP queries), with incremental checksums.
// l4 is its transport header and payload, nil when it has none (a
// non-first fragment). inner says ip is the quoted packet of an ICMP
// error, of which only 8 bytes of transport header may be there.
//
// It never reads or writes outside ip and l4.
func rewrite(ip []byte, v6 bool, l4 []byte, proto uint8, addr []byte, port, id uint16, src, inner bool) {
	var d uint32 // the pseudo-header's change, for the L4 checksum
	if v6 {
		off := 24
		if src {
			off = 8
		}
		old := ip[off : off+16]
		if string(old) != string(addr[:16]) {
			d = delta128(old, addr[:16])
			copy(old, addr[:16])
		}
	} else {
		off := 16
		if src {
			off = 12
		}
		old := binary.BigEndian.Uint32(ip[off:])
		nw := binary.BigEndian.Uint32(addr)
		if old != nw {
			d = delta32(old, nw)
			binary.BigEndian.PutUint32(ip[off:], nw)
			binary.BigEndian.PutUint16(ip[10:], apply(binary.BigEndian.Uint16(ip[10:]), d))
		}
	}
	if len(l4) < 8 {
		return
	}
	poff := 2
	if src {
		poff = 0
	}
	switch proto {
	case packet.ProtoTCP:
		d += setPort(l4, poff, port)
		if d != 0 && len(l4) >= packet.TCPMinHeaderLen {
			binary.BigEndian.PutUint16(l4[16:], apply(binary.BigEndian.Uint16(l4[16:]), d))
		}
	case packet.ProtoUDP, packet.ProtoUDPLite:
		d += setPort(l4, poff, port)
		c := binary.BigEndian.Uint16(l4[6:])
		if d != 0 && (c != 0 || proto == packet.ProtoUDPLite) {
			if c = apply(c, d); c == 0 {
				c = 0xffff // CSUM_MANGLED_0: 0 would mean "no checksum"
			}
			binary.BigEndian.PutUint16(l4[6:], c)
		}
	case packet.ProtoDCCP:
		d += setPort(l4, poff, port)
		if d != 0 && len(l4) >= 12 {
			binary.BigEndian.PutUint16(l4[6:], apply(binary.BigEndian.Uint16(l4[6:]), d))
		}
	case packet.ProtoSCTP:
		// CRC32c covers no pseudo-header; it is recomputed over the whole
		// packet, which a quoted packet does not have (sctp_manip_pkt).
		if setPort(l4, poff, port) != 0 && !inner && len(l4) >= 12 {
			binary.LittleEndian.PutUint32(l4[8:], 0)
			binary.LittleEndian.PutUint32(l4[8:], crc32.Checksum(l4, castagnoli))
		}
	case packet.ProtoICMP:
		if !v6 && icmpv4Query(l4[0]) {
			if x := setPort(l4, 4, id); x != 0 {
				binary.BigEndian.PutUint16(l4[2:], apply(binary.BigEndian.Uint16(l4[2:]), x))
			}
		}
	case packet.ProtoICMPv6:
		if v6 && (l4[0] == packet.ICMPv6EchoRequest || l4[0] == packet.ICMPv6EchoReply) {
			d += setPort(l4, 4, id)
		}
		if d != 0 {
			binary.BigEndian.PutUint16(l4[2:], apply(binary.BigEndian.Uint16(l4[2:]), d))
		}
	}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// setPort writes a 16-bit field and returns its checksum delta (0 when it
// did not change).
func setPort(b []byte, off int, v uint16) uint32 {
	old := binary.BigEndian.Uint16(b[off:])
	if old == v {
		return 0
	}
	binary.BigEndian.PutUint16(b[off:], v)
	return uint32(^old) + uint32(v)
}

// icmpv4Query: the ICMP types whose identifier NAT maps (icmp_manip_pkt).
func icmpv4Query(typ uint8) bool {
	switch typ {
	case packet.ICMPv4Echo, packet.ICMPv4EchoReply, packet.ICMPv4Timestamp, packet.ICMPv4TimestampReply,
		packet.ICMPv4InfoRequest, packet.ICMPv4InfoReply, packet.ICMPv4AddrMaskRequest, packet.ICMPv4AddrMaskReply:
		return true
	}
	return false
}

// The incremental updates follow RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'),
// as packet.UpdateChecksum*: a delta is the one's-complement sum of the
// old words complemented and the new words, and several deltas add up, so
// that an address and a port change cost one update.

func delta32(old, nw uint32) uint32 {
	return uint32(^uint16(old>>16)) + uint32(^uint16(old)) + nw>>16 + nw&0xffff
}

func delta128(old, nw []byte) uint32 {
	var s uint32
	for i := 0; i < 16; i += 2 {
		s += uint32(^binary.BigEndian.Uint16(old[i:])) + uint32(binary.BigEndian.Uint16(nw[i:]))
	}
	return s
}

// apply returns checksum field c after changes whose deltas sum to d.
func apply(c uint16, d uint32) uint16 {
	s := uint32(^c) + d&0xffff + d>>16
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	return ^uint16(s)
}
