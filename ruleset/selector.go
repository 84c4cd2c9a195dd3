package ruleset

import (
	"encoding/binary"
	"net/netip"
	"strings"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/packet"
)

// SelKey names what a selector reads from the packet or its metadata.
type SelKey uint8

const (
	SelInvalid SelKey = iota
	SelIPSaddr
	SelIPDaddr
	SelIPProtocol
	SelIPTTL
	SelIPLength
	SelIPDSCP
	SelIPID
	SelIP6Saddr
	SelIP6Daddr
	SelIP6Nexthdr
	SelIP6Hoplimit
	SelIP6Length
	SelTCPSport
	SelTCPDport
	SelTCPFlags
	SelTCPSequence
	SelTCPAckseq
	SelTCPWindow
	SelUDPSport
	SelUDPDport
	SelUDPLength
	SelTHSport
	SelTHDport
	SelICMPType
	SelICMPCode
	SelICMPID
	SelICMPSequence
	SelICMPv6Type
	SelICMPv6Code
	SelMetaIifname
	SelMetaOifname
	SelMetaIif
	SelMetaOif
	SelMetaL4proto
	SelMetaNfproto
	SelMetaMark
	SelMetaLength
	SelMetaPkttype
	SelCTState
	SelCTStatus
	SelCTMark
	SelCTDirection
	SelCTZone
	SelFibDaddrType
	SelFibSaddrType
	numSels
)

type selInfo struct {
	proto, name string
	field       Field
	unqualified bool          // a meta key printed without "meta"
	family      packet.Family // the network protocol it needs, or 0
	l4          uint8         // the transport protocol it needs, or 0 (th: any with ports)
	off         int           // offset in its header
}

func intField(size, bits int) Field { return Field{Type: TypeInteger, Size: size, Bits: bits} }

const (
	protoTCP    = 6
	protoUDP    = 17
	protoICMP   = 1
	protoICMPv6 = 58
	protoTH     = 255 // pseudo: any transport header with ports
)

