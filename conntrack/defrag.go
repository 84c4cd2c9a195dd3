package conntrack

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/nfgo/nfgo/packet"
)

// Reassembly of IPv4 and IPv6 fragments before tracking, as the kernel's
// nf_defrag_ipv4/ipv6 at priority -400 (ip_defrag, nf_ct_frag6_gather).
//
// Fragments of one datagram may arrive on different workers, so the queues
// belong to the table and share one lock; fragments are rare and this is not
// the fast path. A queue keeps copies of its fragments' data, so the engine
// may reuse the fragment's packet at once. Memory is bounded (MaxMemory,
// the kernel's ipfrag_high_thresh): a fragment that would pass it is dropped
// and counted. Queues time out (ipfrag_time). A fragment that overlaps
// another, other than an exact duplicate, drops its whole queue (RFC 5722,
// and Linux for IPv4 since 4.19); so does a datagram that would pass 65535
// bytes.
//
// The reassembled datagram does not fit a packet's buffer, so Defrag lends
// the packet a buffer from the worker's bounded pool (MaxBuffers of
// 64 KiB): it replaces p.Buf and p.Frame and parses p again. The loan ends
// at the worker's next Quiesce, which gives the packet back its own buffer
// (with an empty frame); the engine must be done with the datagram by then,
// as it is with every packet of the batch.

// DefragOptions configure reassembly. Zero values take the defaults.
type DefragOptions struct {
	MaxMemory  int           // bytes of fragment data held; 0: 4 MiB (ipfrag_high_thresh)
	Timeout    time.Duration // 0: 30s (ipfrag_time)
	MaxBuffers int           // reassembly buffers per worker; 0: 8
}

// DefragStats count reassembly (the kernel's ReasmReqds, ReasmOKs,
// ReasmFails, ReasmTimeout and friends).
type DefragStats struct {
	Fragments   uint64 // fragments received
	Reassembled uint64 // datagrams completed
	Timeouts    uint64 // queues expired incomplete
	Overlaps    uint64 // queues dropped for an overlapping fragment
	Oversized   uint64 // queues dropped for passing 65535 bytes
	MemoryFull  uint64 // fragments dropped at the memory limit
	NoBuffer    uint64 // datagrams dropped for want of a reassembly buffer
	Invalid     uint64 // malformed fragments dropped
}

// DefragVerdict is what the engine does with a packet after Defrag.
type DefragVerdict uint8

const (
	DefragPass DefragVerdict = iota // not a fragment: go on
	DefragHeld                      // a fragment, kept: the packet goes no further (NF_STOLEN)
	DefragDone                      // p is now the whole datagram: go on
	DefragDrop                      // a bad fragment: drop it (counted)
)

type fragKey struct {
	src, dst [16]byte
	id       uint32
	proto    uint8
	family   packet.Family
	zone     uint16
}

type fragRange struct{ off, end int }

type fragQueue struct {
	hdr      []byte // unfragmentable part, from the first fragment
	nextOff  int    // IPv6: offset in hdr of the next-header byte to patch
	data     []byte
	have     []fragRange
	total    int // datagram payload length, once the last fragment is in
	mem      int
	deadline int64
}

type defragger struct {
	opts DefragOptions
	mu   sync.Mutex
	q    map[fragKey]*fragQueue
	mem  int
	st   DefragStats
}

func newDefragger(o DefragOptions) *defragger {
	if o.MaxMemory <= 0 {
		o.MaxMemory = 4 << 20
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxBuffers <= 0 {
		o.MaxBuffers = 8
	}
	return &defragger{opts: o, q: map[fragKey]*fragQueue{}}
}

func (d *defragger) stats() DefragStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st
}

// expire drops queues whose time is up.
func (d *defragger) expire(now int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, q := range d.q {
		if now-q.deadline >= 0 {
			d.drop(k, q)
			d.st.Timeouts++
		}
	}
}

func (d *defragger) drop(k fragKey, q *fragQueue) {
	d.mem -= q.mem
	delete(d.q, k)
}

const maxDatagram = 65535

