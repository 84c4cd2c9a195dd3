package afxdp

import (
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nfgo/nfgo/internal/netnstest"
	"github.com/nfgo/nfgo/packet"
)

// A datagram the peer's kernel stack sends arrives with a complete UDP
// checksum once the peer's transmit checksum offload is off. (With it on,
// veth hands XDP the frame with only the pseudo-header sum in the field;
// end-to-end tests through AF_XDP ports turn it off on their hosts.)
func TestKernelSentDatagramsHaveFullChecksumsWithTxOffloadOff(t *testing.T) {
	for _, mode := range []AttachMode{ModeNative, ModeGeneric} {
		t.Run(mode.String(), func(t *testing.T) {
			v := newVethPair(t)
			netnstest.DisableTxChecksum(t, v.peer)
			p := openPort(t, v, Options{Mode: mode, Logger: quietLogger()})
			netnstest.AddAddr(t, v.peer, netip.MustParsePrefix("198.18.0.2/24"))
			netnstest.AddNeighbor(t, v.peer, portAddr.Addr(), v.xdp.MAC)
			var fd int
			if err := v.ns.Do(func() (err error) { fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); return }); err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if err := unix.Sendto(fd, make([]byte, 100), 0, &unix.SockaddrInet4{Port: 9, Addr: portAddr.Addr().As4()}); err != nil {
				t.Fatal(err)
			}
			pkts := newPackets(8)
			deadline := time.Now().Add(2 * time.Second)
			for time.Now().Before(deadline) {
				n, err := p.ReadBatch(0, pkts)
				if err != nil {
					t.Fatal(err)
				}
				for _, pk := range pkts[:n] {
					f := pk.Frame
					if len(f) < 42 || f[12] != 0x08 || f[13] != 0 || f[23] != packet.ProtoUDP {
						continue
					}
					ip := packet.IPv4(f[14:])
					u := packet.UDP(f[14+ip.HeaderLen():])
					if c := u.ComputeChecksum(ip.Src(), ip.Dst()); c != u.Checksum() {
						t.Fatalf("UDP checksum %#04x, want %#04x", u.Checksum(), c)
					}
					return
				}
			}
			t.Fatal("the datagram never arrived")
		})
	}
}
