package tun

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	wgtun "golang.zx2c4.com/wireguard/tun"

	"github.com/nfgo/nfgo/packet"
)

// ErrClosed is returned by ReadBatch and WriteBatch after Close. It is
// net.ErrClosed, so callers can test for it without importing this package.
var ErrClosed = net.ErrClosed

// OffloadMode selects whether the device uses GSO/GRO offloads.
type OffloadMode uint8

const (
	// OffloadsAuto probes offloads at start and uses them if they work.
	OffloadsAuto OffloadMode = iota
	// OffloadsOn uses offloads without probing.
	OffloadsOn
	// OffloadsOff uses plain one-packet I/O.
	OffloadsOff
)

func (m OffloadMode) String() string {
	switch m {
	case OffloadsAuto:
		return "auto"
	case OffloadsOn:
		return "on"
	case OffloadsOff:
		return "off"
	}
	return "offloads(?)"
}

// Options configure a Port. Every field may be left zero.
type Options struct {
	// Name is the interface name. Zero: the kernel picks one (tunN).
	Name string
	// MTU of the interface. Zero: 1500. At most packet.BufSize -
	// packet.Headroom, what a packet's buffer holds.
	MTU int
	// Offloads selects GSO/GRO. Zero: OffloadsAuto.
	Offloads OffloadMode
	// Logger receives the offload decision and rare events, never
	// per-packet messages. Nil: discard.
	Logger *slog.Logger

	probe func() error // nil: probeOffloads; tests replace it
}

// readWait is how long ReadBatch waits for a first packet.
const readWait = 100 * time.Millisecond

// txOffset is the headroom in front of each frame handed to the device;
// wireguard's tun writes the virtio-net header there.
const txOffset = 16

// maxSuperPacket bounds a coalesced write.
const maxSuperPacket = 65535

// Port is a TUN device: raw IP packets, one queue. It satisfies the
// engine's Port interface.
type Port struct {
	dev      wgtun.Device
	file     *os.File
	fd       int
	name     string
	mtu      int
	offloads bool
	log      *slog.Logger

	mu     sync.RWMutex // batches hold it shared, Close exclusively
	closed bool

	// RX: one device read can yield many packets (a GSO packet split
	// into segments); what does not fit in the caller's batch waits in
	// staging for the next ReadBatch.
	rxBufs  [][]byte
	rxSizes []int
	rxNext  int
	rxEnd   int
	pollfd  [1]unix.PollFd

	// TX: frames are copied into txStore, whose buffers have room for
	// wireguard to coalesce packets into them when offloads are on.
	txStore [][]byte
	txBufs  [][]byte

	stats     counters
	txErrLogs atomic.Bool
}

// New creates the TUN device, decides on offloads, and brings the device
// up. It must be called from a thread in the network namespace the device
// belongs in.
func New(opts Options) (*Port, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mtu := opts.MTU
	if mtu == 0 {
		mtu = 1500
	}
	if mtu < 576 || mtu > packet.BufSize-packet.Headroom {
		return nil, fmt.Errorf("tun: MTU %d outside 576..%d", mtu, packet.BufSize-packet.Headroom)
	}
	offloads := opts.Offloads != OffloadsOff
	reason := "asked"
	if opts.Offloads == OffloadsAuto {
		probe := opts.probe
		if probe == nil {
			probe = probeOffloads
		}
		if err := probe(); err != nil {
			offloads, reason = false, "probe failed: "+err.Error()
			log.Warn("TUN offloads do not work on this kernel, using plain I/O", "err", err)
		} else {
			reason = "probe passed"
		}
	}
	dev, err := createDevice(opts.Name, mtu, offloads)
	if err != nil {
		return nil, fmt.Errorf("tun: create %q: %w", opts.Name, err)
	}
	p := &Port{dev: dev, file: dev.File(), mtu: mtu, offloads: offloads}
	fail := func(err error) (*Port, error) {
		dev.Close()
		return nil, fmt.Errorf("tun %s: %w", p.name, err)
	}
	if p.name, err = dev.Name(); err != nil {
		return fail(err)
	}
	p.log = log.With("port", p.name)
	go func() {
		// wireguard's tun reports link events on a channel of its own;
		// drain it so its listener never blocks. It ends at Close.
		for range dev.Events() {
		}
	}()
	if p.fd, err = rawFD(p.file); err != nil {
		return fail(err)
	}
	if err := setUp(p.name); err != nil {
		return fail(err)
	}
	p.pollfd[0] = unix.PollFd{Fd: int32(p.fd), Events: unix.POLLIN}
	n := dev.BatchSize()
	p.rxBufs = make([][]byte, n)
	p.rxSizes = make([]int, n)
	for i := range p.rxBufs {
		p.rxBufs[i] = make([]byte, packet.BufSize-packet.Headroom)
	}
	p.log.Info("TUN port open", "mtu", mtu, "offloads", offloads, "why", reason, "batch", n)
	return p, nil
}

