package pktbuild

import (
	"encoding/binary"

	"github.com/nfgo/nfgo/packet"
)

// FragmentIPv4 splits an IPv4 packet into fragments whose payloads are at
// most size bytes (rounded down to a multiple of 8), as ip_fragment
// would, options copied into every fragment. A packet that fits is
// returned alone.
func FragmentIPv4(pkt []byte, size int) [][]byte {
	ip := packet.IPv4(pkt)
	hl := ip.HeaderLen()
	data := pkt[hl:ip.TotalLen()]
	size &^= 7
	if len(data) <= size || size <= 0 {
		return [][]byte{pkt}
	}
	base := ip.FragmentOffset()
	lastMF := ip.MoreFragments()
	var out [][]byte
	for off := 0; off < len(data); off += size {
		end := min(off+size, len(data))
		f := make([]byte, hl+end-off)
		copy(f, pkt[:hl])
		copy(f[hl:], data[off:end])
		fi := packet.IPv4(f)
		fi.SetTotalLen(uint16(len(f)))
		fi.SetFragment(base+uint16(off), end < len(data) || lastMF)
		fi.SetChecksum(fi.ComputeChecksum())
		out = append(out, f)
	}
	return out
}

// FragmentIPv6 splits an IPv6 packet into fragments whose fragmentable
// parts are at most size bytes (rounded down to a multiple of 8), with
// identification id. The unfragmentable part is the fixed header and a
// leading hop-by-hop header; everything after it is fragmented.
func FragmentIPv6(pkt []byte, size int, id uint32) [][]byte {
	ip := packet.IPv6(pkt)
	end := packet.IPv6HeaderLen + int(ip.PayloadLen())
	unfrag := packet.IPv6HeaderLen
	next := ip.NextHeader()
	nextAt := 6 // where the Next Header that must name the fragment header is
	if next == packet.ProtoHopOpts {
		nextAt = unfrag
		next = pkt[unfrag]
		unfrag += (int(pkt[unfrag+1]) + 1) * 8
	}
	data := pkt[unfrag:end]
	size &^= 7
	if size <= 0 {
		size = 8
	}
	var out [][]byte
	for off := 0; off < len(data); off += size {
		e := min(off+size, len(data))
		f := make([]byte, unfrag+packet.IPv6FragmentLen+e-off)
		copy(f, pkt[:unfrag])
		f[nextAt] = packet.ProtoIPv6Fragment
		h := f[unfrag:]
		h[0] = next
		v := uint16(off)
		if e < len(data) {
			v |= 1
		}
		binary.BigEndian.PutUint16(h[2:], v)
		binary.BigEndian.PutUint32(h[4:], id)
		copy(h[packet.IPv6FragmentLen:], data[off:e])
		packet.IPv6(f).SetPayloadLen(uint16(len(f) - packet.IPv6HeaderLen))
		out = append(out, f)
	}
	return out
}
