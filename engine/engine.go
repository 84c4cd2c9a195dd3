package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/hooks"
	"github.com/nfgo/nfgo/nat"
	"github.com/nfgo/nfgo/packet"
)

// Errors returned by the engine's configuration methods.
var (
	ErrRunning    = errors.New("engine: already running")
	ErrNoPort     = errors.New("engine: no such interface")
	ErrLocalRoute = errors.New("engine: prefix is a local address")
	ErrBadPacket  = errors.New("engine: malformed packet")
)

// LoopbackIndex is the interface index of the loopback interface "lo",
// through which packets the host sends to its own addresses pass, as in the
// kernel.
const LoopbackIndex = 1

// Options configures an Engine. The zero value is a working engine with no
// local delivery.
type Options struct {
	// Logger receives the engine's structured logs; nil discards them.
	Logger *slog.Logger
	// BatchSize is the largest batch a worker reads (0 or more than 64: 64).
	BatchSize int
	// Deliver receives the packets that passed INPUT, in batches, on the
	// goroutine that processed them. The packets are the engine's and are
	// reused after Deliver returns: copy what you keep. Deliver must not
	// call Inject. With a host port (PortConfig.Host) they go there
	// instead; with neither, they are dropped and counted as DropNoLocal.
	// ICMP echo requests and neighbor discovery are answered by the engine
	// itself either way.
	Deliver func(pkts []*packet.Packet)
	// NoEcho stops the engine from answering ICMP and ICMPv6 echo requests
	// to its addresses; they go to Deliver like other local packets.
	NoEcho bool
	// ICMPRate is how many ICMP errors per second each worker may send, and
	// ICMPBurst how many at once (the kernel's icmp_msgs_per_sec and
	// icmp_msgs_burst). 0 means 1000 and 50; a negative rate means no limit.
	ICMPRate, ICMPBurst int
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Conntrack, when set, tracks connections through the engine's hooks
	// (see ct.go); nil turns tracking off, and every packet's ct state is
	// then invalid to the rules. The engine does not close it.
	Conntrack *conntrack.Table
}

// PortConfig is how a port joins the engine.
type PortConfig struct {
	// Addrs are the interface's addresses with their prefix lengths: each
	// makes a local route for the address and an on-link route for the
	// prefix, as `ip addr add` does.
	Addrs []netip.Prefix
	// Host makes the port the way to the host's own stack (a TUN device
	// that carries the engine's addresses in the host kernel): packets that
	// pass INPUT are written to it, and packets read from it are the host's
	// and enter OUTPUT. At most one port is the host port; it takes no
	// addresses and no routes of its own.
	Host bool
}

// iface is one interface of the engine: a port, or the loopback.
type iface struct {
	index   uint32
	name    string
	port    Port
	link    packet.LinkType
	mtu     int
	mac     packet.MAC
	txLock  []sync.Mutex // one per TX queue
	addrs   atomic.Pointer[[]netip.Prefix]
	running atomic.Bool
	host    bool // the port to the host's stack
	drops   [NumDropReasons]atomic.Uint64
}

// Engine is the packet pipeline. Configure it, then Run it.
type Engine struct {
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	hooks   *hooks.Registry
	fib     atomic.Pointer[fib]
	neigh   atomic.Pointer[neighTable]
	neighs  neighState
	queues  atomic.Pointer[map[uint16]QueueHandler]
	rules   atomic.Pointer[ruleState]
	tracer  atomic.Pointer[Tracer]
	rulesMu sync.Mutex // serializes SetRuleset
	ruleOps map[hookKey]*hooks.Ops
	ct      *conntrack.Table
	nat     *nat.NAT                // with connection tracking
	natOn   bool                    // NAT hooks registered (under rulesMu)
	pipes   atomic.Pointer[[]*pipe] // by worker index, for hooks that need per-worker state
	ifs     []*iface                // by index; 0 is unused, LoopbackIndex is lo
	host    *iface                  // the host port, or nil
	cfgMu   sync.Mutex
	running atomic.Bool
	ctr     counters

	localMu   sync.Mutex // serializes the local pipe (Inject, reinjection)
	localPipe *pipe
	reinject  chan *QueuedPacket
}

