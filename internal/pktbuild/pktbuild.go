// Package pktbuild builds packets for tests: raw IPv4 and IPv6 packets
// with TCP, UDP and ICMP, correct lengths and checksums, Ethernet frames
// with VLAN tags, ARP, IPv6 extension headers and fragments. It favours
// clarity over speed and allocates freely; it is not for the packet path.
package pktbuild

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/nfgo/nfgo/packet"
)

// Options shape the headers the builders write. The zero value gives
// plain packets: TTL/hop limit 64, TOS 0, no options, IPv4 ID 0 without
// DF, TCP window 65535.
type Options struct {
	TTL uint8 // IPv4 TTL or IPv6 hop limit; 0 means 64
	TOS uint8 // IPv4 TOS or IPv6 traffic class

	// IPv4 only.
	ID          uint16
	DF          bool
	MF          bool
	FragOff     uint16 // fragment offset in bytes, a multiple of 8
	IPv4Options []byte // padded with zeros to a multiple of 4

	// IPv6 only.
	FlowLabel  uint32
	ExtHeaders []ExtHeader // in order, between the fixed header and L4

	// TCP only.
	Window     uint16 // 0 means 65535
	Urgent     uint16
	TCPOptions []byte // padded with End-of-options to a multiple of 4

	// BadChecksum stores the TCP, UDP or ICMP checksum plus one, and
	// BadIPChecksum the IPv4 header checksum plus one, so that tests can
	// check that they are noticed.
	BadChecksum   bool
	BadIPChecksum bool
}

func (o *Options) ttl() uint8 {
	if o == nil || o.TTL == 0 {
		return 64
	}
	return o.TTL
}

var noOptions Options

func opts(o *Options) *Options {
	if o == nil {
		return &noOptions
	}
	return o
}

// ExtHeader is an IPv6 extension header for Options.ExtHeaders. Next
// Header and length are filled in by the builder.
type ExtHeader struct {
	// Proto is packet.ProtoHopOpts, ProtoRouting, ProtoIPv6Fragment,
	// ProtoDstOpts or ProtoAH.
	Proto uint8
	// Data is what follows the first two bytes (for AH: after next
	// header and payload length). It is padded with zeros so that the
	// header is a multiple of 8 bytes (AH: 4). Empty hop-by-hop and
	// destination options get six bytes of PadN. Unused for fragment
	// headers.
	Data []byte

	// Fragment header fields.
	FragOff uint16 // bytes, a multiple of 8
	MF      bool
	FragID  uint32
}

func (e ExtHeader) encode(next uint8) []byte {
	if e.Proto == packet.ProtoIPv6Fragment {
		b := make([]byte, packet.IPv6FragmentLen)
		b[0] = next
		v := e.FragOff &^ 7
		if e.MF {
			v |= 1
		}
		binary.BigEndian.PutUint16(b[2:], v)
		binary.BigEndian.PutUint32(b[4:], e.FragID)
		return b
	}
	data := e.Data
	if len(data) == 0 && (e.Proto == packet.ProtoHopOpts || e.Proto == packet.ProtoDstOpts) {
		data = []byte{1, 4, 0, 0, 0, 0} // PadN
	}
	unit := 8
	if e.Proto == packet.ProtoAH {
		unit = 4
	}
	n := pad(2+len(data), unit)
	if n < 8 {
		n = 8
	}
	b := make([]byte, n)
	b[0] = next
	if e.Proto == packet.ProtoAH {
		b[1] = uint8(n/4 - 2)
	} else {
		b[1] = uint8(n/8 - 1)
	}
	copy(b[2:], data)
	return b
}

func pad(n, unit int) int { return (n + unit - 1) / unit * unit }

// IPv4 builds an IPv4 packet around payload (whose checksums the caller
// has computed), with a correct header checksum.
func IPv4(src, dst netip.Addr, proto uint8, payload []byte, o *Options) []byte {
	o = opts(o)
	hl := packet.IPv4MinHeaderLen + pad(len(o.IPv4Options), 4)
	b := make([]byte, hl+len(payload))
	ip := packet.IPv4(b)
	ip.SetVersionIHL(hl)
	ip.SetTOS(o.TOS)
	ip.SetTotalLen(uint16(len(b)))
	ip.SetID(o.ID)
	if o.DF {
		ip.SetFlags(packet.IPv4FlagDontFragment)
	}
	ip.SetFragment(o.FragOff, o.MF)
	ip.SetTTL(o.ttl())
	ip.SetProtocol(proto)
	ip.SetSrc(src)
	ip.SetDst(dst)
	copy(b[packet.IPv4MinHeaderLen:], o.IPv4Options)
	copy(b[hl:], payload)
	ip.SetChecksum(ip.ComputeChecksum())
	if o.BadIPChecksum {
		ip.SetChecksum(ip.Checksum() + 1)
	}
	return b
}

