package bench

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/nfgo/nfgo/internal/netnstest"
)

// What TestNATMatchesKernelNAT compares: frames captured on an end host's
// link, each reduced to a line of the fields a router decides.

// startCapture opens an AF_PACKET socket on l and records every IP
// packet l receives (not those it sends) until the returned function is
// called, which returns the records (see natRecord).
func startCapture(tb testing.TB, l netnstest.Link, where string) func() []string {
	tb.Helper()
	const ethPAll = 0x0003
	proto := uint16(ethPAll<<8 | ethPAll>>8) // htons
	var fd int
	err := l.NS.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
		if err != nil {
			return err
		}
		tv := unix.NsecToTimeval((20 * time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		// Room for every frame of a run, however late the reader gets
		// to them (root may exceed rmem_max).
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: l.Index})
	})
	if err != nil {
		tb.Fatalf("capture on %s: %v", l.Name, err)
	}
	var (
		mu   sync.Mutex
		recs []string
		stop = make(chan struct{})
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		stopping := false
		for {
			select {
			case <-stop:
				stopping = true
			default:
			}
			n, from, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				// The receive timeout, or an interruption. Once asked to
				// stop, the queue is drained first: the last exchange's
				// last frame was queued here before the socket it was for
				// got it, but may not have been read yet.
				if stopping && !errors.Is(err, unix.EINTR) {
					return
				}
				continue
			}
			if ll, ok := from.(*unix.SockaddrLinklayer); !ok || ll.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			if r, ok := natRecord(where, buf[:n]); ok {
				mu.Lock()
				recs = append(recs, r)
				mu.Unlock()
			}
		}
	}()
	var once sync.Once
	finish := func() {
		once.Do(func() {
			close(stop)
			<-done
			// A capture that lost frames would make the runs differ for
			// no fault of either router.
			if st, err := unix.GetsockoptTpacketStats(fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err != nil {
				tb.Errorf("capture on %s: statistics: %v", l.Name, err)
			} else if st.Drops > 0 {
				tb.Errorf("capture on %s lost %d of %d frames", l.Name, st.Drops, st.Packets)
			}
			unix.Close(fd)
		})
	}
	tb.Cleanup(finish)
	return func() []string {
		finish()
		mu.Lock()
		defer mu.Unlock()
		return recs
	}
}

// natRecord describes one captured Ethernet frame by the fields a router
// (and its NAT) decides: addresses, ports, ICMP type, id and sequence,
// TTL or hop limit, which TCP handshake segment it is, and whether every
// checksum is valid (verified by gopacket, independently of nfgo's packet
// package). It reports false for frames that are not test traffic (ARP,
// neighbor discovery, MLD, router solicitations).
//
// Left out on purpose, because the end hosts' kernels choose them
// differently from one run to the next, and a router passes them through
// unchanged: the IPv4 identification (per-socket random), the IPv6 flow
// label (a random hash), TCP sequence numbers, timestamps and window, and
// how the hosts cut and acknowledge the TCP byte stream (the flags of
// segments other than SYN, SYN-ACK and RST, and their lengths).
func natRecord(where string, frame []byte) (string, bool) {
	g := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	nl := g.NetworkLayer()
	if nl == nil {
		return "", false
	}
	if el := g.ErrorLayer(); el != nil {
		return fmt.Sprintf("at %s: undecodable frame (%v): % x", where, el.Error(), frame), true
	}
	var src, dst netip.Addr
	var ttl uint8
	switch ip := nl.(type) {
	case *layers.IPv4:
		src, _ = netip.AddrFromSlice(ip.SrcIP)
		dst, _ = netip.AddrFromSlice(ip.DstIP)
		ttl = ip.TTL
	case *layers.IPv6:
		src, _ = netip.AddrFromSlice(ip.SrcIP)
		dst, _ = netip.AddrFromSlice(ip.DstIP)
		ttl = ip.HopLimit
	default:
		return "", false
	}
	testNet4, testNet6 := netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("2001:db8::/32")
	if !(testNet4.Contains(src) || testNet6.Contains(src)) || !(testNet4.Contains(dst) || testNet6.Contains(dst)) {
		return "", false
	}
	sums := "sums ok"
	for _, l := range g.Layers() {
		if s, ok := l.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			s.SetNetworkLayerForChecksum(nl)
		}
		if c, ok := l.(interface {
			VerifyChecksum() (error, gopacket.ChecksumVerificationResult)
		}); ok {
			if err, res := c.VerifyChecksum(); err != nil || !res.Valid {
				sums = fmt.Sprintf("BAD %v checksum %+v", l.LayerType(), res)
			}
		}
	}
	// On a clash the kernel moves a source manip to a random port
	// (nf_nat_l4proto_unique_tuple: off = get_random_u16() unless the
	// manip is a destination one), so that port is compared by its range
	// only: not the original, and in 1024-65535 as the original was.
	port := func(a netip.Addr, p, peer uint16) string {
		if (a == routerWAN4.Addr() || a == routerWAN6.Addr()) && peer == natClashServerPort && p != natClashPort {
			host := a.String()
			if a.Is6() {
				host = "[" + host + "]"
			}
			if p >= 1024 {
				return host + ":<another port, 1024-65535>"
			}
			return fmt.Sprintf("%s:<another port, %d, out of range>", host, p)
		}
		return netip.AddrPortFrom(a, p).String()
	}
	var what string
	switch l4 := g.TransportLayer().(type) {
	case *layers.TCP:
		flags := ""
		switch {
		case l4.RST:
			flags = " [RST]"
		case l4.SYN && l4.ACK:
			flags = " [SYN-ACK]"
		case l4.SYN:
			flags = " [SYN]"
		}
		sp, dp := uint16(l4.SrcPort), uint16(l4.DstPort)
		what = fmt.Sprintf("tcp %s > %s%s", port(src, sp, dp), port(dst, dp, sp), flags)
	case *layers.UDP:
		sp, dp := uint16(l4.SrcPort), uint16(l4.DstPort)
		what = fmt.Sprintf("udp %s > %s len %d", port(src, sp, dp), port(dst, dp, sp), len(l4.Payload))
	default:
		if l := g.Layer(layers.LayerTypeICMPv4); l != nil {
			ic := l.(*layers.ICMPv4)
			switch ic.TypeCode.Type() {
			case layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4TypeTimeExceeded, layers.ICMPv4TypeParameterProblem:
				what = fmt.Sprintf("icmp %v > %v type %d code %d quoting %s", src, dst, ic.TypeCode.Type(), ic.TypeCode.Code(), quotedPacket(ic.Payload, false))
			default:
				what = fmt.Sprintf("icmp %v > %v type %d code %d id %#x seq %d len %d", src, dst, ic.TypeCode.Type(), ic.TypeCode.Code(), ic.Id, ic.Seq, len(ic.Payload))
			}
		} else if l := g.Layer(layers.LayerTypeICMPv6); l != nil {
			ic := l.(*layers.ICMPv6)
			typ := ic.TypeCode.Type()
			if typ != layers.ICMPv6TypeEchoRequest && typ != layers.ICMPv6TypeEchoReply && typ >= 128 {
				return "", false // neighbor discovery, MLD: not the router's forwarding
			}
			what = fmt.Sprintf("icmp6 %v > %v type %d code %d", src, dst, typ, ic.TypeCode.Code())
			if typ < 128 && len(ic.Payload) >= 4 {
				// An error: four bytes (unused, MTU or pointer), then the
				// quoted packet.
				what += fmt.Sprintf(" word %#x quoting %s", ic.Payload[:4], quotedPacket(ic.Payload[4:], true))
			}
			if e := g.Layer(layers.LayerTypeICMPv6Echo); e != nil {
				ec := e.(*layers.ICMPv6Echo)
				what += fmt.Sprintf(" id %#x seq %d len %d", ec.Identifier, ec.SeqNumber, len(ec.Payload))
			}
		} else {
			what = fmt.Sprintf("proto %v %v > %v", nl.LayerType(), src, dst)
		}
	}
	return fmt.Sprintf("at %s: %s ttl %d %s", where, what, ttl, sums), true
}

