package afxdp

import (
	"bytes"
	"testing"
	"time"

	"github.com/nfgo/nfgo/engine"
	"github.com/nfgo/nfgo/internal/netnstest"
)

var _ engine.Port = (*Port)(nil)

// The port's counters convert to the engine's.
var _ = engine.PortStats(Counters{})

// rxRun sends n tagged frames from the peer in bursts and reads them back
// through the port; every frame must arrive once, unchanged.
func rxRun(t *testing.T, v vethPair, p *Port, raw *rawSock, n, size, burst int) {
	t.Helper()
	pkts := newPackets(64)
	got := make([]bool, n)
	received := 0
	sent := make([][]byte, n)
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < n; {
		end := min(i+burst, n)
		for ; i < end; i++ {
			sent[i] = testFrame(v.xdp.MAC, v.peer.MAC, rxTag, i, size)
			if err := raw.send(sent[i]); err != nil {
				t.Fatalf("send frame %d: %v", i, err)
			}
		}
		for received < end && time.Now().Before(deadline) {
			k, err := p.ReadBatch(0, pkts)
			if err != nil {
				t.Fatalf("ReadBatch: %v", err)
			}
			if k == 0 {
				break // the burst is not all there after 100 ms: lost
			}
			for _, pk := range pkts[:k] {
				seq := frameSeq(pk.Frame, rxTag)
				if seq < 0 {
					continue
				}
				if seq >= n || got[seq] {
					t.Fatalf("frame %d received twice or unknown", seq)
				}
				if !bytes.Equal(pk.Frame, sent[seq]) {
					t.Fatalf("frame %d changed:\n got %x\nwant %x", seq, pk.Frame, sent[seq])
				}
				got[seq] = true
				received++
			}
		}
	}
	if received != n {
		t.Fatalf("received %d of %d frames", received, n)
	}
}

// txRun writes n tagged frames through the port in batches and checks
// that the peer receives each once, unchanged.
func txRun(t *testing.T, v vethPair, p *Port, raw *rawSock, n, size, batch int) {
	t.Helper()
	pkts := newPackets(batch)
	buf := make([]byte, 4096)
	got := make([]bool, n)
	received := 0
	for i := 0; i < n; {
		k := min(batch, n-i)
		for j := range k {
			f := testFrame(v.peer.MAC, v.xdp.MAC, txTag, i+j, size)
			copy(pkts[j].SetFrame(len(f)), f)
		}
		w, err := p.WriteBatch(0, pkts[:k])
		if err != nil || w != k {
			t.Fatalf("WriteBatch(%d frames) = %d, %v", k, w, err)
		}
		i += k
		for received < i {
			f := raw.recv(buf)
			if f == nil {
				break // 20 ms without a frame: what is missing is lost
			}
			seq := frameSeq(f, txTag)
			if seq < 0 {
				continue
			}
			if seq >= n || got[seq] {
				t.Fatalf("peer got frame %d twice or unknown", seq)
			}
			if want := testFrame(v.peer.MAC, v.xdp.MAC, txTag, seq, size); !bytes.Equal(f, want) {
				t.Fatalf("frame %d changed on the wire:\n got %x\nwant %x", seq, f, want)
			}
			got[seq] = true
			received++
		}
	}
	if received != n {
		t.Fatalf("peer received %d of %d frames", received, n)
	}
}

func TestPortMovesFramesBothWays(t *testing.T) {
	for _, mode := range []AttachMode{ModeNative, ModeGeneric} {
		t.Run(mode.String(), func(t *testing.T) {
			v := newVethPair(t)
			p := openPort(t, v, Options{Mode: mode})
			if p.AttachMode() != mode || p.Mode() != mode.String()+"/copy" {
				t.Fatalf("Mode() = %q, AttachMode() = %v; want %v/copy (veth has no zero-copy)", p.Mode(), p.AttachMode(), mode)
			}
			if p.NumQueues() < 1 || p.Link().String() != "ethernet" || p.HardwareAddr() != v.xdp.MAC || p.MTU() != 1500 {
				t.Fatalf("port %s: queues %d link %v mac %v mtu %d", p.Name(), p.NumQueues(), p.Link(), p.HardwareAddr(), p.MTU())
			}
			raw := openRaw(t, v.peer)
			const n = 2000
			rxRun(t, v, p, raw, n, 64, 32)
			txRun(t, v, p, raw, n, 200, 64)
			st := p.Stats()
			if st.Port.RxPackets < n || st.Port.TxPackets != n || st.Port.TxDropped != 0 || st.KernelErrors != 0 {
				t.Errorf("stats %+v", st)
			}
			if st.Mode != p.Mode() {
				t.Errorf("Stats().Mode = %q, want %q", st.Mode, p.Mode())
			}
			checkFrames(t, p, defaultNumFrames)
		})
	}
}

