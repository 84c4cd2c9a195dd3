package conntrack

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

// fakeClock is the tables' clock in tests: time moves only when a test
// says so.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() int64              { return c.ns.Load() }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func newTestTable(tb testing.TB, o Options) (*Table, *fakeClock) {
	tb.Helper()
	c := &fakeClock{}
	c.ns.Store(1e9)
	if o.Clock == nil {
		o.Clock = c.now
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = -1
	}
	if o.Max == 0 {
		o.Max = 4096
	}
	if o.HashSeed == 0 {
		o.HashSeed = 42
	}
	t := New(o)
	tb.Cleanup(t.Close)
	return t, c
}

// through tracks p and, unless it was dropped, confirms it, as the engine
// does for a packet that passes; it returns whether the packet survived.
func through(w *Worker, p *packet.Packet) bool {
	var drop [1]bool
	w.Track([]*packet.Packet{p}, drop[:])
	if drop[0] {
		w.Abandon(p)
		w.Idle()
		return false
	}
	ok := w.Confirm(p)
	w.Idle()
	return ok
}

var (
	client = netip.MustParseAddrPort("198.18.0.1:40000")
	server = netip.MustParseAddrPort("198.19.0.1:80")
)

// conv is a TCP conversation between client and server.
type conv struct {
	tb  testing.TB
	t   *Table
	w   *Worker
	cli netip.AddrPort
	srv netip.AddrPort
}

func newConv(tb testing.TB, t *Table) *conv {
	return &conv{tb: tb, t: t, w: t.NewWorker(), cli: client, srv: server}
}

// send sends a segment from the client (orig) or the server (!orig) and
// returns its ctinfo and the entry's TCP state after it.
func (c *conv) send(orig bool, flags uint8, seq, ack uint32, payload int, o *pktbuild.Options) (CTInfo, TCPState) {
	c.tb.Helper()
	src, dst := c.cli, c.srv
	if !orig {
		src, dst = dst, src
	}
	p := pktbuild.Parsed(c.tb, pktbuild.TCP(src, dst, flags, seq, ack, make([]byte, payload), o))
	if !through(c.w, p) {
		c.tb.Fatalf("packet dropped")
	}
	k := TupleFrom(c.cli, c.srv, packet.ProtoTCP)
	e, ok := c.t.Get(k)
	if !ok {
		return CTInfo(p.CTInfo), TCPNone
	}
	return CTInfo(p.CTInfo), e.TCPState
}

func (c *conv) entry() Entry {
	e, ok := c.t.Get(TupleFrom(c.cli, c.srv, packet.ProtoTCP))
	if !ok {
		c.tb.Fatalf("no entry")
	}
	return e
}

const (
	fS  = packet.TCPFlagSYN
	fA  = packet.TCPFlagACK
	fF  = packet.TCPFlagFIN
	fR  = packet.TCPFlagRST
	fSA = fS | fA
	fFA = fF | fA
	fRA = fR | fA
	fPA = packet.TCPFlagPSH | fA
)

// handshake opens a connection: client ISN 1000, server ISN 5000.
func (c *conv) handshake() {
	c.tb.Helper()
	c.send(true, fS, 1000, 0, 0, nil)
	c.send(false, fSA, 5000, 1001, 0, nil)
	c.send(true, fA, 1001, 5001, 0, nil)
}
