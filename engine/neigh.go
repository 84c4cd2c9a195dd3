package engine

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"time"

	"github.com/nfgo/nfgo/hooks"
	"github.com/nfgo/nfgo/packet"
)

// Neighbor resolution on Ethernet ports: ARP for IPv4 (RFC 826) and
// neighbor discovery for IPv6 (RFC 4861). The resolved table is read
// without locks on every transmit; misses take the slow path, which queues
// a few packets per next hop while a solicitation is out, as the kernel's
// neighbour layer does in state INCOMPLETE.
//
// ARP and the engine's own neighbor-discovery messages are sent straight to
// the port; they do not pass OUTPUT and POSTROUTING.

const (
	neighRetries       = 3               // solicitations before giving up (mcast_solicit)
	neighRetryInterval = time.Second     // retrans_time
	neighQueueLen      = 16              // packets waiting per next hop
	neighPendingMax    = 1024            // packets waiting in all
	neighLifetime      = 5 * time.Minute // a learned entry, unless refreshed
)

type neighKey struct {
	ifindex uint32
	addr    netip.Addr
}

type neighEntry struct {
	mac     packet.MAC
	static  bool
	expires time.Time
}

// neighTable is the resolved table. It is immutable; writers copy it and
// swap the engine's pointer.
type neighTable struct {
	m map[neighKey]neighEntry
}

// pendingNeigh is a next hop being resolved and what waits for it.
type pendingNeigh struct {
	frames [][]byte // network packets, copied
	sent   time.Time
	tries  int
}

// neighState is the slow path's state, under its own lock.
type neighState struct {
	mu       sync.Mutex
	pending  map[neighKey]*pendingNeigh
	nwaiting int
}

// AddNeighbor sets a permanent link-layer address for next hop addr on
// interface index, as `ip neigh replace ADDR lladdr MAC nud permanent`.
func (e *Engine) AddNeighbor(index uint32, addr netip.Addr, mac packet.MAC) error {
	if e.iface(index) == nil {
		return ErrNoPort
	}
	e.setNeighbor(neighKey{index, addr}, neighEntry{mac: mac, static: true})
	return nil
}

// Neighbors lists the resolved table.
func (e *Engine) Neighbors() map[netip.Addr]packet.MAC {
	out := map[netip.Addr]packet.MAC{}
	for k, v := range e.neigh.Load().m {
		out[k.addr] = v.mac
	}
	return out
}

func (e *Engine) setNeighbor(k neighKey, v neighEntry) {
	e.neighs.mu.Lock()
	defer e.neighs.mu.Unlock()
	old := e.neigh.Load()
	if cur, ok := old.m[k]; ok && cur.static && !v.static {
		return // a learned address never replaces a permanent one
	}
	m := make(map[neighKey]neighEntry, len(old.m)+1)
	for k, v := range old.m {
		m[k] = v
	}
	m[k] = v
	e.neigh.Store(&neighTable{m: m})
}

// neighbor is the link-layer address of next hop addr on interface index.
func (e *Engine) neighbor(index uint32, addr netip.Addr) (packet.MAC, bool) {
	n, ok := e.neigh.Load().m[neighKey{index, addr}]
	return n.mac, ok
}

