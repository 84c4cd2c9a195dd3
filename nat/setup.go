package nat

import (
	"net/netip"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/packet"
)

// natRange is the kernel's nf_nat_range2 for one binding.
type natRange struct {
	mapIPs     bool     // NF_NAT_RANGE_MAP_IPS: min..max is the address range
	proto      bool     // NF_NAT_RANGE_PROTO_SPECIFIED: pmin..pmax is the port/id range
	min, max   [16]byte // as conntrack.Tuple holds addresses
	pmin, pmax uint16
	flags      Flags
}

// Pending reports whether p's connection still needs a binding for manip m:
// it is new (not confirmed) and its m part is not set up yet
// (!nf_nat_initialized). The engine then runs the nat chain and calls Setup
// with the rule's request, or Null when no rule asked for one. ICMP errors
// never need one: they follow the connection they are about.
func (n *NAT) Pending(p *packet.Packet, m Manip) bool {
	if p.CT == 0 || isICMPError(p) {
		return false
	}
	return n.t.Status(p.CT)&(conntrack.StatusConfirmed|doneBit(m)) == 0
}

// Setup binds p's new connection as a NAT rule asks (nf_nat_setup_info,
// with nft_nat / nf_nat_masquerade / nf_nat_redirect before it) and
// rewrites p: it picks a reply tuple that no other connection uses, stores
// it on the entry (w.SetReplyTuple, so conntrack finds the replies), sets
// the status bits and translates the packet. snat and masquerade are
// source manips, for POSTROUTING (masquerade) and INPUT (snat too);
// dnat and redirect destination manips, for PREROUTING and OUTPUT.
//
// It returns false when the packet must be dropped, each counted: no free
// tuple in range (Stats.Exhausted), masquerade or redirect without an
// address (Stats.NoAddress), a request that does not fit the packet
// (Stats.BadRequest). The engine then drops the packet and abandons its
// entry.
//
// The engine calls it between w.Track and w.Quiesce of the packet's batch
// and before w.Confirm. A confirmed entry is not bound again: Setup then
// only rewrites the packet, as the kernel does.
func (n *NAT) Setup(w *conntrack.Worker, p *packet.Packet, req *Request) bool {
	slot := p.CT
	if slot == 0 {
		return true
	}
	if req.Kind == KindNone || req.Kind > KindRedirect {
		n.count(sBadRequest)
		return false
	}
	m := req.Kind.Manip()
	st := n.t.Status(slot)
	if st&conntrack.StatusConfirmed != 0 {
		return n.Do(p, m)
	}
	if st&doneBit(m) != 0 {
		n.count(sBadRequest) // bound twice: the kernel WARNs and drops
		return false
	}
	v6 := p.Family == packet.FamilyIPv6
	var r natRange
	r.flags = req.Flags
	switch req.Kind {
	case KindSNAT, KindDNAT:
		if req.AddrMin.IsValid() {
			hi := req.AddrMax
			if !hi.IsValid() {
				hi = req.AddrMin
			}
			if !fits(req.AddrMin, v6) || !fits(hi, v6) {
				n.count(sBadRequest)
				return false
			}
			r.mapIPs, r.min, r.max = true, addr16(req.AddrMin), addr16(hi)
			if less(r.max, r.min) {
				r.min, r.max = r.max, r.min
			}
		}
	case KindMasquerade, KindRedirect:
		if req.Kind == KindMasquerade && !v6 {
			// A source of 0.0.0.0: a local packet that is not meant to
			// be masqueraded (nf_nat_masquerade_ipv4).
			if o := n.t.Tuple(slot, conntrack.DirOriginal); [4]byte(o.Src[:4]) == [4]byte{} {
				return n.Null(w, p, ManipSrc)
			}
		}
		if !req.Local.IsValid() {
			n.count(sNoAddress)
			return false
		}
		if !fits(req.Local, v6) {
			n.count(sBadRequest)
			return false
		}
		r.mapIPs = true
		r.min = addr16(req.Local)
		r.max = r.min
		if req.Kind == KindMasquerade {
			n.t.SetNATData(slot, p.OutIf) // masq_index, for InterfaceDown and the oif check
		}
	}
	if req.PortMin != 0 || req.PortMax != 0 {
		lo, hi := req.PortMin, req.PortMax
		if hi == 0 {
			hi = lo
		}
		if hi < lo {
			lo, hi = hi, lo
		}
		r.proto, r.pmin, r.pmax = true, lo, hi
	}
	if !n.bind(w, slot, &r, m) {
		return false
	}
	n.count(sBindings)
	return n.Do(p, m)
}

