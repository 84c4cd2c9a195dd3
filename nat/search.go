package nat

import (
	"encoding/binary"
	"math/bits"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/packet"
)

// search finds a unique reply tuple for one binding (get_unique_tuple).
type search struct {
	n      *NAT
	w      *conntrack.Worker
	slot   uint32
	probes int
}

// taken is nf_nat_used_tuple: does another connection use reply tuple r?
// Unconfirmed entries of other workers are not seen; a clash with one is
// caught when the second is confirmed, which drops its packet, as in the
// kernel.
func (s *search) taken(r *conntrack.Tuple) bool {
	s.probes++
	return s.w.TupleTaken(*r, s.slot)
}

// uniqueTuple returns the reply tuple the connection whose reply tuple is
// now r0 gets when manip m maps it into range rg, or false when every
// candidate is taken.
func (s *search) uniqueTuple(r0 *conntrack.Tuple, rg *natRange, m Manip) (conntrack.Tuple, bool) {
	randomAll := rg.flags&flagRandomAll != 0
	// 1. A source that is already in range keeps itself; else a mapping
	//    the client's other connections use is reused if it is free, so
	//    that a client:port looks the same to every server.
	if m == ManipSrc && !randomAll {
		if rg.inRange(r0) {
			if !s.taken(r0) {
				return *r0, true
			}
		} else if c, ok := s.n.bysrc.find(s.n, r0, rg); ok && !s.taken(&c) {
			return c, true
		}
	}
	// 2. The address (find_best_ips_proto).
	r := *r0
	s.n.bestAddr(&r, r0, rg, m)
	// 3. Keep the port if it is in range and free.
	if !randomAll {
		if rg.proto {
			if rg.keyInRange(&r, m) && (rg.pmin == rg.pmax || !s.taken(&r)) {
				return r, true
			}
		} else if !s.taken(&r) {
			return r, true
		}
	}
	// 4. Search the range (nf_nat_l4proto_unique_tuple). A destination
	//    manip that finds nothing free keeps a taken tuple, as the kernel
	//    does: the source manip after it, a rule's or the null binding,
	//    moves the source port to make the tuple unique, and Confirm drops
	//    the packet if nothing did.
	r, ok := s.uniqueKey(r, rg, m)
	return r, ok || m == ManipDst
}

// uniqueKey searches the port (or ICMP id) range of rg for a free tuple,
// from a random point, one after the other. Unlike the kernel, which gives
// up after about 250 tries, it tries the whole range (or
// Options.MaxSearch), so a binding fails only when every port is taken.
func (s *search) uniqueKey(r conntrack.Tuple, rg *natRange, m Manip) (conntrack.Tuple, bool) {
	k := key(&r, m)
	if k == nil {
		return r, m == ManipDst || !s.taken(&r)
	}
	var lo, size uint32
	switch {
	case rg.proto:
		lo, size = uint32(rg.pmin), uint32(rg.pmax)-uint32(rg.pmin)+1
	case r.Proto == packet.ProtoICMP || r.Proto == packet.ProtoICMPv6:
		lo, size = 0, 65536
	case m == ManipDst:
		// A destination without a port range keeps its port.
		return r, true
	case *k < 512:
		lo, size = 1, 511
	case *k < 1024:
		// Ports 512-599 are left out: rcmd credentials, by convention.
		lo, size = 600, 1023-600+1
	default:
		lo, size = 1024, 65535-1024+1
	}
	attempts := size
	if mx := s.n.opts.MaxSearch; mx > 0 && uint32(mx) < attempts {
		attempts = uint32(mx)
	}
	off := s.n.rand() % size
	for range attempts {
		*k = uint16(lo + off)
		if !s.taken(&r) {
			return r, true
		}
		if off++; off == size {
			off = 0
		}
	}
	return r, false
}

// bestAddr picks the address of the range for manip m into r
// (find_best_ips_proto): a hash of the connection's source and destination
// addresses, so that one client talking to one server always gets the same
// address, or of the source alone with FlagPersistent.
func (n *NAT) bestAddr(r, r0 *conntrack.Tuple, rg *natRange, m Manip) {
	if !rg.mapIPs {
		return
	}
	a := addrOf(r, m)
	if rg.min == rg.max {
		*a = rg.min
		return
	}
	h1, h2 := n.hashAddrs(r0, rg.flags&FlagPersistent != 0)
	if r.Family == packet.FamilyIPv4 {
		lo := binary.BigEndian.Uint32(rg.min[:4])
		hi := binary.BigEndian.Uint32(rg.max[:4])
		dist := uint64(hi-lo) + 1
		v := lo + uint32(uint64(uint32(h1))*dist>>32)
		*a = [16]byte{}
		binary.BigEndian.PutUint32(a[:4], v)
		return
	}
	minH, minL := binary.BigEndian.Uint64(rg.min[:8]), binary.BigEndian.Uint64(rg.min[8:])
	maxH, maxL := binary.BigEndian.Uint64(rg.max[:8]), binary.BigEndian.Uint64(rg.max[8:])
	dl, b := bits.Sub64(maxL, minL, 0)
	dh, _ := bits.Sub64(maxH, minH, b)
	var oh, ol uint64
	if dh == 0 {
		ol = scale(h1, dl)
	} else {
		oh = scale(h2, dh)
		ol = h1
		if oh == dh {
			ol = scale(h1, dl)
		}
	}
	vl, c := bits.Add64(minL, ol, 0)
	vh, _ := bits.Add64(minH, oh, c)
	binary.BigEndian.PutUint64(a[:8], vh)
	binary.BigEndian.PutUint64(a[8:], vl)
}

// scale maps h onto 0..d (reciprocal_scale).
func scale(h, d uint64) uint64 {
	if d == ^uint64(0) {
		return h
	}
	hi, _ := bits.Mul64(h, d+1)
	return hi
}

// hashAddrs hashes the source address of the connection whose reply tuple
// is r0 (its original source after earlier manips), and unless persistent
// its destination and zone.
func (n *NAT) hashAddrs(r0 *conntrack.Tuple, persistent bool) (uint64, uint64) {
	h := mix(n.seed ^ binary.LittleEndian.Uint64(r0.Dst[:8]))
	h = mix(h ^ binary.LittleEndian.Uint64(r0.Dst[8:]))
	if !persistent {
		h = mix(h ^ binary.LittleEndian.Uint64(r0.Src[:8]))
		h = mix(h ^ binary.LittleEndian.Uint64(r0.Src[8:]) ^ uint64(r0.Zone))
	}
	return h, mix(h ^ 0x9e3779b97f4a7c15)
}

// mix is splitmix64's finalizer.
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