// resolve queues p until its next hop on ifc is resolved, and solicits
// it. It is the slow path of a transmit that found no neighbor.
func (pp *pipe) resolve(p *packet.Packet, ifc *iface) {
	e := pp.e
	k := neighKey{ifc.index, p.NextHop}
	now := e.now()
	e.neighs.mu.Lock()
	if e.neighs.pending == nil {
		e.neighs.pending = map[neighKey]*pendingNeigh{}
	}
	pn := e.neighs.pending[k]
	if pn == nil {
		pn = &pendingNeigh{}
		e.neighs.pending[k] = pn
	}
	queued := false
	if len(pn.frames) < neighQueueLen && e.neighs.nwaiting < neighPendingMax {
		pn.frames = append(pn.frames, append([]byte(nil), p.L3()...))
		e.neighs.nwaiting++
		queued = true
	}
	solicit := pn.tries == 0
	if solicit {
		pn.tries, pn.sent = 1, now
	}
	e.neighs.mu.Unlock()
	if !queued {
		pp.drop(DropNoNeighbor)
		if pp.traced(p) {
			pp.tracer.Event(&TraceEvent{Kind: TraceDrop, Packet: p, Hook: hooks.Postrouting, Reason: DropNoNeighbor})
		}
	} else {
		e.ctr.neighQueued.Add(1)
		pp.traceEnd(p, TraceNeighWait, hooks.Postrouting)
	}
	if solicit {
		pp.solicit(ifc, k.addr)
	}
}

// learn records that addr is at mac on ifc and sends what waited for it.
// Without create, only a next hop already known or being resolved is
// updated (the kernel's arp_accept=0).
func (pp *pipe) learn(ifc *iface, addr netip.Addr, mac packet.MAC, create bool) {
	e := pp.e
	k := neighKey{ifc.index, addr}
	e.neighs.mu.Lock()
	pn := e.neighs.pending[k]
	if pn != nil {
		delete(e.neighs.pending, k)
		e.neighs.nwaiting -= len(pn.frames)
	}
	e.neighs.mu.Unlock()
	_, known := e.neigh.Load().m[k]
	if !create && !known && pn == nil {
		return
	}
	e.setNeighbor(k, neighEntry{mac: mac, expires: e.now().Add(neighLifetime)})
	if pn == nil {
		return
	}
	for _, f := range pn.frames {
		q := pp.newPacket()
		if q == nil {
			pp.drop(DropNoNeighbor)
			continue
		}
		copy(q.SetFrame(len(f)), f)
		if q.Parse(packet.LinkRaw) != packet.ReasonNone {
			continue
		}
		q.OutIf, q.NextHop = ifc.index, addr
		pp.transmit(q)
	}
}

// neighTick retries solicitations, fails next hops that never answered
// (their packets get ICMP host unreachable, as arp_error_report), and
// forgets learned entries past their lifetime. Run calls it periodically.
func (e *Engine) neighTick() {
	now := e.now()
	type failed struct {
		ifc    *iface
		frames [][]byte
	}
	var retry []neighKey
	var fails []failed
	e.neighs.mu.Lock()
	for k, pn := range e.neighs.pending {
		if now.Sub(pn.sent) < neighRetryInterval {
			continue
		}
		if pn.tries >= neighRetries {
			delete(e.neighs.pending, k)
			e.neighs.nwaiting -= len(pn.frames)
			fails = append(fails, failed{e.iface(k.ifindex), pn.frames})
			continue
		}
		pn.tries++
		pn.sent = now
		retry = append(retry, k)
	}
	e.neighs.mu.Unlock()

	old := e.neigh.Load()
	expired := false
	for _, v := range old.m {
		if !v.static && now.After(v.expires) {
			expired = true
			break
		}
	}
	if expired {
		e.neighs.mu.Lock()
		cur := e.neigh.Load()
		m := make(map[neighKey]neighEntry, len(cur.m))
		for k, v := range cur.m {
			if v.static || !now.After(v.expires) {
				m[k] = v
			}
		}
		e.neigh.Store(&neighTable{m: m})
		e.neighs.mu.Unlock()
	}
	if len(retry) == 0 && len(fails) == 0 {
		return
	}
	e.localMu.Lock()
	defer e.localMu.Unlock()
	pp := e.localPipe
	pp.begin(nil)
	for _, k := range retry {
		pp.solicit(e.iface(k.ifindex), k.addr)
	}
	for _, f := range fails {
		for _, b := range f.frames {
			pp.drop(DropNoNeighbor)
			q := pp.newPacket()
			if q == nil {
				continue
			}
			copy(q.SetFrame(len(b)), b)
			if q.Parse(packet.LinkRaw) != packet.ReasonNone {
				continue
			}
			q.InIf = f.ifc.index
			if q.Family == packet.FamilyIPv4 {
				pp.icmpError(q, packet.ICMPv4DestUnreachable, packet.ICMPv4HostUnreachable, 0)
			} else {
				pp.icmpError(q, packet.ICMPv6DestUnreachable, 3, 0) // address unreachable
			}
		}
	}
	pp.end()
}

