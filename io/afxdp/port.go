package afxdp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/nfgo/nfgo/packet"
)

// ErrClosed is returned by ReadBatch and WriteBatch after Close. It is
// net.ErrClosed, so callers can test for it without importing this package.
var ErrClosed = net.ErrClosed

// Port is an Ethernet interface driven through AF_XDP sockets, one per
// queue. It satisfies the engine's Port interface.
type Port struct {
	name    string
	ifindex int
	mtu     int
	mac     packet.MAC
	log     *slog.Logger
	steer   *steering
	queues  []*queue
	mode    AttachMode
	zc      bool
	closed  atomic.Bool
	closeMu sync.Mutex
}

// queue is one socket and the lock that keeps Close from unmapping its
// rings under a ReadBatch or WriteBatch: batches hold it shared, Close
// exclusively. RX and TX of the same queue may run at once; they touch
// different rings.
type queue struct {
	mu     sync.RWMutex
	sock   *socket
	closed bool
}

// New opens an AF_XDP port on opts.Interface. It must be called from a
// thread in the interface's network namespace; the port keeps working from
// any thread afterwards.
//
// It attaches the steering program (native, else generic under ModeAuto),
// then binds one socket per queue (zero-copy where the driver has it under
// ZeroCopyAuto) and puts it in the program's map. Until a queue's socket is
// in the map, that queue's frames go to the kernel's stack.
func New(opts Options) (*Port, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ifi, err := net.InterfaceByName(opts.Interface)
	if err != nil {
		return nil, fmt.Errorf("afxdp: %w", err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("afxdp: %s is not an Ethernet interface", ifi.Name)
	}
	p := &Port{name: ifi.Name, ifindex: ifi.Index, mtu: ifi.MTU, log: log.With("port", ifi.Name)}
	copy(p.mac[:], ifi.HardwareAddr)

	cfg, err := socketSettings(opts, ifi.MTU)
	if err != nil {
		return nil, fmt.Errorf("afxdp %s: %w", p.name, err)
	}
	devQueues, err := deviceQueues(p.name)
	if err != nil || devQueues < 1 {
		p.log.Debug("channel count unknown, assuming one queue", "err", err)
		devQueues = 1
	}
	nq := opts.Queues
	if nq == 0 {
		nq = devQueues
	}
	if nq < 0 || nq > devQueues {
		return nil, fmt.Errorf("afxdp %s: %d queues asked, the device has %d", p.name, nq, devQueues)
	}

	p.steer, err = newSteering(p.ifindex, devQueues, opts.Mode)
	if err != nil {
		return nil, fmt.Errorf("afxdp %s: %w", p.name, err)
	}
	p.mode = p.steer.mode

	switch {
	case opts.ZeroCopy == ZeroCopyOff:
		cfg.bindFlags = unix.XDP_COPY
	case opts.ZeroCopy == ZeroCopyOn:
		if p.mode == ModeGeneric {
			p.steer.close()
			return nil, fmt.Errorf("afxdp %s: zero-copy asked but XDP is attached in generic mode", p.name)
		}
		cfg.bindFlags = unix.XDP_ZEROCOPY
	case p.mode == ModeGeneric:
		cfg.bindFlags = unix.XDP_COPY
	default:
		cfg.bindFlags = 0 // the kernel tries zero-copy and falls back to copy
	}
	for q := range nq {
		s, attempts, err := openSocket(p.ifindex, q, cfg)
		if err == nil {
			if err = p.steer.setSocket(q, s.fd); err != nil {
				s.close()
				err = fmt.Errorf("queue %d: XSKMAP update: %w", q, err)
			}
		}
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("afxdp %s: %w", p.name, err)
		}
		if attempts > 1 {
			p.log.Info("queue was busy, bound after retries", "queue", q, "attempts", attempts)
		}
		if q == 0 {
			p.zc = s.zeroCopy
		}
		p.queues = append(p.queues, &queue{sock: s})
	}
	p.log.Info("AF_XDP port open", "ifindex", p.ifindex, "queues", nq, "device_queues", devQueues,
		"mode", p.Mode(), "frame_size", cfg.frameSize, "frames_per_queue", cfg.numFrames)
	return p, nil
}

