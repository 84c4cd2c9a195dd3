package pktdesc

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/nfgo/nfgo/cmd/nfgo/internal/ctcmd"
	"github.com/nfgo/nfgo/packet"
)

// Flow is what a packet's headers say about its flow: addresses, protocol
// and ports (ICMP: type, code, and the echo identifier in SrcPort).
type Flow struct {
	Src   netip.Addr `json:"src"`
	Dst   netip.Addr `json:"dst"`
	Proto string     `json:"proto"`
	Sport uint16     `json:"sport,omitempty"`
	Dport uint16     `json:"dport,omitempty"`
	Flags string     `json:"tcp_flags,omitempty"`
	Type  *uint8     `json:"icmp_type,omitempty"`
	Code  *uint8     `json:"icmp_code,omitempty"`
	Len   int        `json:"len"`
}

// FlowOf describes a parsed IP packet.
func FlowOf(p *packet.Packet) Flow {
	f := Flow{Src: p.Src(), Dst: p.Dst(), Proto: protoName(p.Proto), Len: p.Len()}
	if p.L4Off == 0 {
		return f
	}
	switch p.Proto {
	case packet.ProtoTCP:
		f.Sport, f.Dport = p.SrcPort, p.DstPort
		if l4 := p.L4(); len(l4) >= 14 {
			f.Flags = tcpFlags(l4[13])
		}
	case packet.ProtoUDP, 132, 33, 136:
		f.Sport, f.Dport = p.SrcPort, p.DstPort
	case packet.ProtoICMP, packet.ProtoICMPv6:
		t, c := p.ICMPType, p.ICMPCode
		f.Type, f.Code = &t, &c
	}
	return f
}

// String is a one-line summary, as tcpdump would say it.
func (f Flow) String() string {
	var sb strings.Builder
	sb.WriteString(f.Proto + " ")
	if f.Sport != 0 || f.Dport != 0 {
		sb.WriteString(netip.AddrPortFrom(f.Src, f.Sport).String() + " > " + netip.AddrPortFrom(f.Dst, f.Dport).String())
	} else {
		sb.WriteString(f.Src.String() + " > " + f.Dst.String())
	}
	if f.Flags != "" {
		sb.WriteString(" [" + f.Flags + "]")
	}
	if f.Type != nil {
		fmt.Fprintf(&sb, " type %d code %d", *f.Type, *f.Code)
	}
	return sb.String()
}

// protoName names a protocol as conntrack does, or gives its number.
func protoName(p uint8) string {
	if name := ctcmd.ProtoName(p); name != "unknown" {
		return name
	}
	return strconv.Itoa(int(p))
}

// tcpFlags names the flags as nft does (fin,syn,rst,psh,ack,urg,ecn,cwr).
func tcpFlags(b uint8) string {
	names := [...]string{"fin", "syn", "rst", "psh", "ack", "urg", "ecn", "cwr"}
	var out []string
	for i, n := range names {
		if b&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return strings.Join(out, ",")
}

// NFTPacket describes a packet's headers the way nft monitor trace does:
// iif/oif, then the network and transport header fields as nft selectors.
func NFTPacket(p *packet.Packet, ifName func(uint32) string) string {
	var sb strings.Builder
	if p.InIf != 0 {
		fmt.Fprintf(&sb, "iif %q ", ifName(p.InIf))
	}
	if p.OutIf != 0 {
		fmt.Fprintf(&sb, "oif %q ", ifName(p.OutIf))
	}
	l3 := p.L3()
	switch p.Family {
	case packet.FamilyIPv4:
		ip := packet.IPv4(l3)
		fmt.Fprintf(&sb, "ip saddr %s ip daddr %s ip dscp %s ip ecn %s ip ttl %d ip id %d ip length %d",
			p.Src(), p.Dst(), dscpName(l3[1]>>2), ecnName(l3[1]&3), ip.TTL(), uint16(l3[4])<<8|uint16(l3[5]), p.Len())
	case packet.FamilyIPv6:
		tc := uint8(uint16(l3[0])<<4|uint16(l3[1])>>4) & 0xff
		fmt.Fprintf(&sb, "ip6 saddr %s ip6 daddr %s ip6 dscp %s ip6 ecn %s ip6 hoplimit %d ip6 flowlabel %d ip6 nexthdr %s ip6 length %d",
			p.Src(), p.Dst(), dscpName(tc>>2), ecnName(tc&3), l3[7], uint32(l3[1]&0xf)<<16|uint32(l3[2])<<8|uint32(l3[3]),
			protoName(p.Proto), p.Len()-40)
	}
	if p.L4Off == 0 {
		return sb.String()
	}
	l4 := p.L4()
	switch p.Proto {
	case packet.ProtoTCP:
		if len(l4) >= 16 {
			fmt.Fprintf(&sb, " tcp sport %d tcp dport %d tcp flags == %s tcp window %d",
				p.SrcPort, p.DstPort, tcpFlagsOr(l4[13]), uint16(l4[14])<<8|uint16(l4[15]))
		}
	case packet.ProtoUDP:
		if len(l4) >= 6 {
			fmt.Fprintf(&sb, " udp sport %d udp dport %d udp length %d", p.SrcPort, p.DstPort, uint16(l4[4])<<8|uint16(l4[5]))
		}
	case packet.ProtoICMP:
		fmt.Fprintf(&sb, " icmp type %s icmp code %d", icmpTypeName(p.ICMPType), p.ICMPCode)
		if (p.ICMPType == 0 || p.ICMPType == 8) && len(l4) >= 8 {
			fmt.Fprintf(&sb, " icmp id %d icmp sequence %d", uint16(l4[4])<<8|uint16(l4[5]), uint16(l4[6])<<8|uint16(l4[7]))
		}
	case packet.ProtoICMPv6:
		fmt.Fprintf(&sb, " icmpv6 type %s icmpv6 code %d", icmpv6TypeName(p.ICMPType), p.ICMPCode)
	}
	return sb.String()
}

func tcpFlagsOr(b uint8) string {
	s := tcpFlags(b)
	if s == "" {
		return "0x0"
	}
	if strings.Contains(s, ",") {
		return "(" + strings.ReplaceAll(s, ",", " | ") + ")"
	}
	return s
}

func dscpName(d uint8) string {
	switch {
	case d == 0:
		return "cs0"
	case d == 46:
		return "ef"
	case d%8 == 0:
		return "cs" + strconv.Itoa(int(d/8))
	}
	return fmt.Sprintf("0x%02x", d)
}

func ecnName(e uint8) string {
	return [...]string{"not-ect", "ect1", "ect0", "ce"}[e&3]
}

func icmpTypeName(t uint8) string {
	names := map[uint8]string{0: "echo-reply", 3: "destination-unreachable", 5: "redirect", 8: "echo-request",
		11: "time-exceeded", 12: "parameter-problem", 13: "timestamp-request", 14: "timestamp-reply"}
	if n, ok := names[t]; ok {
		return n
	}
	return strconv.Itoa(int(t))
}

func icmpv6TypeName(t uint8) string {
	names := map[uint8]string{1: "destination-unreachable", 2: "packet-too-big", 3: "time-exceeded", 4: "parameter-problem",
		128: "echo-request", 129: "echo-reply", 133: "nd-router-solicit", 134: "nd-router-advert",
		135: "nd-neighbor-solicit", 136: "nd-neighbor-advert"}
	if n, ok := names[t]; ok {
		return n
	}
	return strconv.Itoa(int(t))
}
