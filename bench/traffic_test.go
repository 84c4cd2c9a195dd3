package bench

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nfgo/nfgo/internal/netnstest"
	"github.com/nfgo/nfgo/packet"
)

// Traffic between the namespaces, written in Go so that the tests need no
// tools on the machine. Sockets are created on a thread inside their
// namespace (netnstest.NS.Do) and used from any goroutine afterwards.
// Every loop is bounded in count and in time.

// ping sends count ICMP (or ICMPv6) echo requests from ns to dst, one at a
// time, and fails tb unless each is answered by dst with the same payload.
// A request unanswered after 300 ms is sent again, at most five times: the
// first may wait for neighbor resolution.
func ping(tb testing.TB, ns *netnstest.NS, dst netip.Addr, count int) {
	tb.Helper()
	pingFrom(tb, ns, netip.Addr{}, dst, uint16(rand.Uint32()), count)
}

// pingFrom is ping with identifier id, from address src when it is valid
// (the socket is bound to it).
func pingFrom(tb testing.TB, ns *netnstest.NS, src, dst netip.Addr, id uint16, count int) {
	tb.Helper()
	v6 := dst.Is6()
	var fd int
	err := ns.Do(func() (err error) {
		if v6 {
			fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
		} else {
			fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		}
		if err != nil {
			return err
		}
		tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		switch {
		case !src.IsValid():
			return nil
		case v6:
			return unix.Bind(fd, &unix.SockaddrInet6{Addr: src.As16()})
		default:
			return unix.Bind(fd, &unix.SockaddrInet4{Addr: src.As4()})
		}
	})
	if err != nil {
		tb.Fatalf("ping %v: raw socket: %v", dst, err)
	}
	defer unix.Close(fd)
	var sa unix.Sockaddr
	var reqType, replyType uint8
	if v6 {
		sa = &unix.SockaddrInet6{Addr: dst.As16()}
		reqType, replyType = packet.ICMPv6EchoRequest, packet.ICMPv6EchoReply
	} else {
		sa = &unix.SockaddrInet4{Addr: dst.As4()}
		reqType, replyType = packet.ICMPv4Echo, packet.ICMPv4EchoReply
	}
	buf := make([]byte, 2048)
	for seq := 1; seq <= count; seq++ {
		msg := make([]byte, 8+56)
		msg[0] = reqType
		binary.BigEndian.PutUint16(msg[4:], id)
		binary.BigEndian.PutUint16(msg[6:], uint16(seq))
		for i := 8; i < len(msg); i++ {
			msg[i] = byte(seq + i)
		}
		if !v6 {
			// The kernel fills in ICMPv6 checksums on raw sockets, not
			// ICMP ones.
			binary.BigEndian.PutUint16(msg[2:], packet.Fold(packet.Sum(msg, 0)))
		}
		answered := false
		for try := 0; try < 5 && !answered; try++ {
			if err := unix.Sendto(fd, msg, 0, sa); err != nil {
				tb.Fatalf("ping %v seq %d: send: %v", dst, seq, err)
			}
			deadline := time.Now().Add(300 * time.Millisecond)
			for !answered && time.Now().Before(deadline) {
				n, from, err := unix.Recvfrom(fd, buf, 0)
				if err != nil {
					continue // the 50 ms receive timeout
				}
				reply := buf[:n]
				if !v6 {
					// IPv4 raw sockets return the IP header too.
					if n < 20 || n < int(reply[0]&0xf)*4 {
						continue
					}
					reply = reply[int(reply[0]&0xf)*4:]
				}
				if len(reply) != len(msg) || reply[0] != replyType || !sameAddr(from, dst) ||
					binary.BigEndian.Uint16(reply[4:]) != id || binary.BigEndian.Uint16(reply[6:]) != uint16(seq) {
					continue
				}
				if !bytes.Equal(reply[8:], msg[8:]) {
					tb.Fatalf("ping %v seq %d: reply payload differs", dst, seq)
				}
				answered = true
			}
		}
		if !answered {
			tb.Fatalf("ping %v from %s: no reply to seq %d", dst, ns.Name, seq)
		}
	}
}

func sameAddr(sa unix.Sockaddr, a netip.Addr) bool {
	switch s := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(s.Addr) == a
	case *unix.SockaddrInet6:
		return netip.AddrFrom16(s.Addr) == a
	}
	return false
}