// Name is the interface name.
func (p *Port) Name() string { return p.name }

// Link is packet.LinkRaw.
func (p *Port) Link() packet.LinkType { return packet.LinkRaw }

// MTU is the MTU the device was created with.
func (p *Port) MTU() int { return p.mtu }

// HardwareAddr is zero: TUN devices have no link layer.
func (p *Port) HardwareAddr() packet.MAC { return packet.MAC{} }

// NumQueues is 1.
func (p *Port) NumQueues() int { return 1 }

// Offloads reports whether GSO/GRO offloads are in use.
func (p *Port) Offloads() bool { return p.offloads }

// Mode is "offloads" or "plain".
func (p *Port) Mode() string {
	if p.offloads {
		return "offloads"
	}
	return "plain"
}

// ReadBatch stores up to len(pkts) packets the kernel sent to the device,
// waiting at most about 100 ms for the first. A GSO packet comes out as
// its segments, each at most the MTU; segments beyond len(pkts) are kept
// for the next call.
func (p *Port) ReadBatch(q int, pkts []*packet.Packet) (int, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return 0, ErrClosed
	}
	stored := p.drain(pkts)
	if stored == len(pkts) {
		return stored, nil
	}
	// A safety net: reads only follow a poll that saw data, but should
	// the data be gone, the read must not block past the batch.
	p.file.SetReadDeadline(time.Now().Add(2 * readWait))
	wait := int(readWait / time.Millisecond)
	if stored > 0 {
		wait = 0
	}
	for stored < len(pkts) {
		ready, err := unix.Poll(p.pollfd[:], wait)
		if err != nil && err != unix.EINTR {
			return stored, fmt.Errorf("tun %s: poll: %w", p.name, err)
		}
		if ready == 0 {
			break
		}
		wait = 0
		n, err := p.dev.Read(p.rxBufs, p.rxSizes, 0)
		if err != nil {
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				return stored, nil
			case errors.Is(err, os.ErrClosed):
				return stored, ErrClosed
			case errors.Is(err, wgtun.ErrTooManySegments):
				p.stats.rxDropped.Add(1) // the tail of a super-packet
			default:
				p.stats.rxDropped.Add(1) // a malformed virtio-net header or packet
				n = 0
			}
		}
		if n > 1 {
			p.stats.rxSuper.Add(1)
		}
		if p.offloads {
			for i := range max(n, 0) {
				fixZeroUDPChecksum(p.rxBufs[i][:p.rxSizes[i]], n > 1)
			}
		}
		p.rxNext, p.rxEnd = 0, max(n, 0)
		stored += p.drain(pkts[stored:])
	}
	return stored, nil
}