// solicit asks who has addr on ifc: an ARP request, or a neighbor
// solicitation to the solicited-node multicast address.
func (pp *pipe) solicit(ifc *iface, addr netip.Addr) {
	from, ok := pp.e.addrOf(ifc.index, addr.Is4())
	if !ok {
		return
	}
	q := pp.newPacket()
	if q == nil {
		return
	}
	if addr.Is4() {
		b := q.SetFrame(packet.EthernetHeaderLen + packet.ARPLen)
		writeEthernet(b, packet.BroadcastMAC, ifc.mac, packet.EtherTypeARP)
		a := packet.ARP(b[packet.EthernetHeaderLen:])
		a.SetHeader(packet.ARPRequest)
		a.SetSenderMAC(ifc.mac)
		a.SetSenderIP(from)
		a.SetTargetMAC(packet.MAC{})
		a.SetTargetIP(addr)
	} else {
		t := addr.As16()
		dst := netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 1, 12: 0xff, 13: t[13], 14: t[14], 15: t[15]})
		pp.writeNDP(q, ifc, packet.MAC{0x33, 0x33, 0xff, t[13], t[14], t[15]}, from, dst, packet.ICMPv6NeighborSolicit, 0, addr, 1)
	}
	pp.e.ctr.neighSolicits.Add(1)
	pp.sendRaw(ifc, q)
}

// arp handles an ARP packet that came in on ifc: requests for our addresses
// are answered (the kernel's default arp_ignore=0 answers for any local
// address), and the sender is learned.
func (pp *pipe) arp(p *packet.Packet, ifc *iface) {
	a := p.ARP()
	if ifc.link != packet.LinkEthernet || !a.IsValid() {
		pp.drop(DropNotIP)
		return
	}
	sender, target := a.SenderIP(), a.TargetIP()
	forUs := pp.e.IsLocal(target)
	if sender.IsValid() && !sender.IsUnspecified() && !pp.broadcast(sender) {
		// No neighbor stands for a broadcast address (arp_process).
		pp.learn(ifc, sender, a.SenderMAC(), forUs)
	}
	if a.Op() != packet.ARPRequest || !forUs {
		return
	}
	q := pp.newPacket()
	if q == nil {
		return
	}
	b := q.SetFrame(packet.EthernetHeaderLen + packet.ARPLen)
	writeEthernet(b, a.SenderMAC(), ifc.mac, packet.EtherTypeARP)
	r := packet.ARP(b[packet.EthernetHeaderLen:])
	r.SetHeader(packet.ARPReply)
	r.SetSenderMAC(ifc.mac)
	r.SetSenderIP(target)
	r.SetTargetMAC(a.SenderMAC())
	r.SetTargetIP(sender)
	pp.sendRaw(ifc, q)
}

// isNDP reports whether p is a neighbor solicitation or advertisement,
// which the engine handles itself.
func isNDP(p *packet.Packet) bool {
	return p.Proto == packet.ProtoICMPv6 && p.L4Off != 0 &&
		(p.ICMPType == packet.ICMPv6NeighborSolicit || p.ICMPType == packet.ICMPv6NeighborAdvert)
}

