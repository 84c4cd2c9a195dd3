package ctcmd

import (
	"strconv"
	"strings"
	"time"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/packet"
)

// The output of conntrack-tools' conntrack(8): libnetfilter_conntrack's
// default format (__snprintf_conntrack_default), as
//
//	tcp      6 431999 ESTABLISHED src=198.18.0.2 dst=198.18.1.2 sport=40000 dport=80 src=198.18.1.2 dst=198.18.0.2 sport=80 dport=40000 [ASSURED] mark=0 use=1
//	    [NEW] udp      17 30 src=... [UNREPLIED] src=...
//
// protocol name padded to 8 and its number; the seconds left; the TCP
// state; the original tuple, its counters (with accounting), [UNREPLIED]
// before a reply tuple never seen; the reply tuple and its counters;
// [ASSURED]; mark; zone; use. Event lines start with the event type
// right-aligned in 9 columns and carry a mark only when it is not 0, as
// ctnetlink sends it.

// ctFormat selects the parts of a line.
type ctFormat struct {
	event    conntrack.EventType // 0 for a listing
	extended bool                // -o extended: the layer 3 protocol first
	id       bool                // -o id
}

// ProtoName names a protocol as conntrack(8) does, or says "unknown".
func ProtoName(p uint8) string {
	switch p {
	case packet.ProtoTCP:
		return "tcp"
	case packet.ProtoUDP:
		return "udp"
	case packet.ProtoICMP:
		return "icmp"
	case packet.ProtoICMPv6:
		return "icmpv6"
	case 132:
		return "sctp"
	case 33:
		return "dccp"
	case 136:
		return "udplite"
	case 47:
		return "gre"
	}
	return "unknown"
}

// ctProtoNumber reads a protocol by name or number (-p).
func ctProtoNumber(s string) (uint8, bool) {
	for n := 0; n < 256; n++ {
		if name := ProtoName(uint8(n)); name != "unknown" && name == strings.ToLower(s) {
			return uint8(n), true
		}
	}
	n, err := strconv.ParseUint(s, 10, 8)
	return uint8(n), err == nil
}

func writeTuple(sb *strings.Builder, t *conntrack.Tuple) {
	sb.WriteString("src=" + t.SrcAddr().String() + " dst=" + t.DstAddr().String() + " ")
	switch t.Proto {
	case packet.ProtoICMP, packet.ProtoICMPv6:
		sb.WriteString("type=" + strconv.Itoa(int(t.DstPort>>8)) + " code=" + strconv.Itoa(int(t.DstPort&0xff)) +
			" id=" + strconv.Itoa(int(t.SrcPort)) + " ")
	case packet.ProtoTCP, packet.ProtoUDP, 132, 33, 136:
		sb.WriteString("sport=" + strconv.Itoa(int(t.SrcPort)) + " dport=" + strconv.Itoa(int(t.DstPort)) + " ")
	}
}

// formatEntry is one line of conntrack -L or -E, without the newline.
func formatEntry(x *conntrack.Entry, f ctFormat, accounting bool) string {
	var sb strings.Builder
	switch f.event {
	case conntrack.EventNew:
		sb.WriteString("    [NEW] ")
	case conntrack.EventUpdate:
		sb.WriteString(" [UPDATE] ")
	case conntrack.EventDestroy:
		sb.WriteString("[DESTROY] ")
	}
	if f.extended {
		if x.Orig.Family == packet.FamilyIPv6 {
			sb.WriteString("ipv6     10 ")
		} else {
			sb.WriteString("ipv4     2 ")
		}
	}
	name := ProtoName(x.Orig.Proto)
	sb.WriteString(name + strings.Repeat(" ", max(8-len(name), 0)) + " " + strconv.Itoa(int(x.Orig.Proto)) + " ")
	sb.WriteString(strconv.FormatInt(int64(x.Timeout/time.Second), 10) + " ")
	if x.Orig.Proto == packet.ProtoTCP {
		sb.WriteString(x.TCPState.String() + " ")
	}
	writeTuple(&sb, &x.Orig)
	if accounting {
		c := x.Counters[conntrack.DirOriginal]
		sb.WriteString("packets=" + strconv.FormatUint(c.Packets, 10) + " bytes=" + strconv.FormatUint(c.Bytes, 10) + " ")
	}
	if x.Status&conntrack.StatusSeenReply == 0 {
		sb.WriteString("[UNREPLIED] ")
	}
	writeTuple(&sb, &x.Reply)
	if accounting {
		c := x.Counters[conntrack.DirReply]
		sb.WriteString("packets=" + strconv.FormatUint(c.Packets, 10) + " bytes=" + strconv.FormatUint(c.Bytes, 10) + " ")
	}
	if x.Status&conntrack.StatusAssured != 0 {
		sb.WriteString("[ASSURED] ")
	}
	if f.event == 0 || x.Mark != 0 {
		sb.WriteString("mark=" + strconv.FormatUint(uint64(x.Mark), 10) + " ")
	}
	if x.Zone != 0 {
		sb.WriteString("zone=" + strconv.Itoa(int(x.Zone)) + " ")
	}
	if f.event == 0 {
		sb.WriteString("use=1 ")
	}
	if f.id {
		sb.WriteString("id=" + strconv.FormatUint(uint64(x.Slot), 10) + " ")
	}
	return strings.TrimSuffix(sb.String(), " ")
}
