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
	off    uint32 // a random number: where uniqueKey starts
	// ahead are the hashes of the candidates uniqueKey will try next,
	// candidate i at i % len.
	ahead    [searchAhead + 1]uint64
	fetched  uint32 // how many candidates have a hash in ahead
	cand     conntrack.Tuple
	lo, size uint32 // the range of the search (keyRange)
	// bk is the bysource bucket of the client of a source manip, tag its
	// hash's tag.
	bk  *bsBucket
	tag uint64
}

// taken is nf_nat_used_tuple: does another connection use reply tuple r?
// Unconfirmed entries of other workers are not seen; a clash with one is
// caught when the second is confirmed, which drops its packet, as in the
// kernel.
func (s *search) taken(r *conntrack.Tuple) bool {
	s.probes++
	return s.w.TupleTaken(r, s.slot)
}

// takenHash is taken for a tuple whose hash Prefetch returned.
func (s *search) takenHash(r *conntrack.Tuple, h uint64) bool {
	s.probes++
	return s.w.TupleTakenHash(r, h, s.slot)
}

// uniqueTuple returns the reply tuple the connection whose reply tuple is
// now r0 gets when manip m maps it into range rg, or false when every
// candidate is taken.
func (s *search) uniqueTuple(r0 *conntrack.Tuple, rg *natRange, m Manip) (conntrack.Tuple, bool) {
	randomAll := rg.flags&flagRandomAll != 0
	// The address (find_best_ips_proto, step 2 below) first, so that the
	// cache misses of steps 1, 3 and 4 overlap: the buckets of the tuple
	// that keeps the port and of the first ones the search tries are
	// fetched while step 1 looks up the client's other connections.
	r := *r0
	s.n.bestAddr(&r, r0, rg, m)
	s.off = s.n.rand()
	var h uint64
	if !randomAll {
		h = s.w.Prefetch(&r)
	}
	s.prefetchSearch(&r, rg, m, 1)
	// 1. A source that is already in range keeps itself; else a mapping
	//    the client's other connections use is reused if it is free, so
	//    that a client:port looks the same to every server.
	if m == ManipSrc && !randomAll {
		if rg.inRange(r0) {
			if !s.taken(r0) {
				return *r0, true
			}
		} else if c, ok := s.n.bysrc.find(s.n, s.bk, s.tag, r0, rg); ok && !s.taken(&c) {
			return c, true
		}
	}
	// 3. Keep the port if it is in range and free.
	if !randomAll {
		if rg.proto {
			if rg.keyInRange(&r, m) && (rg.pmin == rg.pmax || !s.takenHash(&r, h)) {
				return r, true
			}
		} else if !s.takenHash(&r, h) {
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
// Options.MaxSearch), so a binding fails only when every port is taken:
// first for a tuple that is certainly free, then, when there is none, for
// one whose connection has expired.
func (s *search) uniqueKey(r conntrack.Tuple, rg *natRange, m Manip) (conntrack.Tuple, bool) {
	k := key(&r, m)
	if k == nil {
		return r, m == ManipDst || !s.taken(&r)
	}
	lo, size := keyRange(&r, rg, m)
	if size == 0 {
		return r, true // a destination without a port range keeps its port
	}
	attempts := size
	if mx := s.n.opts.MaxSearch; mx > 0 && uint32(mx) < attempts {
		attempts = uint32(mx)
	}
	// First the tuples that are certainly free, skipping those that are
	// probably taken without reading their connections' entries (a cache
	// miss each); only when none is left, the probable ones are checked.
	off := s.off % size
	for i := range attempts {
		s.prefetchSearch(&r, rg, m, min(i+searchAhead+1, attempts))
		*k = uint16(lo + off)
		s.probes++
		if !s.w.TupleMayBeTaken(&r, s.ahead[i%uint32(len(s.ahead))], s.slot) {
			return r, true
		}
		if off++; off == size {
			off = 0
		}
	}
	off = s.off % size
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

// searchAhead is how many candidates of uniqueKey are fetched ahead of the
// one it checks.
const searchAhead = 3

// keyRange is the range of ports (or ICMP ids) uniqueKey searches for
// manip m of tuple r: lo and size; size 0 when it searches none.
func keyRange(r *conntrack.Tuple, rg *natRange, m Manip) (lo, size uint32) {
	k := key(r, m)
	switch {
	case k == nil:
		return 0, 0
	case rg.proto:
		return uint32(rg.pmin), uint32(rg.pmax) - uint32(rg.pmin) + 1
	case r.Proto == packet.ProtoICMP || r.Proto == packet.ProtoICMPv6:
		return 0, 65536
	case m == ManipDst:
		return 0, 0 // a destination without a port range keeps its port
	case *k < 512:
		return 1, 511
	case *k < 1024:
		// Ports 512-599 are left out: rcmd credentials, by convention.
		return 600, 1023 - 600 + 1
	}
	return 1024, 65535 - 1024 + 1
}

// prefetchSearch fetches the buckets of uniqueKey's candidates for r up to
// (not including) candidate upto, and keeps their hashes in s.ahead. The
// candidates are made in s.cand, a copy of r taken on the first call.
func (s *search) prefetchSearch(r *conntrack.Tuple, rg *natRange, m Manip, upto uint32) {
	if s.fetched == 0 {
		s.lo, s.size = keyRange(r, rg, m)
		if s.size == 0 {
			return
		}
		s.cand = *r
	}
	if upto > s.size {
		upto = s.size
	}
	k := key(&s.cand, m)
	for ; s.fetched < upto; s.fetched++ {
		*k = uint16(s.lo + (s.off+s.fetched)%s.size)
		s.ahead[s.fetched%uint32(len(s.ahead))] = s.w.Prefetch(&s.cand)
	}
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
