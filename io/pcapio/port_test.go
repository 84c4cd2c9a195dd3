package pcapio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nfgo/nfgo/engine"
	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

var _ engine.Port = (*Port)(nil)

var _ = engine.PortStats(Counters{})

var (
	macA = packet.MAC{0x02, 0, 0, 0, 0, 1}
	macB = packet.MAC{0x02, 0, 0, 0, 0, 2}
	t0   = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
)

// testIPs returns n IPv4 and IPv6 UDP packets of growing size.
func testIPs(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		payload := bytes.Repeat([]byte{byte(i)}, i*7%1400)
		if i%2 == 0 {
			out[i] = pktbuild.UDP4(netip.MustParseAddrPort("198.18.0.1:1000"), netip.MustParseAddrPort("198.19.0.1:2000"), payload)
		} else {
			out[i] = pktbuild.UDP6(netip.MustParseAddrPort("[2001:db8::1]:1000"), netip.MustParseAddrPort("[2001:db8:1::1]:2000"), payload)
		}
	}
	return out
}

func testFrames(n int) [][]byte {
	ips := testIPs(n)
	for i, ip := range ips {
		et := uint16(0x0800)
		if ip[0]>>4 == 6 {
			et = 0x86dd
		}
		ips[i] = pktbuild.Ether(macB, macA, et, ip)
	}
	return ips
}

// stamp returns the capture time of the i-th test frame: nanosecond
// steps, so that microsecond rounding would show.
func stamp(i int) time.Time { return t0.Add(time.Duration(i)*time.Millisecond + time.Duration(i)) }

func newPackets(n int) []*packet.Packet {
	pkts := make([]*packet.Packet, n)
	for i := range pkts {
		pkts[i] = packet.New()
	}
	return pkts
}

// readAll reads p to its end in batches of batch frames.
func readAll(t *testing.T, p *Port, batch int) ([][]byte, []time.Time) {
	t.Helper()
	pkts := newPackets(batch)
	var frames [][]byte
	var stamps []time.Time
	for range 100000 {
		n, err := p.ReadBatch(0, pkts)
		if errors.Is(err, ErrEndOfCapture) {
			if n != 0 || !errors.Is(err, io.EOF) {
				t.Fatalf("end of capture: n=%d err=%v", n, err)
			}
			return frames, stamps
		}
		if err != nil {
			t.Fatalf("ReadBatch: %v", err)
		}
		if n == 0 || len(p.Timestamps()) != n {
			t.Fatalf("ReadBatch = %d frames with %d timestamps", n, len(p.Timestamps()))
		}
		for i, pk := range pkts[:n] {
			frames = append(frames, bytes.Clone(pk.Frame))
			stamps = append(stamps, p.Timestamps()[i])
		}
	}
	t.Fatal("capture never ended")
	return nil, nil
}

func checkSame(t *testing.T, gotF [][]byte, gotT []time.Time, wantF [][]byte, wantT func(int) time.Time) {
	t.Helper()
	if len(gotF) != len(wantF) {
		t.Fatalf("read %d frames, want %d", len(gotF), len(wantF))
	}
	for i := range wantF {
		if !bytes.Equal(gotF[i], wantF[i]) {
			t.Fatalf("frame %d:\n got %x\nwant %x", i, gotF[i], wantF[i])
		}
		if !gotT[i].Equal(wantT(i)) {
			t.Fatalf("frame %d stamped %v, want %v", i, gotT[i], wantT(i))
		}
	}
}