// A small UMEM is recycled many times over; afterwards every frame is
// back where it started, and none was handed back twice.
func TestUMEMFramesAreRecycledNotLeaked(t *testing.T) {
	v := newVethPair(t)
	const frames = 64 // 32 for RX, 32 for TX
	p := openPort(t, v, Options{NumFrames: frames, Mode: ModeNative})
	checkFrames(t, p, frames)
	raw := openRaw(t, v.peer)
	rxRun(t, v, p, raw, 3000, 100, 16)
	txRun(t, v, p, raw, 3000, 1400, 16)

	// Overrun the TX side: more frames than there are TX frames in one
	// batch. The excess is dropped and counted, and nothing leaks.
	pkts := newPackets(frames)
	for _, pk := range pkts {
		f := testFrame(v.peer.MAC, v.xdp.MAC, txTag, 0, 64)
		copy(pk.SetFrame(len(f)), f)
	}
	w, err := p.WriteBatch(0, pkts)
	if err != nil || w > frames/2 || w == 0 {
		t.Fatalf("WriteBatch(%d) over a %d-frame TX half = %d, %v", frames, frames/2, w, err)
	}
	if d := p.Stats().Port.TxDropped; d != uint64(frames-w) {
		t.Errorf("TxDropped = %d, want %d", d, frames-w)
	}
	checkFrames(t, p, frames)
}

func TestReadBatchOnAnIdlePortReturnsAfterAbout100ms(t *testing.T) {
	v := newVethPair(t)
	p := openPort(t, v, Options{})
	pkts := newPackets(8)
	// The peer's kernel may still send a frame or two of its own (IPv6
	// neighbor discovery); the first empty read is the one measured.
	for range 50 {
		start := time.Now()
		n, err := p.ReadBatch(0, pkts)
		el := time.Since(start)
		if err != nil {
			t.Fatalf("ReadBatch: %v", err)
		}
		if n == 0 {
			if el < 50*time.Millisecond || el > 300*time.Millisecond {
				t.Fatalf("empty ReadBatch took %v, want about 100ms", el)
			}
			return
		}
	}
	t.Fatal("ReadBatch never came back empty")
}

// With frames flowing from a second port on the peer, both batch calls
// are free of allocations.
func TestBatchesDoNotAllocate(t *testing.T) {
	v := newVethPair(t)
	rx := openPort(t, v, Options{})
	tx := openPortOn(t, v.peer, Options{})
	out := newPackets(32)
	for i, pk := range out {
		f := testFrame(v.xdp.MAC, v.peer.MAC, rxTag, i, 64)
		copy(pk.SetFrame(len(f)), f)
	}
	in := newPackets(64)
	got := 0
	allocs := testing.AllocsPerRun(200, func() {
		tx.WriteBatch(0, out)
		n, _ := rx.ReadBatch(0, in)
		got += n
	})
	if allocs != 0 {
		t.Fatalf("WriteBatch+ReadBatch allocate %v times per run, want 0", allocs)
	}
	if got == 0 {
		t.Fatal("no frame went from one port to the other")
	}
}

// Queues: 0 opens every queue the device has, each with its own socket
// and UMEM.
func TestPortOpensEveryQueueOfTheDevice(t *testing.T) {
	netnstest.RequireRoot(t)
	ns := netnstest.New(t)
	a, _ := netnstest.Veth(t, ns, "xdp0", ns, "peer0", netnstest.VethOptions{Queues: 2})
	p := openPortOn(t, a, Options{NumFrames: 128})
	if p.NumQueues() != 2 {
		t.Fatalf("NumQueues() = %d on a 2-queue veth", p.NumQueues())
	}
	if c := p.Frames(); c.Total != 256 || c.KernelRX != 128 || c.Free != 128 {
		t.Fatalf("frames %v", c)
	}
}
