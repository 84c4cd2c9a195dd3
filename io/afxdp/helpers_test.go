package afxdp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nfgo/nfgo/internal/netnstest"
	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

// vethPair is a namespace with a veth pair: the port goes on xdp, the test
// talks from peer.
type vethPair struct {
	ns        *netnstest.NS
	xdp, peer netnstest.Link
}

// newVethPair skips unless root and the kernel has AF_XDP, then builds the
// namespace and the pair.
func newVethPair(t testing.TB) vethPair {
	t.Helper()
	netnstest.RequireRoot(t)
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skipf("skipping: kernel has no AF_XDP sockets: %v", err)
	}
	unix.Close(fd)
	ns := netnstest.New(t)
	a, b := netnstest.Veth(t, ns, "xdp0", ns, "peer0", netnstest.VethOptions{})
	return vethPair{ns: ns, xdp: a, peer: b}
}

// openPort opens a port on the pair's xdp end and closes it when t ends.
func openPort(t testing.TB, v vethPair, opts Options) *Port {
	t.Helper()
	return openPortOn(t, v.xdp, opts)
}

// openPortOn opens a port on l and closes it when t ends.
func openPortOn(t testing.TB, l netnstest.Link, opts Options) *Port {
	t.Helper()
	opts.Interface = l.Name
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	var p *Port
	if err := l.NS.Do(func() (err error) { p, err = New(opts); return err }); err != nil {
		t.Fatalf("New(%+v): %v", opts, err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(b, "\n")))
	return len(b), nil
}

// rawSock is an AF_PACKET socket on one interface, the far end of test
// traffic. It does not see the frames it sends itself.
type rawSock struct {
	fd      int
	ifindex int
}

func openRaw(t testing.TB, l netnstest.Link) *rawSock {
	t.Helper()
	r := &rawSock{ifindex: l.Index}
	err := l.NS.Do(func() (err error) {
		r.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		if err := unix.Bind(r.fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: l.Index}); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(r.fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
			return err
		}
		tv := unix.NsecToTimeval((20 * time.Millisecond).Nanoseconds())
		return unix.SetsockoptTimeval(r.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	if err != nil {
		t.Fatalf("AF_PACKET socket on %s: %v", l.Name, err)
	}
	t.Cleanup(func() { unix.Close(r.fd) })
	return r
}

func (r *rawSock) send(frame []byte) error {
	return unix.Sendto(r.fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: r.ifindex, Halen: 6})
}

// recv returns the next frame, or nil after the socket's 20 ms timeout.
func (r *rawSock) recv(buf []byte) []byte {
	n, _, err := unix.Recvfrom(r.fd, buf, 0)
	if err != nil {
		return nil
	}
	return buf[:n]
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

var (
	portAddr = netip.MustParseAddrPort("198.18.0.1:5000")
	peerAddr = netip.MustParseAddrPort("198.18.0.2:4000")
)

// testFrame is a UDP frame carrying tag and seq, from src to dst.
func testFrame(dst, src [6]byte, tag string, seq int, size int) []byte {
	payload := make([]byte, max(size, len(tag)+4))
	copy(payload, tag)
	binary.BigEndian.PutUint32(payload[len(payload)-4:], uint32(seq))
	from, to := peerAddr, portAddr
	if tag == txTag {
		from, to = portAddr, peerAddr
	}
	return pktbuild.Ether(packet.MAC(dst), packet.MAC(src), 0x0800, pktbuild.UDP4(from, to, payload))
}

const (
	rxTag = "nfgo-afxdp-rx"
	txTag = "nfgo-afxdp-tx"
)

// frameSeq returns the sequence number of a test frame with tag, or -1
// for any other frame (the kernel's own IPv6 chatter, say).
func frameSeq(frame []byte, tag string) int {
	if len(frame) < 14+20+8+len(tag)+4 || !bytes.Contains(frame, []byte(tag)) {
		return -1
	}
	return int(binary.BigEndian.Uint32(frame[len(frame)-4:]))
}

func newPackets(n int) []*packet.Packet {
	pkts := make([]*packet.Packet, n)
	for i := range pkts {
		pkts[i] = packet.New()
	}
	return pkts
}

// checkFrames fails t unless every UMEM frame of p is where it belongs on
// a quiet port: RX frames with the kernel, TX frames on the free list.
func checkFrames(t testing.TB, p *Port, numFrames int) {
	t.Helper()
	for q := range p.NumQueues() {
		p.Reclaim(q)
	}
	var c FrameCounts
	err := netnstest.Eventually(2*time.Second, func() bool {
		for q := range p.NumQueues() {
			p.Reclaim(q)
		}
		c = p.Frames()
		return c.KernelTX == 0
	})
	want := FrameCounts{
		Total:    numFrames * p.NumQueues(),
		KernelRX: numFrames / 2 * p.NumQueues(),
		Free:     numFrames / 2 * p.NumQueues(),
	}
	if err != nil || c != want {
		t.Errorf("UMEM frames = %+v, want %+v (%v)", c, want, err)
	}
}

func (c FrameCounts) String() string {
	return fmt.Sprintf("total %d = kernelRX %d + free %d + kernelTX %d + lost %d (bad descs %d, state errors %d)",
		c.Total, c.KernelRX, c.Free, c.KernelTX, c.Lost, c.BadDescs, c.StateErrors)
}
