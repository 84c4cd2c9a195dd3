//go:build !amd64 && !arm64

package nat

import (
	"encoding/binary"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/packet"
)

// fastRun is xlat_unsafe.go's, with the rewrite on slices, for architectures
// that may not take unaligned loads and stores.
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
		if coff == 0 || p.Proto != e.tup[0].Proto || p.Fragment || l3+hl > l4 || l4+coff+2 > end || end > uint(len(p.Frame)) {
			return i
		}
		ne := binary.NativeEndian
		rw := &e.rw[d&1][m&1]
		dst := uint(m & 1) // ManipDst writes the destination
		pf := p.Frame[l4+2*dst : l4+2*dst+2]
		if ne.Uint16(pf) != rw.op {
			return i
		}
		if !v6 {
			af := p.Frame[l3+12+4*dst : l3+16+4*dst]
			if ne.Uint32(af) != rw.oa {
				return i
			}
			ne.PutUint32(af, rw.na)
			cf := p.Frame[l3+10 : l3+12]
			ne.PutUint16(cf, applyFolded(ne.Uint16(cf), rw.ip))
		} else {
			oa, _, na, _ := e.fields(d, m)
			af := p.Frame[l3+8+16*dst : l3+24+16*dst]
			if string(af) != string(oa[:]) {
				return i
			}
			copy(af, na[:])
		}
		ne.PutUint16(pf, rw.np)
		cf := p.Frame[l4+coff : l4+coff+2]
		c := ne.Uint16(cf)
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
		ne.PutUint16(cf, c)
	}
	return i
}