// socketSettings validates the UMEM geometry of opts.
func socketSettings(opts Options, mtu int) (socketConfig, error) {
	cfg := socketConfig{
		frameSize:   uint32(opts.FrameSize),
		numFrames:   uint32(opts.NumFrames),
		bindTimeout: opts.BindTimeout,
	}
	// A copy-mode frame carries XDP_PACKET_HEADROOM in front of the
	// packet; leave room for it and two VLAN tags past the MTU.
	need := unix.XDP_PACKET_HEADROOM + mtu + 14 + 8
	if cfg.frameSize == 0 {
		cfg.frameSize = 2048
		if need > 2048 {
			cfg.frameSize = 4096
		}
	}
	if cfg.frameSize != 2048 && cfg.frameSize != 4096 {
		return cfg, fmt.Errorf("frame size %d: want 2048 or 4096", cfg.frameSize)
	}
	if need > int(cfg.frameSize) {
		return cfg, fmt.Errorf("MTU %d does not fit frames of %d bytes", mtu, cfg.frameSize)
	}
	if cfg.numFrames == 0 {
		cfg.numFrames = defaultNumFrames
	}
	if cfg.numFrames < minNumFrames || cfg.numFrames&(cfg.numFrames-1) != 0 {
		return cfg, fmt.Errorf("%d frames: want a power of two of at least %d", cfg.numFrames, minNumFrames)
	}
	if cfg.bindTimeout == 0 {
		cfg.bindTimeout = defaultBindTimeout
	}
	return cfg, nil
}

// Name is the interface name.
func (p *Port) Name() string { return p.name }

// Link is packet.LinkEthernet.
func (p *Port) Link() packet.LinkType { return packet.LinkEthernet }

// MTU is the interface MTU when the port was opened.
func (p *Port) MTU() int { return p.mtu }

// HardwareAddr is the interface's MAC address.
func (p *Port) HardwareAddr() packet.MAC { return p.mac }

// NumQueues is the number of queues with a socket.
func (p *Port) NumQueues() int { return len(p.queues) }

// Ifindex is the interface index.
func (p *Port) Ifindex() int { return p.ifindex }

// AttachMode is the mode the XDP program was attached in, ModeNative or
// ModeGeneric.
func (p *Port) AttachMode() AttachMode { return p.mode }

// ZeroCopy reports whether the sockets are zero-copy.
func (p *Port) ZeroCopy() bool { return p.zc }

// Mode describes the XDP attach mode and the socket mode, such as
// "native/copy" or "native/zerocopy".
func (p *Port) Mode() string {
	if p.zc {
		return p.mode.String() + "/zerocopy"
	}
	return p.mode.String() + "/copy"
}

// ReadBatch copies up to len(pkts) frames received on queue q into pkts,
// waiting at most about 100 ms for the first. It returns (0, nil) when none
// came, and ErrClosed after Close.
func (p *Port) ReadBatch(q int, pkts []*packet.Packet) (int, error) {
	qu := p.queues[q]
	qu.mu.RLock()
	defer qu.mu.RUnlock()
	if qu.closed {
		return 0, ErrClosed
	}
	return qu.sock.readBatch(pkts)
}

// WriteBatch copies the frames of pkts onto queue q's TX ring and returns
// how many it took; the others (ring or free list full, frame too big) are
// dropped and counted in Stats.
func (p *Port) WriteBatch(q int, pkts []*packet.Packet) (int, error) {
	qu := p.queues[q]
	qu.mu.RLock()
	defer qu.mu.RUnlock()
	if qu.closed {
		return 0, ErrClosed
	}
	return qu.sock.writeBatch(pkts)
}

// Close detaches the XDP program, so that from then on the interface's
// frames go to the kernel's stack, then waits for running batches (at most
// about 100 ms) and releases the sockets and their memory. It is safe to
// call more than once.
func (p *Port) Close() error {
	p.closeMu.Lock()
	defer p.closeMu.Unlock()
	if p.closed.Swap(true) {
		return nil
	}
	var errs []error
	if p.steer != nil {
		errs = append(errs, p.steer.close())
	}
	for _, qu := range p.queues {
		qu.mu.Lock()
		qu.closed = true
		errs = append(errs, qu.sock.close())
		qu.mu.Unlock()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("afxdp %s: close: %w", p.name, err)
	}
	p.log.Info("AF_XDP port closed")
	return nil
}

// Frames counts the UMEM frames of all queues by owner, for leak checks.
// It briefly holds each queue exclusively.
func (p *Port) Frames() FrameCounts {
	var c FrameCounts
	for _, qu := range p.queues {
		qu.mu.Lock()
		if !qu.closed {
			f := qu.sock.frames()
			c.Total += f.Total
			c.KernelRX += f.KernelRX
			c.Free += f.Free
			c.KernelTX += f.KernelTX
			c.Lost += f.Lost
			c.BadDescs += f.BadDescs
			c.StateErrors += f.StateErrors
		}
		qu.mu.Unlock()
	}
	return c
}

// Reclaim moves the frames the kernel has finished sending on queue q back
// to the free list, as WriteBatch does before it sends. Nothing needs to
// call it; it lets a leak check see a quiet port's final state. Like
// WriteBatch, it must not run at the same time as another writer of q.
func (p *Port) Reclaim(q int) {
	qu := p.queues[q]
	qu.mu.RLock()
	defer qu.mu.RUnlock()
	if !qu.closed {
		qu.sock.kick()
		qu.sock.reclaim()
	}
}