// listenTCP opens a TCP listener on addr inside ns, and listenUDP a UDP
// socket; both close when tb ends.
func listenTCP(tb testing.TB, ns *netnstest.NS, addr netip.AddrPort) net.Listener {
	tb.Helper()
	var l net.Listener
	if err := ns.Do(func() (err error) { l, err = net.Listen("tcp", addr.String()); return err }); err != nil {
		tb.Fatalf("listen %v in %s: %v", addr, ns.Name, err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

func listenUDP(tb testing.TB, ns *netnstest.NS, addr netip.AddrPort) *net.UDPConn {
	tb.Helper()
	var c *net.UDPConn
	if err := ns.Do(func() (err error) { c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr)); return err }); err != nil {
		tb.Fatalf("listen udp %v in %s: %v", addr, ns.Name, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// dial connects from inside ns; the connection closes when tb ends.
func dial(tb testing.TB, ns *netnstest.NS, network string, addr netip.AddrPort) net.Conn {
	tb.Helper()
	var c net.Conn
	err := ns.Do(func() (err error) {
		c, err = net.DialTimeout(network, addr.String(), 10*time.Second)
		return err
	})
	if err != nil {
		tb.Fatalf("dial %s %v from %s: %v", network, addr, ns.Name, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// tcpTransfer sends size bytes of pseudo-random data from the client
// namespace to a listener at dst in the server namespace, and fails tb
// unless the SHA-256 of what arrived is that of what was sent. It returns
// the time the transfer took.
func tcpTransfer(tb testing.TB, client, server *netnstest.NS, dst netip.AddrPort, size int64, timeout time.Duration) time.Duration {
	tb.Helper()
	l := listenTCP(tb, server, dst)
	type result struct {
		n   int64
		sum [sha256.Size]byte
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout))
		h := sha256.New()
		n, err := io.Copy(h, c)
		var r result
		r.n, r.err = n, err
		copy(r.sum[:], h.Sum(nil))
		got <- r
	}()

	c := dial(tb, client, "tcp", dst)
	c.SetDeadline(time.Now().Add(timeout))
	start := time.Now()
	seed := rand.Uint64()
	h := sha256.New()
	src := io.LimitReader(rand.NewChaCha8(seedBytes(seed)), size)
	n, err := io.Copy(io.MultiWriter(c, h), src)
	if err != nil || n != size {
		tb.Fatalf("tcp %v: sent %d of %d bytes: %v", dst, n, size, err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		tb.Fatalf("tcp %v: close write: %v", dst, err)
	}
	var r result
	select {
	case r = <-got:
	case <-time.After(timeout):
		tb.Fatalf("tcp %v: the server did not finish in %v", dst, timeout)
	}
	took := time.Since(start)
	if r.err != nil {
		tb.Fatalf("tcp %v: server read %d bytes, then: %v", dst, r.n, r.err)
	}
	if r.n != size || !bytes.Equal(r.sum[:], h.Sum(nil)) {
		tb.Fatalf("tcp %v: received %d bytes with SHA-256 %x, sent %d with %x (seed %#x)", dst, r.n, r.sum, size, h.Sum(nil), seed)
	}
	tb.Logf("tcp %v: %d MB in %v (%.0f Mbit/s), SHA-256 %x", dst, size>>20, took.Round(time.Millisecond),
		float64(size)*8/took.Seconds()/1e6, r.sum[:8])
	return took
}

func seedBytes(seed uint64) [32]byte {
	var b [32]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	return b
}

// udpEcho sends count datagrams of the given sizes from the client
// namespace to an echo server at dst in the server namespace, window at a
// time, and fails tb unless every one comes back unchanged. A window not
// all echoed within a second is sent again, at most three times.
func udpEcho(tb testing.TB, client, server *netnstest.NS, dst netip.AddrPort, sizes []int, count int) {
	tb.Helper()
	srv := listenUDP(tb, server, dst)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return // closed at cleanup
			}
			srv.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	c := dial(tb, client, "udp", dst)
	const window = 32
	buf := make([]byte, 65536)
	for base := 0; base < count; base += window {
		end := min(base+window, count)
		want := map[uint32][]byte{}
		for i := base; i < end; i++ {
			d := make([]byte, max(sizes[i%len(sizes)], 8))
			binary.BigEndian.PutUint32(d, uint32(i))
			for j := 4; j < len(d); j++ {
				d[j] = byte(i * j)
			}
			want[uint32(i)] = d
		}
		for try := 0; try < 3 && len(want) > 0; try++ {
			for _, d := range want {
				if _, err := c.Write(d); err != nil {
					tb.Fatalf("udp %v: send: %v", dst, err)
				}
			}
			c.SetReadDeadline(time.Now().Add(time.Second))
			for len(want) > 0 {
				n, err := c.Read(buf)
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break
				}
				if err != nil {
					tb.Fatalf("udp %v: receive: %v", dst, err)
				}
				if n < 4 {
					continue
				}
				seq := binary.BigEndian.Uint32(buf)
				if d, ok := want[seq]; ok {
					if !bytes.Equal(buf[:n], d) {
						tb.Fatalf("udp %v: datagram %d came back changed (%d bytes, sent %d)", dst, seq, n, len(d))
					}
					delete(want, seq)
				}
			}
		}
		if len(want) > 0 {
			tb.Fatalf("udp %v: %d datagrams of %d..%d never came back", dst, len(want), base, end-1)
		}
	}
}