// IPv6 builds an IPv6 packet: the fixed header, o.ExtHeaders, then
// payload, of upper-layer protocol proto.
func IPv6(src, dst netip.Addr, proto uint8, payload []byte, o *Options) []byte {
	o = opts(o)
	var ext []byte
	for i, e := range o.ExtHeaders {
		next := proto
		if i+1 < len(o.ExtHeaders) {
			next = o.ExtHeaders[i+1].Proto
		}
		ext = append(ext, e.encode(next)...)
	}
	b := make([]byte, packet.IPv6HeaderLen+len(ext)+len(payload))
	ip := packet.IPv6(b)
	ip.SetVersion()
	ip.SetTrafficClass(o.TOS)
	ip.SetFlowLabel(o.FlowLabel)
	ip.SetPayloadLen(uint16(len(b) - packet.IPv6HeaderLen))
	if len(o.ExtHeaders) > 0 {
		ip.SetNextHeader(o.ExtHeaders[0].Proto)
	} else {
		ip.SetNextHeader(proto)
	}
	ip.SetHopLimit(o.ttl())
	ip.SetSrc(src)
	ip.SetDst(dst)
	copy(b[packet.IPv6HeaderLen:], ext)
	copy(b[packet.IPv6HeaderLen+len(ext):], payload)
	return b
}

// IP builds an IPv4 or IPv6 packet, by the family of src.
func IP(src, dst netip.Addr, proto uint8, payload []byte, o *Options) []byte {
	if src.Is4() {
		return IPv4(src, dst, proto, payload, o)
	}
	return IPv6(src, dst, proto, payload, o)
}

// UDP builds a UDP datagram in an IPv4 or IPv6 packet (by the family of
// src).
func UDP(src, dst netip.AddrPort, payload []byte, o *Options) []byte {
	u := make(packet.UDP, packet.UDPHeaderLen+len(payload))
	u.SetSrcPort(src.Port())
	u.SetDstPort(dst.Port())
	u.SetLength(uint16(len(u)))
	copy(u[packet.UDPHeaderLen:], payload)
	u.SetChecksum(u.ComputeChecksum(src.Addr(), dst.Addr()))
	if opts(o).BadChecksum {
		u.SetChecksum(u.Checksum() + 1)
	}
	return IP(src.Addr(), dst.Addr(), packet.ProtoUDP, u, o)
}

// TCP builds a TCP segment in an IPv4 or IPv6 packet (by the family of
// src).
func TCP(src, dst netip.AddrPort, flags uint8, seq, ack uint32, payload []byte, o *Options) []byte {
	oo := opts(o)
	hl := packet.TCPMinHeaderLen + pad(len(oo.TCPOptions), 4)
	t := make(packet.TCP, hl+len(payload))
	t.SetSrcPort(src.Port())
	t.SetDstPort(dst.Port())
	t.SetSeq(seq)
	t.SetAck(ack)
	t.SetDataOffset(hl)
	t.SetFlags(flags)
	w := oo.Window
	if w == 0 {
		w = 65535
	}
	t.SetWindow(w)
	t.SetUrgent(oo.Urgent)
	copy(t[packet.TCPMinHeaderLen:], oo.TCPOptions)
	copy(t[hl:], payload)
	t.SetChecksum(t.ComputeChecksum(src.Addr(), dst.Addr()))
	if oo.BadChecksum {
		t.SetChecksum(t.Checksum() + 1)
	}
	return IP(src.Addr(), dst.Addr(), packet.ProtoTCP, t, o)
}