// New returns an engine with no ports.
func New(opts Options) *Engine {
	if opts.BatchSize <= 0 || opts.BatchSize > hooks.MaxBatch {
		opts.BatchSize = hooks.MaxBatch
	}
	if opts.ICMPRate == 0 {
		opts.ICMPRate = 1000
	}
	if opts.ICMPBurst <= 0 {
		opts.ICMPBurst = 50
	}
	e := &Engine{opts: opts, log: opts.Logger, now: opts.Now, hooks: hooks.NewRegistry(), ct: opts.Conntrack}
	if e.log == nil {
		e.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if e.now == nil {
		e.now = time.Now
	}
	e.fib.Store(newFIB())
	e.neigh.Store(&neighTable{})
	lo := &iface{index: LoopbackIndex, name: "lo", link: packet.LinkRaw, mtu: 65536}
	lo.addrs.Store(&[]netip.Prefix{})
	e.ifs = []*iface{nil, lo}
	e.pipes.Store(&[]*pipe{})
	e.localPipe = newPipe(e, 0)
	if e.ct != nil {
		e.nat = nat.New(e.ct, nat.Options{Logger: opts.Logger})
		e.registerConntrack()
	}
	e.reinject = make(chan *QueuedPacket, 1024)
	// The kernel's loopback routes: 127.0.0.0/8 and ::1 are local.
	for _, pfx := range []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("::1/128")} {
		if err := e.AddAddress(LoopbackIndex, pfx); err != nil {
			panic(err) // cannot happen on an empty FIB
		}
	}
	return e
}

// Hooks is the engine's hook registry: register callbacks on it at any time.
func (e *Engine) Hooks() *hooks.Registry { return e.hooks }

// Stats returns a snapshot of the engine's counters.
func (e *Engine) Stats() Stats {
	s := e.ctr.snapshot()
	s.PortDrops = map[string][NumDropReasons]uint64{}
	for _, ifc := range e.ifs[1:] {
		var d [NumDropReasons]uint64
		for r := range d {
			d[r] = ifc.drops[r].Load()
		}
		s.PortDrops[ifc.name] = d
	}
	return s
}

// AddPort adds a port as a new interface and returns its index. Ports are
// added before Run.
func (e *Engine) AddPort(p Port, cfg PortConfig) (uint32, error) {
	e.cfgMu.Lock()
	if e.running.Load() {
		e.cfgMu.Unlock()
		return 0, ErrRunning
	}
	for _, ifc := range e.ifs[1:] {
		if ifc.name == p.Name() {
			e.cfgMu.Unlock()
			return 0, fmt.Errorf("engine: interface %q already added", p.Name())
		}
	}
	link := 0
	if p.Link() == packet.LinkEthernet {
		link = packet.EthernetHeaderLen + 2*packet.VLANTagLen
	}
	if p.MTU()+link > packet.BufSize-packet.Headroom {
		e.cfgMu.Unlock()
		return 0, fmt.Errorf("engine: interface %q: MTU %d is more than a packet buffer holds (%d)", p.Name(), p.MTU(), packet.BufSize-packet.Headroom-link)
	}
	nq := max(p.NumQueues(), 1)
	ifc := &iface{
		index: uint32(len(e.ifs)), name: p.Name(), port: p,
		link: p.Link(), mtu: p.MTU(), mac: p.HardwareAddr(),
		txLock: make([]sync.Mutex, nq),
	}
	ifc.addrs.Store(&[]netip.Prefix{})
	if cfg.Host {
		if e.host != nil {
			e.cfgMu.Unlock()
			return 0, fmt.Errorf("engine: %q: there is a host port already (%q)", p.Name(), e.host.name)
		}
		if len(cfg.Addrs) > 0 || p.Link() != packet.LinkRaw {
			e.cfgMu.Unlock()
			return 0, fmt.Errorf("engine: host port %q must be a raw IP port without addresses", p.Name())
		}
		ifc.host = true
		e.host = ifc
	}
	e.ifs = append(e.ifs, ifc)
	e.cfgMu.Unlock()
	for _, a := range cfg.Addrs {
		if err := e.AddAddress(ifc.index, a); err != nil {
			return 0, err
		}
	}
	e.log.Info("port added", "if", ifc.name, "index", ifc.index, "link", ifc.link.String(), "mtu", ifc.mtu, "queues", nq)
	return ifc.index, nil
}

