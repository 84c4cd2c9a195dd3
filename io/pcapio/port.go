package pcapio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nfgo/nfgo/packet"
)

// ErrEndOfCapture is returned by ReadBatch once the whole input has been
// read. errors.Is(err, io.EOF) holds for it.
var ErrEndOfCapture = fmt.Errorf("pcapio: end of capture: %w", io.EOF)

// ErrClosed is returned by ReadBatch and WriteBatch after Close. It is
// net.ErrClosed, so callers can test for it without importing this package.
var ErrClosed = net.ErrClosed

// ErrLinkType is returned for captures of a link type the port cannot
// carry.
var ErrLinkType = errors.New("pcapio: unsupported link type")

// Options configure a Port. Every field may be left zero.
type Options struct {
	// Name is the port's interface name. Zero: "pcap".
	Name string
	// In is the pcap or pcapng file replayed as RX (Open only). Zero: no
	// input; ReadBatch returns ErrEndOfCapture at once.
	In string
	// Out is the pcap file TX writes, created or truncated (Open only).
	// Zero: no output; WriteBatch counts frames as sent and drops them.
	Out string
	// Link is the port's link type when there is no input; with an
	// input, the input's link type is used.
	Link packet.LinkType
	// MTU is what the port reports. Zero: 1500.
	MTU int
	// HardwareAddr is what the port reports.
	HardwareAddr packet.MAC
	// Clock stamps frames written. Zero: the capture time of the latest
	// frame read, or the wall clock before the first or without input.
	Clock func() time.Time
}

// Port is a capture-file port. It satisfies the engine's Port interface.
type Port struct {
	name  string
	link  packet.LinkType
	mtu   int
	mac   packet.MAC
	clock func() time.Time
	files []io.Closer

	rxMu     sync.Mutex
	in       *source
	inErr    error // the input's error, held back while a batch had frames
	stamps   []time.Time
	replayNs atomic.Int64 // capture time of the latest frame read, 0 before any

	txMu sync.Mutex
	out  *pcapgo.Writer
	buf  *bufio.Writer

	closed atomic.Bool
	stats  counters
}

// Open opens the files opts names and returns a port over them.
func Open(opts Options) (*Port, error) {
	if opts.In != "" && opts.In == opts.Out {
		return nil, fmt.Errorf("pcapio: %s is both the input and the output", opts.In)
	}
	var in io.Reader
	var out io.Writer
	var files []io.Closer
	if opts.In != "" {
		f, err := os.Open(opts.In)
		if err != nil {
			return nil, fmt.Errorf("pcapio: %w", err)
		}
		in, files = f, append(files, f)
	}
	if opts.Out != "" {
		f, err := os.Create(opts.Out)
		if err != nil {
			closeAll(files)
			return nil, fmt.Errorf("pcapio: %w", err)
		}
		out, files = f, append(files, f)
	}
	p, err := New(in, out, opts)
	if err != nil {
		closeAll(files)
		return nil, err
	}
	p.files = files
	return p, nil
}

// New returns a port that reads a capture from in and writes one to out;
// either may be nil. opts.In and opts.Out are not used.
func New(in io.Reader, out io.Writer, opts Options) (*Port, error) {
	p := &Port{name: opts.Name, link: opts.Link, mtu: opts.MTU, mac: opts.HardwareAddr, clock: opts.Clock}
	if p.name == "" {
		p.name = "pcap"
	}
	if p.mtu == 0 {
		p.mtu = 1500
	}
	if p.clock == nil {
		p.clock = p.replayClock
	}
	if in != nil {
		src, err := newSource(in)
		if err != nil {
			return nil, err
		}
		p.in, p.link = src, src.link
	}
	if out != nil {
		lt := layers.LinkTypeEthernet
		if p.link == packet.LinkRaw {
			lt = layers.LinkTypeRaw
		}
		p.buf = bufio.NewWriterSize(out, 64<<10)
		p.out = pcapgo.NewWriterNanos(p.buf)
		if err := p.out.WriteFileHeader(65535, lt); err != nil {
			return nil, fmt.Errorf("pcapio: write header: %w", err)
		}
	}
	return p, nil
}

func (p *Port) replayClock() time.Time {
	if ns := p.replayNs.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Now()
}

// Name is Options.Name.
func (p *Port) Name() string { return p.name }