// Null gives p's new connection the null binding for manip m
// (nf_nat_alloc_null_binding), for a connection no nat rule bound at this
// hook: the address stays, but the port (or ICMP id) still changes if the
// tuple is taken, so that both directions stay unique. It then rewrites p
// and returns false when p must be dropped (no free port: Stats.Exhausted).
// Like Setup, it runs before w.Confirm.
func (n *NAT) Null(w *conntrack.Worker, p *packet.Packet, m Manip) bool {
	slot := p.CT
	if slot == 0 {
		return true
	}
	if n.t.Status(slot)&(conntrack.StatusConfirmed|doneBit(m)) != 0 {
		return n.Do(p, m)
	}
	var r0 conntrack.Tuple
	n.t.CopyTuple(&r0, slot, conntrack.DirReply)
	r := natRange{mapIPs: true}
	r.min = *addrOf(&r0, m)
	r.max = r.min
	if !n.bind(w, slot, &r, m) {
		return false
	}
	n.count(sNullBindings)
	return n.Do(p, m)
}

// bind is nf_nat_setup_info without the rewrite.
func (n *NAT) bind(w *conntrack.Worker, slot uint32, r *natRange, m Manip) bool {
	var r0 conntrack.Tuple
	n.t.CopyTuple(&r0, slot, conntrack.DirReply)
	s := search{n: n, w: w, slot: slot}
	if m == ManipSrc {
		// The client's bysource bucket, which the search reads and add
		// writes: fetched now, its cache miss overlaps with the
		// search's.
		s.bk, s.tag = n.bysrc.bucket(n, &r0)
		prefetchBucket(s.bk)
	}
	nr, ok := s.uniqueTuple(&r0, r, m)
	n.st[sSearchProbes].Add(uint64(s.probes))
	if !ok {
		n.count(sExhausted)
		return false
	}
	set := doneBit(m)
	if nr != r0 {
		if w.SetReplyTuple(slot, nr) != nil {
			n.count(sBadRequest) // not this worker's entry
			return false
		}
		n.xl.record(n.t, slot)
		set |= natBit(m, conntrack.DirOriginal)
		if k := key(&nr, m); k != nil && *k != *key(&r0, m) {
			n.count(sRemapped)
		}
	}
	if m == ManipSrc {
		n.bysrc.add(n, s.bk, s.tag, slot)
	}
	// One atomic update for both bits (each is a full barrier): the NAT
	// bit after the copy it vouches for, as before.
	n.t.SetStatus(slot, set)
	return true
}

// The reply tuple r holds the translated ends: the source manip maps r's
// destination, the destination manip r's source.

func addrOf(r *conntrack.Tuple, m Manip) *[16]byte {
	if m == ManipSrc {
		return &r.Dst
	}
	return &r.Src
}

// key is the part of reply tuple r besides the address that manip m maps:
// the port of that end, or the ICMP identifier (the same both ways); nil
// for protocols without ports.
func key(r *conntrack.Tuple, m Manip) *uint16 {
	switch r.Proto {
	case packet.ProtoICMP, packet.ProtoICMPv6:
		return &r.SrcPort
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoUDPLite, packet.ProtoSCTP, packet.ProtoDCCP:
		if m == ManipSrc {
			return &r.DstPort
		}
		return &r.SrcPort
	}
	return nil
}

// keyInRange is l4proto_in_range.
func (r *natRange) keyInRange(t *conntrack.Tuple, m Manip) bool {
	k := key(t, m)
	return k == nil || *k >= r.pmin && *k <= r.pmax
}

// inRange is in_range, for the source manip: would mapping the source to
// what t says meet the range?
func (r *natRange) inRange(t *conntrack.Tuple) bool {
	if r.mapIPs {
		a := addrOf(t, ManipSrc)
		if less(*a, r.min) || less(r.max, *a) {
			return false
		}
	}
	return !r.proto || r.keyInRange(t, ManipSrc)
}

func fits(a netip.Addr, v6 bool) bool { return a.Is4() != v6 && !a.Is4In6() }

func addr16(a netip.Addr) (b [16]byte) {
	if a.Is4() {
		v := a.As4()
		copy(b[:4], v[:])
		return b
	}
	return a.As16()
}

func less(a, b [16]byte) bool { return string(a[:]) < string(b[:]) }