// IfIndex is the index of the interface named name, or 0.
func (e *Engine) IfIndex(name string) uint32 {
	for _, ifc := range e.ifs[1:] {
		if ifc.name == name {
			return ifc.index
		}
	}
	return 0
}

// IfName is the name of interface index, or "" when there is none.
func (e *Engine) IfName(index uint32) string {
	if ifc := e.iface(index); ifc != nil {
		return ifc.name
	}
	return ""
}

func (e *Engine) iface(index uint32) *iface {
	if index == 0 || int(index) >= len(e.ifs) {
		return nil
	}
	return e.ifs[index]
}

// AddAddress gives interface index the address a.Addr(): a local route for
// the address and an on-link route for its prefix, and for an IPv4 prefix
// shorter than /31 a broadcast route for its last address (fib_add_ifaddr).
func (e *Engine) AddAddress(index uint32, a netip.Prefix) error {
	e.cfgMu.Lock()
	defer e.cfgMu.Unlock()
	ifc := e.iface(index)
	if ifc == nil {
		return ErrNoPort
	}
	f := e.fib.Load()
	f, err := f.with(Route{Prefix: netip.PrefixFrom(a.Addr(), a.Addr().BitLen()), Type: RouteLocal, OutIf: index})
	if err != nil {
		return err
	}
	if index != LoopbackIndex && a.Bits() < a.Addr().BitLen() {
		if f, err = f.with(Route{Prefix: a.Masked(), Type: RouteUnicast, OutIf: index, Src: a.Addr()}); err != nil {
			return err
		}
	}
	if bc, ok := broadcastOf(a); ok && index != LoopbackIndex {
		// A second address in the subnet, or an address that is the
		// broadcast one, keeps the route there is.
		if _, taken := f.lpm.Get(netip.PrefixFrom(bc, 32)); !taken {
			if f, err = f.with(Route{Prefix: netip.PrefixFrom(bc, 32), Type: RouteBroadcast, OutIf: index, Src: a.Addr()}); err != nil {
				return err
			}
		}
	}
	addrs := append(append([]netip.Prefix(nil), *ifc.addrs.Load()...), a)
	ifc.addrs.Store(&addrs)
	e.fib.Store(f)
	return nil
}

// broadcastOf is the broadcast address of IPv4 prefix a, for a prefix
// shorter than /31 (RFC 3021 point-to-point /31s have none).
func broadcastOf(a netip.Prefix) (netip.Addr, bool) {
	if !a.Addr().Is4() || a.Bits() >= 31 {
		return netip.Addr{}, false
	}
	b := a.Addr().As4()
	binary.BigEndian.PutUint32(b[:], binary.BigEndian.Uint32(b[:])|^uint32(0)>>a.Bits())
	return netip.AddrFrom4(b), true
}

// Addrs lists the addresses of interface index.
func (e *Engine) Addrs(index uint32) []netip.Prefix {
	ifc := e.iface(index)
	if ifc == nil {
		return nil
	}
	return append([]netip.Prefix(nil), *ifc.addrs.Load()...)
}

