//go:build !amd64 && !arm64

package nat

import (
	"encoding/binary"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/packet"
)

// rewriteFast is xlat_unsafe.go's rewrite on slices, for architectures
// that may not take unaligned loads and stores.
func (e *xlat) rewriteFast(p *packet.Packet, d conntrack.Dir, m Manip) bool {
	l3, l4, end := uint(p.L3Off), uint(p.L4Off), uint(p.L3End)
	v6 := p.Family != packet.FamilyIPv4
	hl, coff := uint(20), uint(e.coff)
	if v6 {
		hl = 40
	}
	if coff == 0 || p.Proto != e.tup[0].Proto || p.Fragment || l3+hl > l4 || l4+coff+2 > end || end > uint(len(p.Frame)) {
		return false
	}
	ne := binary.NativeEndian
	rw := &e.rw[d&1][m&1]
	dst := uint(m & 1) // ManipDst writes the destination
	pf := p.Frame[l4+2*dst : l4+2*dst+2]
	if ne.Uint16(pf) != rw.op {
		return false
	}
	if !v6 {
		af := p.Frame[l3+12+4*dst : l3+16+4*dst]
		if ne.Uint32(af) != rw.oa {
			return false
		}
		ne.PutUint32(af, rw.na)
		cf := p.Frame[l3+10 : l3+12]
		ne.PutUint16(cf, applyFolded(ne.Uint16(cf), rw.ip))
	} else {
		oa, _, na, _ := e.fields(d, m)
		af := p.Frame[l3+8+16*dst : l3+24+16*dst]
		if string(af) != string(oa[:]) {
			return false
		}
		copy(af, na[:])
	}
	ne.PutUint16(pf, rw.np)
	cf := p.Frame[l4+coff : l4+coff+2]
	c := ne.Uint16(cf)
	if coff == 6 {
		if c == 0 {
			return true // no checksum stays no checksum
		}
		if c = applyFolded(c, rw.l4); c == 0 {
			c = 0xffff // CSUM_MANGLED_0
		}
	} else {
		c = applyFolded(c, rw.l4)
	}
	ne.PutUint16(cf, c)
	return true
}
