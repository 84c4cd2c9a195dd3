package engine

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/nfgo/nfgo/packet"
)

// fragment splits an IPv4 packet without DF that is larger than ifc's MTU
// into fragments and queues them, as ip_fragment: every fragment but the
// last carries a multiple of 8 bytes, all keep the identification, and
// options not marked "copied" are replaced with no-ops after the first
// fragment (ip_options_fragment).
func (pp *pipe) fragment(p *packet.Packet, ifc *iface) {
	ip := p.IPv4()
	hl := ip.HeaderLen()
	payload := p.L3()[hl:]
	// Each fragment must also fit a packet buffer with room for a link header.
	room := packet.BufSize - packet.Headroom - packet.EthernetHeaderLen - hl
	chunk := (min(ifc.mtu-hl, room)) &^ 7
	if chunk < 8 {
		pp.discard(p, DropTooBig)
		return
	}
	baseOff := ip.FragmentOffset()
	lastMF := ip.MoreFragments()
	for off := 0; off < len(payload); off += chunk {
		n := min(chunk, len(payload)-off)
		q := pp.newPacket()
		if q == nil {
			pp.discard(p, DropTooBig)
			return
		}
		b := q.SetFrame(hl + n)
		copy(b, ip[:hl])
		copy(b[hl:], payload[off:off+n])
		f := packet.IPv4(b)
		if off > 0 {
			noCopyOptions(f.Options())
		}
		f.SetTotalLen(uint16(hl + n))
		f.SetFragment(baseOff+uint16(off), lastMF || off+n < len(payload))
		f.SetChecksum(0)
		f.SetChecksum(f.ComputeChecksum())
		if q.Parse(packet.LinkRaw) != packet.ReasonNone {
			continue
		}
		q.OutIf, q.NextHop, q.Mark = p.OutIf, p.NextHop, p.Mark
		pp.e.ctr.fragmentsOut.Add(1)
		pp.transmit(q)
	}
}

// noCopyOptions overwrites options whose "copied" flag is clear with no-ops.
func noCopyOptions(opts []byte) {
	for i := 0; i < len(opts); {
		switch t := opts[i]; {
		case t == 0: // end of options
			return
		case t == 1: // no-op
			i++
		default:
			if i+1 >= len(opts) || opts[i+1] < 2 {
				return
			}
			n := min(int(opts[i+1]), len(opts)-i)
			if t&0x80 == 0 {
				for k := i; k < i+n; k++ {
					opts[k] = 1
				}
			}
			i += n
		}
	}
}

// fragID numbers the IPv6 datagrams the engine fragments.
var fragID atomic.Uint32

// fragment6 splits an IPv6 datagram the engine reassembled and that does
// not fit ifc's MTU into fragments, as ip6_fragment: the unfragmentable
// part (the fixed header, hop-by-hop and routing headers) is repeated in
// each, followed by a fragment header and a multiple of 8 bytes of the
// rest.
func (pp *pipe) fragment6(p *packet.Packet, ifc *iface) {
	l3 := p.L3()
	unfrag, next, nextOff := unfragmentable6(l3)
	if unfrag < 0 {
		pp.discard(p, DropTooBig)
		return
	}
	rest := l3[unfrag:]
	room := packet.BufSize - packet.Headroom - packet.EthernetHeaderLen - unfrag - 8
	chunk := min(ifc.mtu-unfrag-8, room) &^ 7
	if chunk < 8 {
		pp.discard(p, DropTooBig)
		return
	}
	id := fragID.Add(1)
	for off := 0; off < len(rest); off += chunk {
		n := min(chunk, len(rest)-off)
		q := pp.newPacket()
		if q == nil {
			pp.discard(p, DropTooBig)
			return
		}
		b := q.SetFrame(unfrag + 8 + n)
		copy(b, l3[:unfrag])
		b[nextOff] = packet.ProtoIPv6Fragment
		fh := b[unfrag : unfrag+8]
		fh[0], fh[1] = next, 0
		fo := uint16(off)
		if off+n < len(rest) {
			fo |= 1 // more fragments
		}
		binary.BigEndian.PutUint16(fh[2:], fo)
		binary.BigEndian.PutUint32(fh[4:], id)
		copy(b[unfrag+8:], rest[off:off+n])
		packet.IPv6(b).SetPayloadLen(uint16(len(b) - packet.IPv6HeaderLen))
		if q.Parse(packet.LinkRaw) != packet.ReasonNone {
			continue
		}
		q.OutIf, q.NextHop, q.Mark = p.OutIf, p.NextHop, p.Mark
		pp.e.ctr.fragmentsOut.Add(1)
		pp.transmit(q)
	}
}

// unfragmentable6 finds where an IPv6 packet's fragmentable part starts:
// after the fixed header and any hop-by-hop, routing, and destination
// options header that comes before a routing header (RFC 8200 4.5). It
// returns that offset, the protocol of the first fragmentable header, and
// the offset of the byte that names it; -1 if the chain is malformed.
func unfragmentable6(l3 []byte) (off int, next uint8, nextOff int) {
	off, next, nextOff = packet.IPv6HeaderLen, l3[6], 6
	for {
		switch next {
		case packet.ProtoHopOpts, packet.ProtoRouting, packet.ProtoDstOpts:
		default:
			return off, next, nextOff
		}
		if len(l3) < off+8 {
			return -1, 0, 0
		}
		if next == packet.ProtoDstOpts && !routingFollows(l3, off) {
			return off, next, nextOff
		}
		n := (int(l3[off+1]) + 1) * 8
		next, nextOff = l3[off], off
		off += n
		if off > len(l3) {
			return -1, 0, 0
		}
	}
}

// routingFollows reports whether the destination options header at off is
// followed, through further destination options, by a routing header.
func routingFollows(l3 []byte, off int) bool {
	for i := 0; i < 4 && len(l3) >= off+8; i++ {
		next := l3[off]
		if next == packet.ProtoRouting {
			return true
		}
		if next != packet.ProtoDstOpts {
			return false
		}
		off += (int(l3[off+1]) + 1) * 8
	}
	return false
}