// IsLocal reports whether a is one of the engine's addresses.
func (e *Engine) IsLocal(a netip.Addr) bool { return e.fib.Load().is(a, RouteLocal) }

// AddRoute adds or replaces a route. A unicast route names its out
// interface; its gateway, if any, must be reachable on that interface.
func (e *Engine) AddRoute(r Route) error {
	e.cfgMu.Lock()
	defer e.cfgMu.Unlock()
	if r.Type == RouteUnicast && e.iface(r.OutIf) == nil {
		return fmt.Errorf("route %s: %w %d", r.Prefix, ErrNoPort, r.OutIf)
	}
	if r.Type == RouteLocal || r.Type == RouteBroadcast {
		return fmt.Errorf("route %s: %v routes come from AddAddress", r.Prefix, r.Type)
	}
	f, err := e.fib.Load().with(r)
	if err != nil {
		return err
	}
	e.fib.Store(f)
	return nil
}

// DelRoute removes the route at prefix; it reports whether there was one.
func (e *Engine) DelRoute(pfx netip.Prefix) bool {
	e.cfgMu.Lock()
	defer e.cfgMu.Unlock()
	f, ok := e.fib.Load().without(pfx)
	e.fib.Store(f)
	return ok
}

// Routes lists the FIB.
func (e *Engine) Routes() []Route { return e.fib.Load().all() }

// Lookup is the route the engine would take to dst.
func (e *Engine) Lookup(dst netip.Addr) (Route, bool) {
	r, ok := e.fib.Load().lookup(dst)
	if !ok {
		return Route{}, false
	}
	return *r, true
}

// Run starts one worker per RX queue of every port and blocks until ctx is
// done; then it waits for the workers to finish their batches and returns.
// Ports are not closed: they belong to the caller.
func (e *Engine) Run(ctx context.Context) error {
	e.cfgMu.Lock()
	if !e.running.CompareAndSwap(false, true) {
		e.cfgMu.Unlock()
		return ErrRunning
	}
	ifs := e.ifs
	e.cfgMu.Unlock()
	defer e.running.Store(false)

	var wg sync.WaitGroup
	id := 0
	for _, ifc := range ifs[2:] {
		ifc.running.Store(true)
		for q := 0; q < len(ifc.txLock); q++ {
			id++
			w := newWorker(e, id, ifc, q)
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				w.loop(ctx)
			}()
		}
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		e.reinjectLoop(ctx)
	}()
	go func() {
		defer wg.Done()
		t := time.NewTicker(neighRetryInterval / 4)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				e.neighTick()
			case <-ctx.Done():
				return
			}
		}
	}()
	e.log.Info("engine running", "workers", id)
	<-ctx.Done()
	wg.Wait()
	e.log.Info("engine stopped")
	return nil
}

// Inject sends a packet the host originates: frame is a raw IPv4 or IPv6
// packet. It enters OUTPUT and is routed, and walks the rest of its way on
// the calling goroutine. It returns an error only when the frame does not
// parse; what the hooks and routing decide is counted in Stats.
func (e *Engine) Inject(frame []byte) error {
	p := packet.New()
	if len(frame) > len(p.Buf)-packet.Headroom {
		p.Buf = make([]byte, packet.Headroom+len(frame))
	}
	copy(p.SetFrame(len(frame)), frame)
	if r := p.Parse(packet.LinkRaw); r != packet.ReasonNone {
		e.ctr.malformed[r].Add(1)
		return fmt.Errorf("%w: %s", ErrBadPacket, r)
	}
	if p.Family != packet.FamilyIPv4 && p.Family != packet.FamilyIPv6 {
		return fmt.Errorf("%w: not IP", ErrBadPacket)
	}
	p.Flags |= packet.FlagLocalOut
	e.localMu.Lock()
	defer e.localMu.Unlock()
	pp := e.localPipe
	pp.begin([]*packet.Packet{p})
	pp.output([]*packet.Packet{p})
	pp.end()
	return nil
}
