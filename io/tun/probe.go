package tun

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	wgtun "golang.zx2c4.com/wireguard/tun"

	"github.com/nfgo/nfgo/packet"
)

// The probe's link-local addresses live on its own throwaway device, so
// they collide with nothing.
var (
	probeLocal = netip.MustParseAddr("fe80::1")
	probePeer  = netip.MustParseAddr("fe80::2")
)

const (
	probeSegments = 4
	probePayload  = 600
	probeOffset   = 16 // room for the virtio-net header in front of each packet
)

// probeOffloads checks that this kernel handles coalesced writes through
// a TUN device with offloads: on a throwaway device in a throwaway
// network namespace it writes a run of same-sized UDP datagrams, which
// wireguard's tun coalesces into one UDP GSO packet, and a pair of TCP
// segments it coalesces into one TSO packet. The writes must succeed (some
// kernels fail them with EINVAL) and a socket on the device must receive
// every datagram intact (some kernels corrupted the segments).
func probeOffloads() error {
	errc := make(chan error, 1)
	go func() {
		// The probe runs in a network namespace of its own, so that its
		// device and addresses are seen by nothing else. The thread is
		// never unlocked: the runtime discards it with the goroutine.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("probe namespace: %w", err)
			return
		}
		errc <- probeHere()
	}()
	return <-errc
}

// probeHere probes on a device in the calling thread's namespace.
func probeHere() error {
	dev, err := createDevice("", 1500, true)
	if err != nil {
		return fmt.Errorf("create probe device: %w", err)
	}
	defer dev.Close()
	go func() {
		for range dev.Events() {
		}
	}()
	name, err := dev.Name()
	if err != nil {
		return err
	}
	if err := setUp(name); err != nil {
		return err
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: probeLocal.AsSlice(), Mask: net.CIDRMask(64, 128)}, Flags: unix.IFA_F_NODAD}
	if err := netlink.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("probe address: %w", err)
	}
	sock, port, err := probeSocket(link.Attrs().Index)
	if err != nil {
		return fmt.Errorf("probe socket: %w", err)
	}
	defer unix.Close(sock)

	// The kernel drops packets to the address until addrconf's work
	// queue has made it usable, which can take a while when the queue is
	// busy. A single datagram (nothing to coalesce) is sent until one
	// arrives, so that the coalesced run after it tests the offloads and
	// not the address's readiness.
	var err1 error
	for range 100 { // 2 s
		if err1 = probeWarmUp(dev, sock, port); err1 == nil {
			break
		}
	}
	if err1 != nil {
		return fmt.Errorf("plain datagram: %w", err1)
	}
	if err := setRecvTimeout(sock, 500*time.Millisecond); err != nil {
		return err
	}
	return probeRound(dev, sock, port)
}

// probeWarmUp writes one datagram and waits for it.
func probeWarmUp(dev wgtun.Device, sock int, port uint16) error {
	if _, err := dev.Write([][]byte{probeUDP(port, []byte("warm-up"))}, probeOffset); err != nil {
		return err
	}
	buf := make([]byte, 64)
	for {
		n, _, err := unix.Recvfrom(sock, buf, 0)
		if err != nil {
			return fmt.Errorf("%w: %v", errNotArrived, err)
		}
		if string(buf[:n]) == "warm-up" {
			return nil
		}
	}
}

var errNotArrived = errors.New("did not arrive")

// probeRound writes the coalescable datagrams and segments once and
// checks what the socket receives.
func probeRound(dev wgtun.Device, sock int, port uint16) error {
	bufs := make([][]byte, 0, probeSegments)
	for i := range probeSegments {
		payload := bytes.Repeat([]byte{byte('a' + i)}, probePayload)
		bufs = append(bufs, probeUDP(port, payload))
	}
	if _, err := dev.Write(bufs, probeOffset); err != nil {
		return fmt.Errorf("coalesced UDP write: %w", err)
	}
	tcp := [][]byte{probeTCP(port, 1000, 500), probeTCP(port, 1500, 500)}
	if _, err := dev.Write(tcp, probeOffset); err != nil {
		return fmt.Errorf("coalesced TCP write: %w", err)
	}
	buf := make([]byte, 2048)
	for i := range probeSegments {
		n, _, err := unix.Recvfrom(sock, buf, 0)
		if err != nil {
			return fmt.Errorf("datagram %d of %d %w: %v", i+1, probeSegments, errNotArrived, err)
		}
		want := bytes.Repeat([]byte{byte('a' + i)}, probePayload)
		if !bytes.Equal(buf[:n], want) {
			return errors.New("coalesced UDP datagrams arrived corrupted")
		}
	}
	return nil
}

// probeSocket opens a UDP socket on probeLocal on interface ifindex, with
// a receive timeout, and returns it and its port.
func probeSocket(ifindex int) (int, uint16, error) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, 0, err
	}
	sa := &unix.SockaddrInet6{Addr: probeLocal.As16(), ZoneId: uint32(ifindex)}
	if err = unix.Bind(fd, sa); err == nil {
		err = setRecvTimeout(fd, 20*time.Millisecond)
	}
	var got unix.Sockaddr
	if err == nil {
		got, err = unix.Getsockname(fd)
	}
	if err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	return fd, uint16(got.(*unix.SockaddrInet6).Port), nil
}

// probeUDP builds an IPv6 UDP datagram from the probe peer to port, with
// probeOffset bytes of headroom.
func probeUDP(port uint16, payload []byte) []byte {
	b := make([]byte, probeOffset+packet.IPv6HeaderLen+8+len(payload))
	ip := packet.IPv6(b[probeOffset:])
	probeIPv6(ip, packet.ProtoUDP, 8+len(payload))
	u := packet.UDP(ip[packet.IPv6HeaderLen:])
	u.SetSrcPort(40000)
	u.SetDstPort(port)
	u.SetLength(uint16(8 + len(payload)))
	copy(u[8:], payload)
	u.SetChecksum(u.ComputeChecksum(probePeer, probeLocal))
	return b
}

// probeTCP builds an IPv6 TCP ACK segment with n bytes of data at seq.
func probeTCP(port uint16, seq uint32, n int) []byte {
	b := make([]byte, probeOffset+packet.IPv6HeaderLen+20+n)
	ip := packet.IPv6(b[probeOffset:])
	probeIPv6(ip, packet.ProtoTCP, 20+n)
	t := packet.TCP(ip[packet.IPv6HeaderLen:])
	binary.BigEndian.PutUint16(t[0:2], 40000)
	binary.BigEndian.PutUint16(t[2:4], port)
	binary.BigEndian.PutUint32(t[4:8], seq)
	binary.BigEndian.PutUint32(t[8:12], 1)
	t[12] = 5 << 4
	t[13] = 0x10 // ACK
	binary.BigEndian.PutUint16(t[14:16], 65535)
	binary.BigEndian.PutUint16(t[16:18], t.ComputeChecksum(probePeer, probeLocal))
	return b
}

func probeIPv6(ip packet.IPv6, proto uint8, payloadLen int) {
	ip[0] = 6 << 4
	ip.SetPayloadLen(uint16(payloadLen))
	ip.SetNextHeader(proto)
	ip.SetHopLimit(64)
	ip.SetSrc(probePeer)
	ip.SetDst(probeLocal)
}

func setRecvTimeout(fd int, d time.Duration) error {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
}