// ICMP builds an ICMPv4 or ICMPv6 message (by the family of src) with the
// given type, code, the four type-specific bytes rest, and body.
func ICMP(src, dst netip.Addr, typ, code uint8, rest uint32, body []byte, o *Options) []byte {
	m := make([]byte, 8+len(body))
	m[0], m[1] = typ, code
	binary.BigEndian.PutUint32(m[4:], rest)
	copy(m[8:], body)
	var proto uint8
	var c uint16
	if src.Is4() {
		proto = packet.ProtoICMP
		c = packet.ICMPv4(m).ComputeChecksum()
	} else {
		proto = packet.ProtoICMPv6
		c = packet.ICMPv6(m).ComputeChecksum(src, dst)
	}
	if opts(o).BadChecksum {
		c++
	}
	binary.BigEndian.PutUint16(m[2:], c)
	return IP(src, dst, proto, m, o)
}

// ICMPEcho builds an echo request (or reply) with identifier id and
// sequence number seq, ICMPv4 or ICMPv6 by the family of src.
func ICMPEcho(src, dst netip.Addr, id, seq uint16, reply bool, payload []byte, o *Options) []byte {
	var typ uint8
	switch {
	case src.Is4() && reply:
		typ = packet.ICMPv4EchoReply
	case src.Is4():
		typ = packet.ICMPv4Echo
	case reply:
		typ = packet.ICMPv6EchoReply
	default:
		typ = packet.ICMPv6EchoRequest
	}
	return ICMP(src, dst, typ, 0, uint32(id)<<16|uint32(seq), payload, o)
}

// ICMPError builds an ICMP error from src to dst about the packet orig
// (an IP packet), quoting as much of orig as the kernel would: the IP
// header and 8 bytes for ICMPv4 (icmp_send quotes more, up to 576 bytes
// in all; 8 is what RFC 792 asks), and as much as fits in 1280 bytes for
// ICMPv6 (RFC 4443).
func ICMPError(src, dst netip.Addr, typ, code uint8, rest uint32, orig []byte, o *Options) []byte {
	quote := orig
	if src.Is4() {
		n := len(orig)
		if len(orig) >= packet.IPv4MinHeaderLen {
			n = min(n, packet.IPv4(orig).HeaderLen()+8)
		}
		quote = orig[:n]
	} else if n := 1280 - packet.IPv6HeaderLen - 8; len(quote) > n {
		quote = quote[:n]
	}
	return ICMP(src, dst, typ, code, rest, quote, o)
}

// UDP4 is UDP with IPv4 addresses and default options.
func UDP4(src, dst netip.AddrPort, payload []byte) []byte { return UDP(src, dst, payload, nil) }

// UDP6 is UDP with IPv6 addresses and default options.
func UDP6(src, dst netip.AddrPort, payload []byte) []byte { return UDP(src, dst, payload, nil) }

// TCP4 is TCP with IPv4 addresses and default options.
func TCP4(src, dst netip.AddrPort, flags uint8, seq, ack uint32, payload []byte) []byte {
	return TCP(src, dst, flags, seq, ack, payload, nil)
}

// TCP6 is TCP with IPv6 addresses and default options.
func TCP6(src, dst netip.AddrPort, flags uint8, seq, ack uint32, payload []byte) []byte {
	return TCP(src, dst, flags, seq, ack, payload, nil)
}

// ICMP4Echo is an ICMPv4 echo request or reply without payload.
func ICMP4Echo(src, dst netip.Addr, id, seq uint16, reply bool) []byte {
	return ICMPEcho(src, dst, id, seq, reply, nil, nil)
}

// ICMP6Echo is an ICMPv6 echo request or reply without payload.
func ICMP6Echo(src, dst netip.Addr, id, seq uint16, reply bool) []byte {
	return ICMPEcho(src, dst, id, seq, reply, nil, nil)
}

// Parsed is the raw IP packet b parsed into a Packet of its own, as a
// port would hand it to the engine; a packet that does not parse fails tb.
func Parsed(tb testing.TB, b []byte) *packet.Packet {
	tb.Helper()
	return parsed(tb, b, packet.LinkRaw)
}

// ParsedFrame is Parsed for an Ethernet frame.
func ParsedFrame(tb testing.TB, b []byte) *packet.Packet {
	tb.Helper()
	return parsed(tb, b, packet.LinkEthernet)
}

func parsed(tb testing.TB, b []byte, link packet.LinkType) *packet.Packet {
	tb.Helper()
	p := packet.New()
	copy(p.SetFrame(len(b)), b)
	if r := p.Parse(link); r != packet.ReasonNone {
		tb.Fatalf("packet does not parse: %v", r)
	}
	return p
}