var selInfos = [numSels]selInfo{
	SelIPSaddr:      {proto: "ip", name: "saddr", field: fieldOf(TypeIPv4Addr), family: packet.FamilyIPv4, off: 12},
	SelIPDaddr:      {proto: "ip", name: "daddr", field: fieldOf(TypeIPv4Addr), family: packet.FamilyIPv4, off: 16},
	SelIPProtocol:   {proto: "ip", name: "protocol", field: fieldOf(TypeInetProto), family: packet.FamilyIPv4, off: 9},
	SelIPTTL:        {proto: "ip", name: "ttl", field: intField(1, 0), family: packet.FamilyIPv4, off: 8},
	SelIPLength:     {proto: "ip", name: "length", field: intField(2, 0), family: packet.FamilyIPv4, off: 2},
	SelIPDSCP:       {proto: "ip", name: "dscp", field: Field{Type: TypeDSCP, Size: 1, Bits: 6}, family: packet.FamilyIPv4, off: 1},
	SelIPID:         {proto: "ip", name: "id", field: intField(2, 0), family: packet.FamilyIPv4, off: 4},
	SelIP6Saddr:     {proto: "ip6", name: "saddr", field: fieldOf(TypeIPv6Addr), family: packet.FamilyIPv6, off: 8},
	SelIP6Daddr:     {proto: "ip6", name: "daddr", field: fieldOf(TypeIPv6Addr), family: packet.FamilyIPv6, off: 24},
	SelIP6Nexthdr:   {proto: "ip6", name: "nexthdr", field: fieldOf(TypeInetProto), family: packet.FamilyIPv6, off: 6},
	SelIP6Hoplimit:  {proto: "ip6", name: "hoplimit", field: intField(1, 0), family: packet.FamilyIPv6, off: 7},
	SelIP6Length:    {proto: "ip6", name: "length", field: intField(2, 0), family: packet.FamilyIPv6, off: 4},
	SelTCPSport:     {proto: "tcp", name: "sport", field: fieldOf(TypeInetService), l4: protoTCP, off: 0},
	SelTCPDport:     {proto: "tcp", name: "dport", field: fieldOf(TypeInetService), l4: protoTCP, off: 2},
	SelTCPFlags:     {proto: "tcp", name: "flags", field: fieldOf(TypeTCPFlags), l4: protoTCP, off: 13},
	SelTCPSequence:  {proto: "tcp", name: "sequence", field: intField(4, 0), l4: protoTCP, off: 4},
	SelTCPAckseq:    {proto: "tcp", name: "ackseq", field: intField(4, 0), l4: protoTCP, off: 8},
	SelTCPWindow:    {proto: "tcp", name: "window", field: intField(2, 0), l4: protoTCP, off: 14},
	SelUDPSport:     {proto: "udp", name: "sport", field: fieldOf(TypeInetService), l4: protoUDP, off: 0},
	SelUDPDport:     {proto: "udp", name: "dport", field: fieldOf(TypeInetService), l4: protoUDP, off: 2},
	SelUDPLength:    {proto: "udp", name: "length", field: intField(2, 0), l4: protoUDP, off: 4},
	SelTHSport:      {proto: "th", name: "sport", field: fieldOf(TypeInetService), l4: protoTH, off: 0},
	SelTHDport:      {proto: "th", name: "dport", field: fieldOf(TypeInetService), l4: protoTH, off: 2},
	SelICMPType:     {proto: "icmp", name: "type", field: fieldOf(TypeICMPType), family: packet.FamilyIPv4, l4: protoICMP, off: 0},
	SelICMPCode:     {proto: "icmp", name: "code", field: fieldOf(TypeICMPCode), family: packet.FamilyIPv4, l4: protoICMP, off: 1},
	SelICMPID:       {proto: "icmp", name: "id", field: intField(2, 0), family: packet.FamilyIPv4, l4: protoICMP, off: 4},
	SelICMPSequence: {proto: "icmp", name: "sequence", field: intField(2, 0), family: packet.FamilyIPv4, l4: protoICMP, off: 6},
	SelICMPv6Type:   {proto: "icmpv6", name: "type", field: fieldOf(TypeICMPv6Type), family: packet.FamilyIPv6, l4: protoICMPv6, off: 0},
	SelICMPv6Code:   {proto: "icmpv6", name: "code", field: fieldOf(TypeICMPv6Code), family: packet.FamilyIPv6, l4: protoICMPv6, off: 1},
	SelMetaIifname:  {proto: "meta", name: "iifname", field: fieldOf(TypeIfname), unqualified: true},
	SelMetaOifname:  {proto: "meta", name: "oifname", field: fieldOf(TypeIfname), unqualified: true},
	SelMetaIif:      {proto: "meta", name: "iif", field: fieldOf(TypeIfindex), unqualified: true},
	SelMetaOif:      {proto: "meta", name: "oif", field: fieldOf(TypeIfindex), unqualified: true},
	SelMetaL4proto:  {proto: "meta", name: "l4proto", field: fieldOf(TypeInetProto)},
	SelMetaNfproto:  {proto: "meta", name: "nfproto", field: fieldOf(TypeNFProto)},
	SelMetaMark:     {proto: "meta", name: "mark", field: fieldOf(TypeMark)},
	SelMetaLength:   {proto: "meta", name: "length", field: intField(4, 0)},
	SelMetaPkttype:  {proto: "meta", name: "pkttype", field: fieldOf(TypePktType)},
	SelCTState:      {proto: "ct", name: "state", field: fieldOf(TypeCTState)},
	SelCTStatus:     {proto: "ct", name: "status", field: fieldOf(TypeCTStatus)},
	SelCTMark:       {proto: "ct", name: "mark", field: fieldOf(TypeMark)},
	SelCTDirection:  {proto: "ct", name: "direction", field: fieldOf(TypeCTDir)},
	SelCTZone:       {proto: "ct", name: "zone", field: intField(2, 0)},
	SelFibDaddrType: {proto: "fib", name: "daddr type", field: fieldOf(TypeFibAddrType)},
	SelFibSaddrType: {proto: "fib", name: "saddr type", field: fieldOf(TypeFibAddrType)},
}

// lookupSel finds the selector proto name ("tcp", "dport").
func lookupSel(proto, name string) SelKey {
	for k := SelKey(1); k < numSels; k++ {
		if selInfos[k].proto == proto && selInfos[k].name == name {
			return k
		}
	}
	return SelInvalid
}

// Selector reads one field of the packet or its metadata.
type Selector struct {
	Key SelKey
}

func (*Selector) exprNode() {}

func (s *Selector) info() *selInfo { return &selInfos[s.Key] }

// Field is the type of what the selector yields.
func (s *Selector) Field() Field { return selInfos[s.Key].field }

func (s *Selector) write(sb *strings.Builder) {
	in := s.info()
	if !in.unqualified {
		sb.WriteString(in.proto + " ")
	}
	sb.WriteString(in.name)
}

// load writes the selector's value for p into dst (of the field's size).
// It reports false when the packet has no such field: the rule then does
// not match, as when the kernel's expression breaks (NFT_BREAK).
func (s *Selector) load(p *packet.Packet, env Env, dst []byte) bool {
	in := s.info()
	if in.family != 0 && p.Family != in.family {
		return false
	}
	switch in.proto {
	case "ip", "ip6":
		l3 := p.Frame[p.L3Off:p.L3End]
		if in.off+len(dst) > len(l3) {
			return false
		}
		copy(dst, l3[in.off:])
		if s.Key == SelIPDSCP {
			dst[0] >>= 2
		}
		return true
	case "tcp", "udp", "th", "icmp", "icmpv6":
		if p.L4Off == 0 || p.Fragment && p.FragOff != 0 {
			return false
		}
		if in.l4 == protoTH {
			switch p.Proto {
			case protoTCP, protoUDP, 33, 132, 136:
			default:
				return false
			}
		} else if p.Proto != in.l4 {
			return false
		}
		l4 := p.Frame[p.L4Off:p.L3End]
		if in.off+len(dst) > len(l4) {
			return false
		}
		copy(dst, l4[in.off:])
		return true
	case "meta":
		return s.loadMeta(p, env, dst)
	case "ct":
		return s.loadCT(p, env, dst)
	case "fib":
		var a netip.Addr
		var ok bool
		if s.Key == SelFibDaddrType {
			a, ok = packetAddr(p, false)
		} else {
			a, ok = packetAddr(p, true)
		}
		if !ok {
			return false
		}
		binary.BigEndian.PutUint32(dst, fibType(a, env))
		return true
	}
	return false
}