// ndp handles a neighbor solicitation or advertisement delivered to us.
func (pp *pipe) ndp(p *packet.Packet) {
	ifc := pp.e.iface(p.InIf)
	ic := p.ICMPv6()
	// RFC 4861 7.1.1: hop limit 255, code 0, room for the target.
	if ifc == nil || ifc.link != packet.LinkEthernet || p.IPv6().HopLimit() != 255 || ic.Code() != 0 || len(ic) < 24 {
		return
	}
	target := netip.AddrFrom16([16]byte(ic[8:24]))
	lladdr, hasLL := ndpOption(ic[24:], 1)
	if p.ICMPType == packet.ICMPv6NeighborAdvert {
		if ll, ok := ndpOption(ic[24:], 2); ok {
			pp.learn(ifc, target, ll, false)
		}
		return
	}
	if !pp.e.IsLocal(target) {
		return
	}
	src := p.Src()
	dstMAC := p.Ethernet().Src()
	dst := src
	flags := uint32(0xe0000000) // router, solicited, override
	if src.IsUnspecified() {
		// Duplicate address detection: answer to all nodes, unsolicited.
		dst = netip.MustParseAddr("ff02::1")
		dstMAC = packet.MAC{0x33, 0x33, 0, 0, 0, 1}
		flags = 0xa0000000
	} else if hasLL {
		pp.learn(ifc, src, lladdr, true)
		dstMAC = lladdr
	}
	q := pp.newPacket()
	if q == nil {
		return
	}
	pp.writeNDP(q, ifc, dstMAC, target, dst, packet.ICMPv6NeighborAdvert, flags, target, 2)
	pp.sendRaw(ifc, q)
}

// ndpOption finds a link-layer address option (1 source, 2 target).
func ndpOption(b []byte, typ uint8) (packet.MAC, bool) {
	for len(b) >= 8 {
		n := int(b[1]) * 8
		if n == 0 || n > len(b) {
			break
		}
		if b[0] == typ && n >= 8 {
			return packet.MAC(b[2:8]), true
		}
		b = b[n:]
	}
	return packet.MAC{}, false
}

// writeNDP builds a neighbor solicitation or advertisement with a
// link-layer address option of kind opt carrying ifc's address.
func (pp *pipe) writeNDP(q *packet.Packet, ifc *iface, dstMAC packet.MAC, src, dst netip.Addr, typ uint8, flags uint32, target netip.Addr, opt uint8) {
	const body = packet.ICMPv6HeaderLen + 16 + 8
	b := q.SetFrame(packet.EthernetHeaderLen + packet.IPv6HeaderLen + body)
	writeEthernet(b, dstMAC, ifc.mac, packet.EtherTypeIPv6)
	l3 := b[packet.EthernetHeaderLen:]
	writeIPv6Header(l3, src, dst, packet.ProtoICMPv6, body)
	packet.IPv6(l3).SetHopLimit(255)
	ic := packet.ICMPv6(l3[packet.IPv6HeaderLen:])
	ic.SetType(typ)
	ic.SetCode(0)
	ic.SetRest(flags)
	t := target.As16()
	copy(ic[8:24], t[:])
	ic[24], ic[25] = opt, 1
	copy(ic[26:32], ifc.mac[:])
	ic.SetChecksum(0)
	ic.SetChecksum(ic.ComputeChecksum(src, dst))
}

func writeEthernet(b []byte, dst, src packet.MAC, etherType uint16) {
	eth := packet.Ethernet(b)
	eth.SetDst(dst)
	eth.SetSrc(src)
	binary.BigEndian.PutUint16(b[12:], etherType)
}

// sendRaw queues a complete link-layer frame on ifc.
func (pp *pipe) sendRaw(ifc *iface, q *packet.Packet) {
	if ifc == nil || ifc.port == nil {
		return
	}
	q.Parse(packet.LinkEthernet)
	q.OutIf = ifc.index
	tb := &pp.tx[ifc.index]
	tb.pkts[tb.n] = q
	tb.n++
	if tb.n == len(tb.pkts) {
		pp.flushOne(ifc, tb)
	}
}
