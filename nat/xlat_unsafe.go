//go:build amd64 || arm64

package nat

import (
	"unsafe"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/packet"
)

// fastRun runs the path of most packets at a NAT hook doing manip m over
// pkts, and returns the index of the first packet it leaves to the
// caller, len(pkts) if none. A packet without a connection, or of a
// confirmed connection without a translation at m, stays as it is. A TCP
// or UDP packet of an established connection with a translation at m is
// rewritten from its connection's copy (xlats), with the precomputed
// deltas, on the header fields as loads in the machine's byte order read
// them (see fastRW). It stops, having changed nothing, at any other
// packet, and at one whose fields are not those its connection's tuple
// says: the general path, in Do and DoBatch, handles those.
//
// Its loop makes no call. When the rewrite was a function of its own,
// called from DoBatch's loop, each call spilled and reloaded the loop's
// registers, and DoBatch was 0.5-1.2 ns a packet slower. Do, which hands
// it a batch of one, pays about 2 ns more than it did with that call.
//
// It reads and writes the headers through a pointer into p.Frame after
// one test of the offsets, instead of a bounds check and a slice per
// field. Sound: that test puts every byte it touches, from l3 to the end
// of the network header and from l4 to the end of the transport checksum,
// inside p.Frame[:end], and end inside len(p.Frame); the frame's backing
// array is alive through p; and the accesses are of plain bytes, unaligned
// loads and stores of which amd64 and arm64, the architectures this file
// is built for, take (xlat_other.go is the same rewrite on slices).
func (n *NAT) fastRun(pkts []*packet.Packet, m Manip) int {
	xs := n.xl.slab()
	done := conntrack.StatusConfirmed | doneBit(m)
	i := 0
	for ; i < len(pkts); i++ {
		p := pkts[i]
		slot := p.CT
		if slot == 0 {
			continue
		}
		st := n.t.Status(slot)
		want := wants[m&1][p.CTInfo&7]
		if st&want == 0 {
			if st&done != 0 && want != relatedMark {
				continue // no translation at this manip
			}
			return i
		}
		d := dirOf(p)
		if int(slot) >= len(xs) || n.oifMoved(p, slot, m, d) {
			return i
		}
		e := &xs[slot]
		l3, l4, end := uint(p.L3Off), uint(p.L4Off), uint(p.L3End)
		v6 := p.Family != packet.FamilyIPv4
		hl, coff := uint(20), uint(e.coff)
		if v6 {
			hl = 40
		}
		// coff is 0 for a connection of another protocol than TCP and UDP;
		// the packet's protocol is its connection's, unless something changed
		// p after conntrack saw it.
		if coff == 0 || p.Proto != e.tup[0].Proto || p.Fragment || l3+hl > l4 || l4+coff+2 > end || end > uint(len(p.Frame)) {
			return i
		}
		base := unsafe.Pointer(unsafe.SliceData(p.Frame))
		rw := &e.rw[d&1][m&1]
		dst := uint(m & 1) // ManipDst writes the destination
		pf := (*uint16)(unsafe.Add(base, l4+2*dst))
		if *pf != rw.op {
			return i
		}
		if !v6 {
			af := (*uint32)(unsafe.Add(base, l3+12+4*dst))
			if *af != rw.oa {
				return i
			}
			*af = rw.na
			cp := (*uint16)(unsafe.Add(base, l3+10))
			*cp = applyFolded(*cp, rw.ip)
		} else {
			oa, _, na, _ := e.fields(d, m)
			af := (*[2]uint64)(unsafe.Add(base, l3+8+16*dst))
			o, n := (*[2]uint64)(unsafe.Pointer(oa)), (*[2]uint64)(unsafe.Pointer(na))
			if af[0]^o[0]|af[1]^o[1] != 0 {
				return i
			}
			af[0], af[1] = n[0], n[1]
		}
		*pf = rw.np
		cf := (*uint16)(unsafe.Add(base, l4+coff))
		c := *cf
		if coff == 6 {
			if c == 0 {
				continue // no checksum stays no checksum
			}
			if c = applyFolded(c, rw.l4); c == 0 {
				c = 0xffff // CSUM_MANGLED_0
			}
		} else {
			c = applyFolded(c, rw.l4)
		}
		*cf = c
	}
	return i
}