// drain moves staged packets into pkts.
func (p *Port) drain(pkts []*packet.Packet) int {
	stored := 0
	var bytes uint64
	for p.rxNext < p.rxEnd && stored < len(pkts) {
		size := p.rxSizes[p.rxNext]
		b := p.rxBufs[p.rxNext]
		p.rxNext++
		pk := pkts[stored]
		if size <= 0 || size > len(b) || size > len(pk.Buf)-packet.Headroom {
			p.stats.rxDropped.Add(1)
			continue
		}
		copy(pk.SetFrame(size), b[:size])
		stored++
		bytes += uint64(size)
	}
	p.stats.rxPackets.Add(uint64(stored))
	p.stats.rxBytes.Add(bytes)
	return stored
}

// WriteBatch hands the packets of pkts to the kernel, coalesced into GSO
// packets where offloads are on and they allow it. A failed device write
// counts its packets as dropped (as many as wireguard reports failing).
func (p *Port) WriteBatch(q int, pkts []*packet.Packet) (int, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return 0, ErrClosed
	}
	for len(p.txStore) < len(pkts) {
		size := txOffset + p.mtu
		if p.offloads {
			size = txOffset + maxSuperPacket
		}
		p.txStore = append(p.txStore, make([]byte, size))
	}
	if cap(p.txBufs) < len(pkts) {
		p.txBufs = make([][]byte, len(pkts))
	}
	bufs := p.txBufs[:0]
	var bytes uint64
	for i, pk := range pkts {
		if len(pk.Frame) == 0 || len(pk.Frame) > p.mtu {
			p.stats.txDropped.Add(1)
			continue
		}
		b := p.txStore[i][:txOffset+len(pk.Frame)]
		copy(b[txOffset:], pk.Frame)
		bufs = append(bufs, b)
		bytes += uint64(len(pk.Frame))
	}
	if len(bufs) == 0 {
		return 0, nil
	}
	_, err := p.dev.Write(bufs, txOffset)
	clear(p.txBufs[:len(bufs)])
	if err != nil {
		if errors.Is(err, os.ErrClosed) {
			return 0, ErrClosed
		}
		failed := 1
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			failed = len(j.Unwrap())
		}
		p.stats.txDropped.Add(uint64(failed))
		p.stats.txErrors.Add(1)
		if !p.txErrLogs.Swap(true) {
			p.log.Warn("TUN write failed; further failures are only counted", "err", err, "offloads", p.offloads)
		}
		sent := max(len(bufs)-failed, 0)
		p.stats.txPackets.Add(uint64(sent))
		return sent, nil
	}
	p.stats.txPackets.Add(uint64(len(bufs)))
	p.stats.txBytes.Add(bytes)
	return len(bufs), nil
}

// Close destroys the device, after running batches finish (at most about
// 100 ms). It is safe to call more than once.
func (p *Port) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	if err := p.dev.Close(); err != nil {
		return fmt.Errorf("tun %s: close: %w", p.name, err)
	}
	p.log.Info("TUN port closed")
	return nil
}

// fixZeroUDPChecksum stores a computed UDP checksum of 0 as 0xFFFF (RFC
// 768, RFC 8200 section 8.1; the kernel's CSUM_MANGLED_0). wireguard's tun
// fills in checksums of split GSO segments and of CHECKSUM_PARTIAL packets
// and writes 0 when the sum comes out so, which IPv6 receivers drop and
// IPv4 ones read as "no checksum". An IPv6 UDP checksum of 0 is never
// valid, so it is always one of those; in IPv4 the sender may have meant
// "none", so only segments wireguard split (split) are fixed.
func fixZeroUDPChecksum(b []byte, split bool) {
	var l4 int
	switch {
	case len(b) >= packet.IPv6HeaderLen+8 && b[0]>>4 == 6 && b[6] == packet.ProtoUDP:
		l4 = packet.IPv6HeaderLen
	case split && len(b) >= 20+8 && b[0]>>4 == 4 && b[9] == packet.ProtoUDP:
		l4 = int(b[0]&0xf) * 4
		if len(b) < l4+8 {
			return
		}
	default:
		return
	}
	if b[l4+6] == 0 && b[l4+7] == 0 {
		b[l4+6], b[l4+7] = 0xff, 0xff
	}
}
