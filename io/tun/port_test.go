package tun

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nfgo/nfgo/engine"
	"github.com/nfgo/nfgo/internal/netnstest"
	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

var _ engine.Port = (*Port)(nil)

var _ = engine.PortStats(Counters{})

var (
	tunAddr  = netip.MustParsePrefix("198.18.1.1/24") // the kernel's side of the TUN
	farAddr  = netip.MustParseAddr("198.18.1.2")      // a host behind the port
	tunAddr6 = netip.MustParsePrefix("2001:db8:1::1/64")
	farAddr6 = netip.MustParseAddr("2001:db8:1::2")
)

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(b, "\n")))
	return len(b), nil
}

// tunNS is a namespace with a TUN port in it whose kernel side has
// tunAddr and tunAddr6.
type tunNS struct {
	ns   *netnstest.NS
	port *Port
}

func newTunNS(t testing.TB, mode OffloadMode) tunNS {
	t.Helper()
	netnstest.RequireRoot(t)
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("skipping: no TUN support: %v", err)
	}
	ns := netnstest.New(t)
	var p *Port
	err := ns.Do(func() (err error) {
		p, err = New(Options{Name: "nfgotun0", Offloads: mode, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
		return err
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	h := ns.Netlink()
	l, err := h.LinkByName(p.Name())
	if err != nil {
		t.Fatal(err)
	}
	netnstest.AddAddr(t, netnstest.Link{NS: ns, Name: p.Name(), Index: l.Attrs().Index}, tunAddr)
	netnstest.AddAddr(t, netnstest.Link{NS: ns, Name: p.Name(), Index: l.Attrs().Index}, tunAddr6)
	return tunNS{ns: ns, port: p}
}

// udpSocket opens a UDP socket in ns bound to addr (port 0: any).
func udpSocket(t testing.TB, ns *netnstest.NS, addr netip.AddrPort) (int, netip.AddrPort) {
	t.Helper()
	var fd int
	var bound netip.AddrPort
	err := ns.Do(func() (err error) {
		family := unix.AF_INET
		if addr.Addr().Is6() {
			family = unix.AF_INET6
		}
		if fd, err = unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		if err := unix.Bind(fd, sockaddr(addr)); err != nil {
			return err
		}
		tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		got, err := unix.Getsockname(fd)
		switch s := got.(type) {
		case *unix.SockaddrInet4:
			bound = netip.AddrPortFrom(netip.AddrFrom4(s.Addr), uint16(s.Port))
		case *unix.SockaddrInet6:
			bound = netip.AddrPortFrom(netip.AddrFrom16(s.Addr), uint16(s.Port))
		}
		return err
	})
	if err != nil {
		t.Fatalf("UDP socket on %v: %v", addr, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd, bound
}

// sockaddr converts an address for sendto.
func sockaddr(a netip.AddrPort) unix.Sockaddr {
	if a.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(a.Port()), Addr: a.Addr().As16()}
}

// udpOf returns the UDP header and payload of a raw IP packet to port, or
// nil, after checking the IP and UDP checksums.
func udpOf(t testing.TB, ip []byte, port uint16) []byte {
	t.Helper()
	var src, dst netip.Addr
	var l4 []byte
	switch {
	case len(ip) >= 28 && ip[0]>>4 == 4 && ip[9] == packet.ProtoUDP:
		h := packet.IPv4(ip)
		if packet.Fold(packet.Sum(ip[:h.HeaderLen()], 0)) != 0 {
			t.Fatalf("bad IPv4 header checksum in %x", ip[:h.HeaderLen()])
		}
		if int(h.TotalLen()) != len(ip) {
			t.Fatalf("IPv4 total length %d, packet %d bytes", h.TotalLen(), len(ip))
		}
		src, dst, l4 = h.Src(), h.Dst(), ip[h.HeaderLen():]
	case len(ip) >= 48 && ip[0]>>4 == 6 && ip[6] == packet.ProtoUDP:
		h := packet.IPv6(ip)
		src, dst, l4 = h.Src(), h.Dst(), ip[40:]
	default:
		return nil
	}
	u := packet.UDP(l4)
	if u.DstPort() != port {
		return nil
	}
	if int(u.Length()) != len(l4) {
		t.Fatalf("UDP length %d, datagram %d bytes", u.Length(), len(l4))
	}
	if c := u.ComputeChecksum(src, dst); c != u.Checksum() {
		t.Fatalf("UDP checksum %#04x, want %#04x", u.Checksum(), c)
	}
	return l4
}

func newPackets(n int) []*packet.Packet {
	pkts := make([]*packet.Packet, n)
	for i := range pkts {
		pkts[i] = packet.New()
	}
	return pkts
}

// readUDP reads from the port until want datagrams to port have come, or
// 5 s pass, and returns their payloads in order of arrival.
func readUDP(t testing.TB, p *Port, port uint16, want int) [][]byte {
	t.Helper()
	pkts := newPackets(16) // smaller than a GSO packet's segment count
	var got [][]byte
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		n, err := p.ReadBatch(0, pkts)
		if err != nil {
			t.Fatalf("ReadBatch: %v", err)
		}
		for _, pk := range pkts[:n] {
			if len(pk.Frame) > p.MTU() {
				t.Fatalf("read a %d-byte packet over MTU %d", len(pk.Frame), p.MTU())
			}
			if u := udpOf(t, pk.Frame, port); u != nil {
				got = append(got, bytes.Clone(u[8:]))
			}
		}
	}
	return got
}

var modes = []OffloadMode{OffloadsOn, OffloadsOff}

func TestPortReadsWhatTheKernelSends(t *testing.T) {
	for _, mode := range modes {
		t.Run("offloads "+mode.String(), func(t *testing.T) {
			tn := newTunNS(t, mode)
			if tn.port.Offloads() != (mode == OffloadsOn) {
				t.Fatalf("Offloads() = %v with %v", tn.port.Offloads(), mode)
			}
			for _, far := range []netip.Addr{farAddr, farAddr6} {
				src := tunAddr.Addr()
				if far.Is6() {
					src = tunAddr6.Addr()
				}
				fd, _ := udpSocket(t, tn.ns, netip.AddrPortFrom(src, 0))
				const n = 50
				to := netip.AddrPortFrom(far, 7000)
				for i := range n {
					if err := unix.Sendto(fd, []byte(fmt.Sprintf("datagram %03d", i)), 0, sockaddr(to)); err != nil {
						t.Fatalf("send to %v: %v", to, err)
					}
				}
				got := readUDP(t, tn.port, 7000, n)
				if len(got) != n {
					t.Fatalf("read %d of %d datagrams to %v", len(got), n, to)
				}
				for i, g := range got {
					if want := fmt.Sprintf("datagram %03d", i); string(g) != want {
						t.Fatalf("datagram %d = %q, want %q", i, g, want)
					}
				}
			}
		})
	}
}

// A UDP GSO send (one 32 KB buffer cut in 1000-byte datagrams) reaches the
// port as a super-packet when offloads are on; either way the engine sees
// every datagram on its own, in order, with correct checksums.
func TestPortSplitsGSOPacketsIntoSegments(t *testing.T) {
	for _, mode := range modes {
		t.Run("offloads "+mode.String(), func(t *testing.T) {
			tn := newTunNS(t, mode)
			for _, far := range []netip.Addr{farAddr, farAddr6} {
				src := tunAddr.Addr()
				if far.Is6() {
					src = tunAddr6.Addr()
				}
				fd, _ := udpSocket(t, tn.ns, netip.AddrPortFrom(src, 0))
				const seg, total = 1000, 32000
				if err := unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT, seg); err != nil {
					t.Skipf("skipping: no UDP GSO: %v", err)
				}
				buf := make([]byte, total)
				for i := range buf {
					buf[i] = byte(i / seg)
				}
				if err := unix.Sendto(fd, buf, 0, sockaddr(netip.AddrPortFrom(far, 7001))); err != nil {
					t.Fatalf("GSO send: %v", err)
				}
				got := readUDP(t, tn.port, 7001, total/seg)
				if len(got) != total/seg {
					t.Fatalf("read %d of %d segments", len(got), total/seg)
				}
				for i, g := range got {
					if !bytes.Equal(g, buf[i*seg:(i+1)*seg]) {
						t.Fatalf("segment %d: %d bytes starting %x", i, len(g), g[:min(8, len(g))])
					}
				}
			}
			st := tn.port.Stats()
			if st.Port.RxDropped != 0 {
				t.Errorf("RxDropped = %d", st.Port.RxDropped)
			}
			if (st.RxSuper > 0) != (mode == OffloadsOn) {
				t.Errorf("%d GSO packets read with offloads %v", st.RxSuper, mode)
			}
		})
	}
}

// The port writes a run of same-flow datagrams (which offloads coalesce
// into one GSO packet); the kernel delivers each to the socket intact.
func TestPortWritesWhatTheKernelReceives(t *testing.T) {
	for _, mode := range modes {
		t.Run("offloads "+mode.String(), func(t *testing.T) {
			tn := newTunNS(t, mode)
			for _, local := range []netip.Addr{tunAddr.Addr(), tunAddr6.Addr()} {
				far := farAddr
				if local.Is6() {
					far = farAddr6
				}
				fd, bound := udpSocket(t, tn.ns, netip.AddrPortFrom(local, 0))
				const n = 40
				pkts := newPackets(n)
				for i, pk := range pkts {
					payload := bytes.Repeat([]byte{byte(i)}, 1200)
					ip := pktbuild.UDP(netip.AddrPortFrom(far, 9000), bound, payload, nil)
					copy(pk.SetFrame(len(ip)), ip)
				}
				if w, err := tn.port.WriteBatch(0, pkts); w != n || err != nil {
					t.Fatalf("WriteBatch = %d, %v; stats %+v", w, err, tn.port.Stats())
				}
				buf := make([]byte, 65536)
				for i := range n {
					k, _, err := unix.Recvfrom(fd, buf, 0)
					if err != nil {
						t.Fatalf("datagram %d of %d: %v (stats %+v)", i, n, err, tn.port.Stats())
					}
					if want := bytes.Repeat([]byte{byte(i)}, 1200); !bytes.Equal(buf[:k], want) {
						t.Fatalf("datagram %d: %d bytes of %x, want 1200 of %02x", i, k, buf[:min(k, 4)], i)
					}
				}
			}
			if st := tn.port.Stats(); st.Port.TxPackets != 80 || st.Port.TxDropped != 0 || st.TxErrors != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestOffloadProbePassesOnThisKernel(t *testing.T) {
	netnstest.RequireRoot(t)
	ns := netnstest.New(t)
	if err := ns.Do(probeOffloads); err != nil {
		t.Fatalf("offload probe failed (this kernel's TUN offloads are broken, or the probe is): %v", err)
	}
	var p *Port
	if err := ns.Do(func() (err error) {
		p, err = New(Options{Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !p.Offloads() || p.Mode() != "offloads" {
		t.Fatalf("OffloadsAuto chose %q after a passing probe", p.Mode())
	}
}

func TestReadBatchOnAnIdlePortReturnsAfterAbout100ms(t *testing.T) {
	tn := newTunNS(t, OffloadsOn)
	pkts := newPackets(8)
	for range 50 { // the kernel may send IPv6 chatter first
		start := time.Now()
		n, err := tn.port.ReadBatch(0, pkts)
		el := time.Since(start)
		if err != nil {
			t.Fatal(err)
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

func TestCloseEndsAWaitingReadBatch(t *testing.T) {
	tn := newTunNS(t, OffloadsOff)
	done := make(chan error, 1)
	go func() {
		pkts := newPackets(8)
		for range 100 {
			if _, err := tn.port.ReadBatch(0, pkts); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	if err := tn.port.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("reader ended with %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reader still running 5s after Close")
	}
	if _, err := tn.port.WriteBatch(0, newPackets(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("WriteBatch after Close: %v", err)
	}
}

// Echo requests written to the port come back as replies from the kernel;
// the write and read of each round allocate nothing.
func TestBatchesDoNotAllocate(t *testing.T) {
	for _, mode := range modes {
		t.Run("offloads "+mode.String(), func(t *testing.T) {
			tn := newTunNS(t, mode)
			out := newPackets(1)
			echo := pktbuild.ICMP4Echo(farAddr, tunAddr.Addr(), 1, 1, false)
			copy(out[0].SetFrame(len(echo)), echo)
			in := newPackets(8)
			replies := 0
			allocs := testing.AllocsPerRun(100, func() {
				tn.port.WriteBatch(0, out)
				n, _ := tn.port.ReadBatch(0, in)
				for _, pk := range in[:n] {
					if len(pk.Frame) >= 28 && pk.Frame[9] == 1 && pk.Frame[20] == 0 {
						replies++
					}
				}
			})
			if replies < 100 {
				t.Fatalf("%d echo replies for 101 requests", replies)
			}
			if allocs != 0 {
				t.Fatalf("WriteBatch+ReadBatch allocate %v times per round, want 0", allocs)
			}
		})
	}
}

func TestFailedProbeFallsBackToPlainIO(t *testing.T) {
	netnstest.RequireRoot(t)
	ns := netnstest.New(t)
	var p *Port
	err := ns.Do(func() (err error) {
		p, err = New(Options{probe: func() error { return errors.New("coalesced write: EINVAL") }})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Offloads() || p.Mode() != "plain" || p.Stats().Mode != "plain" {
		t.Fatalf("after a failed probe the port runs %q", p.Mode())
	}
}
