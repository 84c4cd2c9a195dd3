// Package memio is an in-memory port pair: what one end writes, the other
// reads. It carries frames between an engine and a test, or between two
// engines, in batches, with no system calls.
package memio

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nfgo/nfgo/packet"
)

// ErrClosed is returned after Close: it is net.ErrClosed, which the engine
// takes as the end of a port.
var ErrClosed = net.ErrClosed

// Options configures a pair. Zero values: 1 queue, 1024 frames per ring,
// MTU 1500, raw IP frames.
type Options struct {
	Queues   int
	RingSize int
	MTU      int
	Link     packet.LinkType
	// MACs of the two ends, for LinkEthernet.
	MACA, MACB packet.MAC
	// PollInterval is how long ReadBatch waits for a frame before returning
	// 0 (default 50 ms).
	PollInterval time.Duration
}

// Port is one end of a pair.
type Port struct {
	name   string
	mac    packet.MAC
	opts   *Options
	rx, tx []*ring // rx: frames for this end; tx: frames for the peer
	closed *atomic.Bool

	rxPackets, rxBytes, txPackets, txBytes, txDropped atomic.Uint64
}

// Pair returns two connected ports named a and b.
func Pair(a, b string, opts Options) (*Port, *Port) {
	if opts.Queues <= 0 {
		opts.Queues = 1
	}
	if opts.RingSize <= 0 {
		opts.RingSize = 1024
	}
	if opts.MTU <= 0 {
		opts.MTU = 1500
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 50 * time.Millisecond
	}
	frameCap := opts.MTU + 64
	ab := make([]*ring, opts.Queues)
	ba := make([]*ring, opts.Queues)
	for i := range ab {
		ab[i] = newRing(opts.RingSize, frameCap)
		ba[i] = newRing(opts.RingSize, frameCap)
	}
	closed := new(atomic.Bool)
	o := &opts
	return &Port{name: a, mac: opts.MACA, opts: o, rx: ba, tx: ab, closed: closed},
		&Port{name: b, mac: opts.MACB, opts: o, rx: ab, tx: ba, closed: closed}
}

func (p *Port) Name() string             { return p.name }
func (p *Port) Link() packet.LinkType    { return p.opts.Link }
func (p *Port) MTU() int                 { return p.opts.MTU }
func (p *Port) HardwareAddr() packet.MAC { return p.mac }
func (p *Port) NumQueues() int           { return p.opts.Queues }

// ReadBatch copies up to len(pkts) frames from queue q into pkts. It waits
// up to the poll interval for the first one.
func (p *Port) ReadBatch(q int, pkts []*packet.Packet) (int, error) {
	r := p.rx[q]
	n := r.pop(pkts)
	if n == 0 {
		if p.closed.Load() {
			return 0, ErrClosed
		}
		if !r.wait(p.opts.PollInterval, p.closed) {
			return 0, nil
		}
		n = r.pop(pkts)
	}
	var bytes uint64
	for _, pk := range pkts[:n] {
		bytes += uint64(len(pk.Frame))
	}
	p.rxPackets.Add(uint64(n))
	p.rxBytes.Add(bytes)
	return n, nil
}

// WriteBatch copies the frames of pkts onto queue q towards the peer.
// Frames that do not fit in the ring, or are larger than the MTU allows,
// are dropped and counted.
func (p *Port) WriteBatch(q int, pkts []*packet.Packet) (int, error) {
	if p.closed.Load() {
		return 0, ErrClosed
	}
	n, bytes := p.tx[q].push(pkts)
	p.txPackets.Add(uint64(n))
	p.txBytes.Add(bytes)
	p.txDropped.Add(uint64(len(pkts) - n))
	return n, nil
}

// Send writes raw frames, for tests and embedders that hold frames rather
// than packets. It returns how many were taken.
func (p *Port) Send(q int, frames ...[]byte) int {
	var buf [64]*packet.Packet
	sent := 0
	for len(frames) > 0 {
		n := min(len(frames), len(buf))
		for i := 0; i < n; i++ {
			buf[i] = &packet.Packet{Frame: frames[i]}
		}
		k, _ := p.WriteBatch(q, buf[:n])
		sent += k
		frames = frames[n:]
	}
	return sent
}

// Recv reads what is waiting on queue q, up to max frames, as copies. It
// does not wait.
func (p *Port) Recv(q int, max int) [][]byte {
	var out [][]byte
	pk := packet.New()
	one := []*packet.Packet{pk}
	for len(out) < max && p.rx[q].pop(one) == 1 {
		out = append(out, append([]byte(nil), pk.Frame...))
	}
	return out
}

// Close closes both ends.
func (p *Port) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	for _, r := range p.rx {
		r.signal()
	}
	for _, r := range p.tx {
		r.signal()
	}
	return nil
}

// Stats are this end's counters (memio never drops on receive).
func (p *Port) Stats() (rxPackets, rxBytes, txPackets, txBytes, txDropped uint64) {
	return p.rxPackets.Load(), p.rxBytes.Load(), p.txPackets.Load(), p.txBytes.Load(), p.txDropped.Load()
}

// ring is a bounded FIFO of frames in preallocated slots.
type ring struct {
	mu     sync.Mutex
	slots  [][]byte
	lens   []int
	head   int // next to read
	count  int
	tooBig uint64 // frames dropped on pop: larger than the reader's buffer
	notify chan struct{}
	timer  *time.Timer
}

func newRing(size, frameCap int) *ring {
	r := &ring{slots: make([][]byte, size), lens: make([]int, size), notify: make(chan struct{}, 1)}
	for i := range r.slots {
		r.slots[i] = make([]byte, frameCap)
	}
	r.timer = time.NewTimer(time.Hour)
	r.timer.Stop()
	return r
}

func (r *ring) push(pkts []*packet.Packet) (int, uint64) {
	n := 0
	var bytes uint64
	r.mu.Lock()
	for _, p := range pkts {
		if r.count == len(r.slots) {
			break
		}
		if len(p.Frame) > len(r.slots[0]) {
			continue
		}
		i := (r.head + r.count) % len(r.slots)
		r.lens[i] = copy(r.slots[i], p.Frame)
		r.count++
		n++
		bytes += uint64(len(p.Frame))
	}
	r.mu.Unlock()
	if n > 0 {
		r.signal()
	}
	return n, bytes
}

// pop moves up to len(pkts) frames into pkts. A frame larger than a
// packet's buffer is dropped and counted.
func (r *ring) pop(pkts []*packet.Packet) int {
	r.mu.Lock()
	n := 0
	for n < len(pkts) && r.count > 0 {
		i := r.head
		r.head = (r.head + 1) % len(r.slots)
		r.count--
		if r.lens[i] > len(pkts[n].Buf)-packet.Headroom {
			r.tooBig++
			continue
		}
		copy(pkts[n].SetFrame(r.lens[i]), r.slots[i][:r.lens[i]])
		n++
	}
	r.mu.Unlock()
	return n
}

func (r *ring) signal() {
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// wait blocks until a push signals, the port closes, or d passes. It
// reports whether it was signalled.
func (r *ring) wait(d time.Duration, closed *atomic.Bool) bool {
	r.timer.Reset(d)
	select {
	case <-r.notify:
		r.timer.Stop()
		return !closed.Load()
	case <-r.timer.C:
		return false
	}
}