// Link is the input's link type, or Options.Link without input.
func (p *Port) Link() packet.LinkType { return p.link }

// MTU is Options.MTU.
func (p *Port) MTU() int { return p.mtu }

// HardwareAddr is Options.HardwareAddr.
func (p *Port) HardwareAddr() packet.MAC { return p.mac }

// NumQueues is 1.
func (p *Port) NumQueues() int { return 1 }

// ReadBatch copies the next frames of the capture into pkts and returns
// how many; it never waits. Frames longer than a packet's buffer, and
// cooked frames that are not IP, are skipped and counted as dropped. At the
// end of the capture it returns (0, ErrEndOfCapture); a damaged capture
// ends with the reader's error instead.
func (p *Port) ReadBatch(q int, pkts []*packet.Packet) (int, error) {
	p.rxMu.Lock()
	defer p.rxMu.Unlock()
	if p.closed.Load() {
		return 0, ErrClosed
	}
	if p.in == nil {
		return 0, ErrEndOfCapture
	}
	if cap(p.stamps) < len(pkts) {
		p.stamps = make([]time.Time, len(pkts))
	}
	p.stamps = p.stamps[:0]
	var bytes uint64
	if err := p.inErr; err != nil {
		return 0, err
	}
	for len(p.stamps) < len(pkts) {
		data, ci, err := p.in.next()
		if err != nil {
			if err == io.EOF {
				p.inErr = ErrEndOfCapture
			} else {
				p.inErr = fmt.Errorf("pcapio %s: %w", p.name, err)
			}
			if len(p.stamps) == 0 {
				return 0, p.inErr
			}
			break
		}
		pk := pkts[len(p.stamps)]
		if data == nil || len(data) > len(pk.Buf)-packet.Headroom {
			p.stats.rxDropped.Add(1)
			continue
		}
		copy(pk.SetFrame(len(data)), data)
		bytes += uint64(len(data))
		p.stamps = append(p.stamps, ci.Timestamp)
		p.replayNs.Store(ci.Timestamp.UnixNano())
	}
	p.stats.rxPackets.Add(uint64(len(p.stamps)))
	p.stats.rxBytes.Add(bytes)
	return len(p.stamps), nil
}

// Timestamps returns the capture times of the frames the last ReadBatch
// returned, in the same order. The slice is reused by the next ReadBatch,
// and it must not be called at the same time as ReadBatch.
func (p *Port) Timestamps() []time.Time { return p.stamps }

// WriteBatch appends the frames of pkts to the output capture, stamped
// with Options.Clock. Without an output it takes and drops them.
func (p *Port) WriteBatch(q int, pkts []*packet.Packet) (int, error) {
	p.txMu.Lock()
	defer p.txMu.Unlock()
	if p.closed.Load() {
		return 0, ErrClosed
	}
	var bytes uint64
	for i, pk := range pkts {
		if p.out != nil {
			ci := gopacket.CaptureInfo{Timestamp: p.clock(), CaptureLength: len(pk.Frame), Length: len(pk.Frame)}
			if err := p.out.WritePacket(ci, pk.Frame); err != nil {
				p.stats.txPackets.Add(uint64(i))
				p.stats.txBytes.Add(bytes)
				return i, fmt.Errorf("pcapio %s: write: %w", p.name, err)
			}
		}
		bytes += uint64(len(pk.Frame))
	}
	p.stats.txPackets.Add(uint64(len(pkts)))
	p.stats.txBytes.Add(bytes)
	return len(pkts), nil
}

// Flush writes buffered output frames to the output.
func (p *Port) Flush() error {
	p.txMu.Lock()
	defer p.txMu.Unlock()
	if p.buf == nil || p.closed.Load() {
		return nil
	}
	return p.buf.Flush()
}

// Close flushes the output and closes the files Open opened. It is safe to
// call more than once.
func (p *Port) Close() error {
	p.rxMu.Lock()
	p.txMu.Lock()
	defer p.rxMu.Unlock()
	defer p.txMu.Unlock()
	if p.closed.Swap(true) {
		return nil
	}
	var errs []error
	if p.buf != nil {
		errs = append(errs, p.buf.Flush())
	}
	errs = append(errs, closeAll(p.files))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pcapio %s: close: %w", p.name, err)
	}
	return nil
}

func closeAll(cs []io.Closer) error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