func TestFramesWrittenReadBackEqualWithTheirTimestamps(t *testing.T) {
	for _, link := range []packet.LinkType{packet.LinkEthernet, packet.LinkRaw} {
		t.Run(link.String(), func(t *testing.T) {
			frames := testFrames(300)
			if link == packet.LinkRaw {
				frames = testIPs(300)
			}
			path := filepath.Join(t.TempDir(), "out.pcap")
			i := 0
			w, err := Open(Options{Out: path, Link: link, Clock: func() time.Time { return stamp(i) }})
			if err != nil {
				t.Fatal(err)
			}
			pkts := newPackets(1)
			for i = range frames {
				copy(pkts[0].SetFrame(len(frames[i])), frames[i])
				if n, err := w.WriteBatch(0, pkts); n != 1 || err != nil {
					t.Fatalf("WriteBatch = %d, %v", n, err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if st := w.Stats(); st.TxPackets != uint64(len(frames)) {
				t.Errorf("TxPackets = %d, want %d", st.TxPackets, len(frames))
			}

			r, err := Open(Options{In: path})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Link() != link || r.NumQueues() != 1 || r.MTU() != 1500 || r.Name() != "pcap" {
				t.Fatalf("port link %v queues %d mtu %d name %q", r.Link(), r.NumQueues(), r.MTU(), r.Name())
			}
			gotF, gotT := readAll(t, r, 64)
			checkSame(t, gotF, gotT, frames, stamp)
			if _, err := r.ReadBatch(0, pkts); !errors.Is(err, ErrEndOfCapture) {
				t.Fatalf("ReadBatch after the end: %v, want ErrEndOfCapture again", err)
			}
		})
	}
}

// writePcapng writes frames as a pcapng capture of link type lt.
func writePcapng(t *testing.T, path string, lt layers.LinkType, frames [][]byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	intf := pcapgo.DefaultNgInterface
	intf.LinkType = lt
	intf.TimestampResolution = 9 // nanoseconds
	w, err := pcapgo.NewNgWriterInterface(f, intf, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	for i, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: stamp(i), CaptureLength: len(fr), Length: len(fr)}
		if err := w.WritePacket(ci, fr); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// writePcap writes frames as a pcap capture of link type lt.
func writePcap(t *testing.T, path string, lt layers.LinkType, frames [][]byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(65535, lt); err != nil {
		t.Fatal(err)
	}
	for i, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: stamp(i), CaptureLength: len(fr), Length: len(fr)}
		if err := w.WritePacket(ci, fr); err != nil {
			t.Fatal(err)
		}
	}
}

// sll prefixes ip with a Linux cooked header (v1 or v2) of protocol proto.
func sll(v2 bool, proto uint16, ip []byte) []byte {
	if v2 {
		h := make([]byte, sll2Len)
		binary.BigEndian.PutUint16(h[0:2], proto)
		return append(h, ip...)
	}
	h := make([]byte, sllLen)
	binary.BigEndian.PutUint16(h[14:16], proto)
	return append(h, ip...)
}

func TestCapturesOfEachLinkTypeReadAsTheirFrames(t *testing.T) {
	ips := testIPs(50)
	cooked := func(v2 bool) [][]byte {
		var out [][]byte
		for _, ip := range ips {
			proto := uint16(0x0800)
			if ip[0]>>4 == 6 {
				proto = 0x86dd
			}
			out = append(out, sll(v2, proto, ip))
		}
		return out
	}
	only := func(version byte) [][]byte {
		var out [][]byte
		for _, ip := range ips {
			if ip[0]>>4 == version {
				out = append(out, ip)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		ng       bool
		lt       layers.LinkType
		frames   [][]byte
		link     packet.LinkType
		expected [][]byte
	}{
		{"pcapng Ethernet", true, layers.LinkTypeEthernet, testFrames(50), packet.LinkEthernet, testFrames(50)},
		{"pcapng raw IP", true, layers.LinkTypeRaw, ips, packet.LinkRaw, ips},
		{"pcap raw IP as DLT_RAW 12", false, linkTypeDLTRaw, ips, packet.LinkRaw, ips},
		{"pcap IPv4", false, layers.LinkTypeIPv4, only(4), packet.LinkRaw, only(4)},
		{"pcap IPv6", false, layers.LinkTypeIPv6, only(6), packet.LinkRaw, only(6)},
		{"pcap Linux cooked", false, layers.LinkTypeLinuxSLL, cooked(false), packet.LinkRaw, ips},
		{"pcapng Linux cooked v2", true, layers.LinkTypeLinuxSLL2, cooked(true), packet.LinkRaw, ips},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "in")
			if tc.ng {
				writePcapng(t, path, tc.lt, tc.frames)
			} else {
				writePcap(t, path, tc.lt, tc.frames)
			}
			p, err := Open(Options{In: path})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if p.Link() != tc.link {
				t.Fatalf("Link() = %v, want %v", p.Link(), tc.link)
			}
			gotF, gotT := readAll(t, p, 7)
			checkSame(t, gotF, gotT, tc.expected, stamp)
		})
	}
}

func TestCookedFramesThatAreNotIPAreSkippedAndCounted(t *testing.T) {
	ip := testIPs(1)[0]
	frames := [][]byte{sll(false, 0x0806, make([]byte, 28)), sll(false, 0x0800, ip), {1, 2, 3}}
	path := filepath.Join(t.TempDir(), "in.pcap")
	writePcap(t, path, layers.LinkTypeLinuxSLL, frames)
	p, err := Open(Options{In: path})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	gotF, _ := readAll(t, p, 4)
	if len(gotF) != 1 || !bytes.Equal(gotF[0], ip) {
		t.Fatalf("read %x, want only the IP frame", gotF)
	}
	if d := p.Stats().RxDropped; d != 2 {
		t.Fatalf("RxDropped = %d, want 2", d)
	}
}

func TestFramesTooBigForAPacketAreDroppedAndCounted(t *testing.T) {
	big := make([]byte, packet.BufSize) // more than BufSize-Headroom
	frames := [][]byte{testFrames(1)[0], big, testFrames(1)[0]}
	path := filepath.Join(t.TempDir(), "in.pcap")
	writePcap(t, path, layers.LinkTypeEthernet, frames)
	p, err := Open(Options{In: path})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	gotF, _ := readAll(t, p, 64)
	if len(gotF) != 2 || p.Stats().RxDropped != 1 {
		t.Fatalf("read %d frames, dropped %d; want 2 and 1", len(gotF), p.Stats().RxDropped)
	}
}

// A replay through separate input and output files: what goes out keeps
// the capture times of what came in.
func TestReplayKeepsCaptureTimes(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.pcapng"), filepath.Join(dir, "out.pcap")
	frames := testFrames(200)
	writePcapng(t, in, layers.LinkTypeEthernet, frames)
	p, err := Open(Options{In: in, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	pkts := newPackets(1) // one at a time, so each output has its own input's time
	for {
		n, err := p.ReadBatch(0, pkts)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if w, err := p.WriteBatch(0, pkts[:n]); w != n || err != nil {
			t.Fatalf("WriteBatch = %d, %v", w, err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(Options{In: out})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	gotF, gotT := readAll(t, r, 64)
	checkSame(t, gotF, gotT, frames, stamp)
}

func TestPortWithoutInputEndsAtOnceAndWithoutOutputDrops(t *testing.T) {
	p, err := New(nil, nil, Options{Link: packet.LinkRaw, Name: "cap0", MTU: 9000})
	if err != nil {
		t.Fatal(err)
	}
	pkts := newPackets(2)
	if _, err := p.ReadBatch(0, pkts); !errors.Is(err, ErrEndOfCapture) {
		t.Fatalf("ReadBatch = %v, want ErrEndOfCapture", err)
	}
	if n, err := p.WriteBatch(0, pkts); n != 2 || err != nil {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	if p.Link() != packet.LinkRaw || p.Name() != "cap0" || p.MTU() != 9000 {
		t.Fatal("options not kept")
	}
	p.Close()
	if _, err := p.ReadBatch(0, pkts); !errors.Is(err, ErrClosed) {
		t.Fatalf("ReadBatch after Close = %v, want ErrClosed", err)
	}
	if _, err := p.WriteBatch(0, pkts); !errors.Is(err, ErrClosed) {
		t.Fatalf("WriteBatch after Close = %v, want ErrClosed", err)
	}
}

func TestUnsupportedLinkTypeAndSameInOutAreRejected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.pcap")
	writePcap(t, path, layers.LinkTypeNull, nil)
	if _, err := Open(Options{In: path}); !errors.Is(err, ErrLinkType) {
		t.Fatalf("Open(loopback capture) = %v, want ErrLinkType", err)
	}
	if _, err := Open(Options{In: path, Out: path}); err == nil {
		t.Fatal("Open with In == Out succeeded")
	}
	if _, err := New(bytes.NewReader([]byte("not a capture")), nil, Options{}); err == nil {
		t.Fatal("New over garbage succeeded")
	}
}

func TestBatchesDoNotAllocate(t *testing.T) {
	var capture bytes.Buffer
	w := pcapgo.NewWriterNanos(&capture)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	frames := testFrames(64)
	for range 300 {
		for i, f := range frames {
			w.WritePacket(gopacket.CaptureInfo{Timestamp: stamp(i), CaptureLength: len(f), Length: len(f)}, f)
		}
	}
	p, err := New(bytes.NewReader(capture.Bytes()), io.Discard, Options{})
	if err != nil {
		t.Fatal(err)
	}
	pkts := newPackets(64)
	allocs := testing.AllocsPerRun(200, func() {
		n, _ := p.ReadBatch(0, pkts)
		p.WriteBatch(0, pkts[:n])
	})
	if allocs != 0 {
		t.Fatalf("ReadBatch+WriteBatch allocate %v times per batch, want 0", allocs)
	}
}