func (s *Selector) loadMeta(p *packet.Packet, env Env, dst []byte) bool {
	switch s.Key {
	case SelMetaIifname, SelMetaOifname:
		idx := p.InIf
		if s.Key == SelMetaOifname {
			idx = p.OutIf
		}
		if idx == 0 || env == nil {
			return false
		}
		name := env.IfName(idx)
		clear(dst)
		copy(dst[:len(dst)-1], name)
		return true
	case SelMetaIif, SelMetaOif:
		idx := p.InIf
		if s.Key == SelMetaOif {
			idx = p.OutIf
		}
		if idx == 0 {
			return false
		}
		binary.BigEndian.PutUint32(dst, idx)
		return true
	case SelMetaL4proto:
		if p.Family != packet.FamilyIPv4 && p.Family != packet.FamilyIPv6 {
			return false
		}
		dst[0] = p.Proto
		return true
	case SelMetaNfproto:
		dst[0] = uint8(p.Family)
		return true
	case SelMetaMark:
		binary.BigEndian.PutUint32(dst, p.Mark)
		return true
	case SelMetaLength:
		binary.BigEndian.PutUint32(dst, uint32(p.Len()))
		return true
	case SelMetaPkttype:
		dst[0] = pktType(p)
		return true
	}
	return false
}

func (s *Selector) loadCT(p *packet.Packet, env Env, dst []byte) bool {
	info := conntrack.CTInfo(p.CTInfo)
	if s.Key == SelCTState {
		bit := info.StateBit()
		if info == conntrack.InfoNone && p.Flags&packet.FlagNoTrack != 0 {
			bit = conntrack.StateUntracked
		}
		binary.BigEndian.PutUint32(dst, bit)
		return true
	}
	if p.CT == 0 || info == conntrack.InfoUntracked {
		return false
	}
	switch s.Key {
	case SelCTDirection:
		dst[0] = 0
		if info.IsReply() {
			dst[0] = 1
		}
		return true
	case SelCTZone:
		binary.BigEndian.PutUint16(dst, p.Zone)
		return true
	case SelCTMark:
		if env == nil {
			return false
		}
		binary.BigEndian.PutUint32(dst, env.CTMark(p.CT))
		return true
	case SelCTStatus:
		if env == nil {
			return false
		}
		binary.BigEndian.PutUint32(dst, env.CTStatus(p.CT))
		return true
	}
	return false
}

// packetAddr reads the source or destination address of an IPv4 or IPv6
// packet.
func packetAddr(p *packet.Packet, src bool) (netip.Addr, bool) {
	l3 := p.Frame[p.L3Off:p.L3End]
	switch p.Family {
	case packet.FamilyIPv4:
		if len(l3) < 20 {
			return netip.Addr{}, false
		}
		off := 16
		if src {
			off = 12
		}
		return netip.AddrFrom4([4]byte(l3[off : off+4])), true
	case packet.FamilyIPv6:
		if len(l3) < 40 {
			return netip.Addr{}, false
		}
		off := 24
		if src {
			off = 8
		}
		return netip.AddrFrom16([16]byte(l3[off : off+16])), true
	}
	return netip.Addr{}, false
}

// fibType classifies an address as the kernel's fib expression does with
// its route type (RTN_*), from what the engine knows: local addresses,
// multicast, the limited broadcast address and the broadcast addresses of
// the engine's subnets; everything else is unicast.
func fibType(a netip.Addr, env Env) uint32 {
	t := AddrOther
	if env != nil {
		t = env.AddrType(a)
	}
	switch {
	case t == AddrLocal:
		return 2 // local
	case a.IsMulticast():
		return 5 // multicast
	case t == AddrBroadcast, a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return 3 // broadcast
	}
	return 1 // unicast
}

// pktType is the kernel's skb->pkt_type as far as the frame tells it: from
// the Ethernet destination when there is one, else from the IP
// destination. Frames for other hosts are not told apart from ours.
func pktType(p *packet.Packet) uint8 {
	if p.Link == packet.LinkEthernet && len(p.Frame) >= 6 {
		d := p.Frame[:6]
		if d[0]&d[1]&d[2]&d[3]&d[4]&d[5] == 0xff {
			return 1
		}
		if d[0]&1 != 0 {
			return 2
		}
		return 0
	}
	a, ok := packetAddr(p, false)
	if !ok {
		return 0
	}
	if a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return 1
	}
	if a.IsMulticast() {
		return 2
	}
	return 0
}