// Defrag runs before Track (priority -400). See the comment at the top of
// defrag.go for the buffer p gets when it returns DefragDone.
func (w *Worker) Defrag(p *packet.Packet) DefragVerdict {
	if !p.Fragment || p.Flags&packet.FlagNoTrack != 0 {
		return DefragPass
	}
	d := w.t.frag
	l3 := p.Frame[p.L3Off:p.L3End]
	var k fragKey
	var hdr, payload []byte
	nextOff := -1
	switch p.Family {
	case packet.FamilyIPv4:
		hl := int(l3[0]&0xf) * 4
		hdr, payload = l3[:hl], l3[hl:]
		copy(k.src[:4], l3[12:16])
		copy(k.dst[:4], l3[16:20])
		k.proto = l3[9]
	case packet.FamilyIPv6:
		fo, prev, ok := ipv6FragHeader(l3)
		if !ok {
			return w.defragBad(d)
		}
		hdr, payload, nextOff = l3[:fo], l3[fo+8:], prev
		k.src, k.dst = [16]byte(l3[8:24]), [16]byte(l3[24:40])
		k.proto = l3[fo]
	default:
		return DefragPass
	}
	k.id, k.family, k.zone = p.FragID, p.Family, p.Zone
	off, end := int(p.FragOff), int(p.FragOff)+len(payload)

	d.mu.Lock()
	defer d.mu.Unlock()
	d.st.Fragments++
	if p.MoreFrags && len(payload)%8 != 0 || len(payload) == 0 && p.MoreFrags {
		d.st.Invalid++
		return DefragDrop
	}
	q := d.q[k]
	if end+len(hdr) > maxDatagram {
		if q != nil {
			d.drop(k, q)
		}
		d.st.Oversized++
		return DefragDrop
	}
	if d.mem+len(payload) > d.opts.MaxMemory {
		d.st.MemoryFull++
		return DefragDrop
	}
	if q == nil {
		q = &fragQueue{deadline: w.t.now() + int64(d.opts.Timeout), nextOff: -1}
		d.q[k] = q
	}
	for _, r := range q.have {
		if r.off == off && r.end == end {
			return DefragHeld // an exact duplicate
		}
		if off < r.end && r.off < end {
			d.drop(k, q)
			d.st.Overlaps++
			return DefragDrop
		}
	}
	if !p.MoreFrags {
		if q.total != 0 || end < maxEnd(q.have) {
			d.drop(k, q)
			d.st.Invalid++
			return DefragDrop
		}
		q.total = end
	} else if q.total != 0 && end > q.total {
		d.drop(k, q)
		d.st.Invalid++
		return DefragDrop
	}
	if off == 0 {
		q.hdr = append(q.hdr[:0], hdr...)
		q.nextOff = nextOff
	}
	if len(q.data) < end {
		q.data = append(q.data, make([]byte, end-len(q.data))...)
	}
	copy(q.data[off:end], payload)
	q.have = append(q.have, fragRange{off, end})
	q.mem += len(payload)
	d.mem += len(payload)
	if q.total == 0 || q.hdr == nil || covered(q.have) != q.total {
		return DefragHeld
	}
	d.drop(k, q)
	if !w.lend(p, q, k.proto) {
		d.st.NoBuffer++
		return DefragDrop
	}
	d.st.Reassembled++
	return DefragDone
}

func (w *Worker) defragBad(d *defragger) DefragVerdict {
	d.mu.Lock()
	d.st.Invalid++
	d.mu.Unlock()
	return DefragDrop
}

func maxEnd(rs []fragRange) int {
	m := 0
	for _, r := range rs {
		m = max(m, r.end)
	}
	return m
}

// covered is how many bytes the ranges cover; they do not overlap.
func covered(rs []fragRange) int {
	n := 0
	for _, r := range rs {
		n += r.end - r.off
	}
	return n
}

// ipv6FragHeader finds the fragment header: its offset in l3 and the offset
// of the next-header byte that names it.
func ipv6FragHeader(l3 []byte) (fo, prev int, ok bool) {
	next, off, prev := l3[6], 40, 6
	for range packet.MaxIPv6ExtHeaders {
		switch next {
		case packet.ProtoIPv6Fragment:
			return off, prev, len(l3) >= off+8
		case packet.ProtoHopOpts, packet.ProtoRouting, packet.ProtoDstOpts:
			if len(l3) < off+8 {
				return 0, 0, false
			}
			prev = off
			next, off = l3[off], off+(int(l3[off+1])+1)*8
		default:
			return 0, 0, false
		}
	}
	return 0, 0, false
}

// lend puts the reassembled datagram of q into a pool buffer and makes it
// p's frame (raw IP: the link header is not kept).
func (w *Worker) lend(p *packet.Packet, q *fragQueue, proto uint8) bool {
	if len(w.loans) >= w.t.frag.opts.MaxBuffers {
		return false
	}
	var buf []byte
	if n := len(w.bufs); n > 0 {
		buf, w.bufs = w.bufs[n-1], w.bufs[:n-1]
	} else {
		buf = make([]byte, packet.Headroom+maxDatagram)
	}
	n := len(q.hdr) + len(q.data)
	f := buf[packet.Headroom : packet.Headroom+n]
	copy(f, q.hdr)
	copy(f[len(q.hdr):], q.data)
	if p.Family == packet.FamilyIPv4 {
		ip := packet.IPv4(f)
		ip.SetTotalLen(uint16(n))
		ip.SetFragment(0, false)
		ip.SetChecksum(0)
		ip.SetChecksum(ip.ComputeChecksum())
	} else {
		// Unlink the fragment header: it is not in hdr; the byte that named
		// it now names what followed it.
		f[q.nextOff] = proto
		binary.BigEndian.PutUint16(f[4:], uint16(n-40))
	}
	w.loans = append(w.loans, loan{p: p, buf: p.Buf, big: buf})
	p.Buf, p.Frame = buf, f
	if p.Parse(packet.LinkRaw) != packet.ReasonNone {
		w.repay()
		return false
	}
	return true
}

type loan struct {
	p   *packet.Packet
	buf []byte
	big []byte
}

// repay gives packets their own buffers back and keeps the big ones.
func (w *Worker) repay() {
	for _, l := range w.loans {
		l.p.Buf = l.buf
		l.p.Frame = l.buf[:0]
		if len(l.buf) >= packet.Headroom {
			l.p.Frame = l.buf[packet.Headroom:packet.Headroom]
		}
		w.bufs = append(w.bufs, l.big)
	}
	clear(w.loans)
	w.loans = w.loans[:0]
}
