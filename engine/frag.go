package engine

import (
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