// quotedPacket describes the packet an ICMP error quotes: the addresses
// and ports NAT must have translated back, its TTL and length as the
// router passed them on, whether its IPv4 header checksum is valid, and
// its UDP or TCP checksum field, which the reverse translation must leave
// as the client computed it (the quote is cut short, so it cannot be
// verified). Its IPv4 identification is the client's random choice and
// left out.
func quotedPacket(b []byte, v6 bool) string {
	var src, dst netip.Addr
	var proto, ttl uint8
	var hlen, length int
	hdr := "ip header"
	switch {
	case !v6 && len(b) >= 20 && b[0]>>4 == 4 && len(b) >= int(b[0]&0xf)*4:
		hlen = int(b[0]&0xf) * 4
		src, dst = netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
		proto, ttl, length = b[9], b[8], int(b[2])<<8|int(b[3])
		if onesSum(b[:hlen]) == 0xffff {
			hdr += " sum ok"
		} else {
			hdr += " sum BAD"
		}
	case v6 && len(b) >= 40 && b[0]>>4 == 6:
		hlen = 40
		src, dst = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
		proto, ttl, length = b[6], b[7], 40+(int(b[4])<<8|int(b[5]))
	default:
		return fmt.Sprintf("%d bytes that are not a packet", len(b))
	}
	l4 := b[hlen:]
	switch {
	case proto == 17 && len(l4) >= 8:
		return fmt.Sprintf("udp %v > %v ttl %d len %d %s, udp sum %#04x", netip.AddrPortFrom(src, uint16(l4[0])<<8|uint16(l4[1])),
			netip.AddrPortFrom(dst, uint16(l4[2])<<8|uint16(l4[3])), ttl, length, hdr, uint16(l4[6])<<8|uint16(l4[7]))
	case proto == 6 && len(l4) >= 8:
		return fmt.Sprintf("tcp %v > %v ttl %d len %d %s", netip.AddrPortFrom(src, uint16(l4[0])<<8|uint16(l4[1])),
			netip.AddrPortFrom(dst, uint16(l4[2])<<8|uint16(l4[3])), ttl, length, hdr)
	}
	return fmt.Sprintf("proto %d %v > %v ttl %d len %d %s", proto, src, dst, ttl, length, hdr)
}

// onesSum is the ones' complement sum of b (RFC 1071), written out here
// so that the check does not rely on nfgo's own checksum code.
func onesSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// setDiff is the elements of a (sorted) not in b (sorted).
func setDiff(a, b []string) []string {
	var out []string
	for _, s := range a {
		if _, ok := slices.BinarySearch(b, s); !ok {
			out = append(out, s)
		}
	}
	return out
}
