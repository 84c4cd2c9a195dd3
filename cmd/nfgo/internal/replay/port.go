package replay

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nfgo/nfgo/io/pcapio"
	"github.com/nfgo/nfgo/packet"
)

// A replay feeds captures to the engine one packet at a time, in capture
// time order across all inputs, and waits for each packet's way to end
// before it hands out the next. The engine runs one worker per port; each
// worker asks its port for frames, so the sequencer below answers only the
// port whose input holds the earliest frame, and only when no packet is in
// flight. A worker returns to ReadBatch only after its batch is done, which
// is how the sequencer knows a packet's way has ended. Every trace event
// between two hand-outs therefore belongs to the packet handed out, and the
// engine's counters before and after tell what happened to a packet that
// left no event (one that did not parse).

// replayInput is one capture being read.
type replayInput struct {
	port    *pcapio.Port
	name    string // the interface it enters by
	scratch [1]*packet.Packet
	have    bool // scratch holds the next frame
	stamp   time.Time
	eof     bool
	err     error
	frames  int   // frames read so far
	bytes   int64 // their captured bytes plus record headers, for progress
}

// next makes sure in.scratch holds the next frame, if any.
func (in *replayInput) next() {
	if in.have || in.eof {
		return
	}
	n, err := in.port.ReadBatch(0, in.scratch[:])
	if n == 1 {
		in.have = true
		in.stamp = in.port.Timestamps()[0]
		in.frames++
		in.bytes += int64(len(in.scratch[0].Frame)) + 16
		return
	}
	in.eof = true
	if err != nil && !errors.Is(err, io.EOF) {
		in.err = err
	}
}

// sequencer hands out the frames of all inputs one at a time.
type sequencer struct {
	mu      sync.Mutex
	wake    chan struct{} // closed and replaced on every change
	inputs  []*replayInput
	busy    *replayPort // the port whose packet is in flight
	closed  bool
	done    chan struct{}
	doneSet bool
	clock   atomic.Int64 // capture time of the packet in flight, unix ns

	// begin is called with the packet about to enter the engine and its
	// input, finish when its way has ended; both under mu, on the worker
	// that carries it.
	begin  func(in *replayInput, p *packet.Packet, stamp time.Time)
	finish func()
	// between is called when no packet is in flight, every so often.
	between func()
	count   int
}

func newSequencer() *sequencer {
	return &sequencer{wake: make(chan struct{}), done: make(chan struct{})}
}

func (s *sequencer) broadcast() {
	close(s.wake)
	s.wake = make(chan struct{})
}

// now is the replay's clock: the capture time of the packet in flight.
func (s *sequencer) now() time.Time {
	if ns := s.clock.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Unix(0, 0)
}

// earliest is the input whose next frame comes first, or nil at the end.
func (s *sequencer) earliest() *replayInput {
	var best *replayInput
	for _, in := range s.inputs {
		in.next()
		if in.have && (best == nil || in.stamp.Before(best.stamp)) {
			best = in
		}
	}
	return best
}

func (s *sequencer) err() error {
	for _, in := range s.inputs {
		if in.err != nil {
			return fmt.Errorf("%s: %w", in.name, in.err)
		}
	}
	return nil
}

// replayPort is an engine port over the sequencer: it receives the frames
// of its input and writes what it transmits to its sinks. It is a raw-IP
// port: link headers were taken off the input frames.
type replayPort struct {
	seq   *sequencer
	name  string
	mtu   int
	input *replayInput // nil for a port without input
	sinks []*pcapio.Port
}

func (p *replayPort) Name() string             { return p.name }
func (p *replayPort) Link() packet.LinkType    { return packet.LinkRaw }
func (p *replayPort) MTU() int                 { return p.mtu }
func (p *replayPort) HardwareAddr() packet.MAC { return packet.MAC{} }
func (p *replayPort) NumQueues() int           { return 1 }
func (p *replayPort) Close() error             { return nil }

// ReadBatch hands out at most one frame: this port's input's next one,
// when it is the earliest of all and nothing is in flight.
func (p *replayPort) ReadBatch(q int, pkts []*packet.Packet) (int, error) {
	s := p.seq
	deadline := time.After(100 * time.Millisecond)
	s.mu.Lock()
	if s.busy == p {
		s.finish()
		s.busy = nil
		s.count++
		if s.between != nil && s.count%1024 == 0 {
			s.between()
		}
		s.broadcast()
	}
	for {
		if s.closed {
			s.mu.Unlock()
			return 0, pcapio.ErrClosed
		}
		if s.busy == nil {
			in := s.earliest()
			if in == nil {
				if !s.doneSet {
					s.doneSet = true
					close(s.done)
				}
				s.mu.Unlock()
				return 0, pcapio.ErrEndOfCapture
			}
			if in == p.input {
				p.take(in, pkts[0])
				s.busy = p
				s.mu.Unlock()
				return 1, nil
			}
		}
		if p.input == nil || p.input.eof && !p.input.have {
			s.mu.Unlock()
			return 0, pcapio.ErrEndOfCapture
		}
		wake := s.wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-deadline:
			return 0, nil
		}
		s.mu.Lock()
	}
}

// take moves the input's next frame into p, without its link header.
func (p *replayPort) take(in *replayInput, dst *packet.Packet) {
	src := in.scratch[0]
	frame := src.Frame
	if in.port.Link() == packet.LinkEthernet {
		frame = stripEthernet(frame)
	}
	copy(dst.SetFrame(len(frame)), frame)
	in.have = false
	p.seq.clock.Store(in.stamp.UnixNano())
	p.seq.begin(in, dst, in.stamp)
}

// stripEthernet returns the network packet of an Ethernet frame (after up
// to two VLAN tags), or an empty frame when it carries no IP: the engine
// counts that as malformed, and the replay's record says why.
func stripEthernet(f []byte) []byte {
	off := 12
	for i := 0; i < 3; i++ {
		if len(f) < off+2 {
			return nil
		}
		et := uint16(f[off])<<8 | uint16(f[off+1])
		switch et {
		case 0x8100, 0x88a8:
			off += 4
			continue
		case 0x0800, 0x86dd:
			return f[off+2:]
		}
		return nil
	}
	return nil
}

// WriteBatch writes the frames to every sink.
func (p *replayPort) WriteBatch(q int, pkts []*packet.Packet) (int, error) {
	for _, s := range p.sinks {
		if _, err := s.WriteBatch(0, pkts); err != nil {
			return 0, err
		}
	}
	return len(pkts), nil
}
