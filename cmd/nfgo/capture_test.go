package main

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

var update = flag.Bool("update", false, "rewrite the golden files and test captures under testdata")

// The replay capture: what a tap on the LAN side of a router sees.
var (
	client4 = netip.MustParseAddr("198.18.0.2")
	server4 = netip.MustParseAddr("198.18.1.2")
	client6 = netip.MustParseAddr("2001:db8::2")
	server6 = netip.MustParseAddr("2001:db8:1::2")
)

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

// lanCapture is the frames of testdata/replay/lan.pcap, in order.
func lanCapture() [][]byte {
	const syn, ack, synack, psh = 0x02, 0x10, 0x12, 0x18
	ip := [][]byte{
		pktbuild.TCP4(ap(client4, 40000), ap(server4, 80), syn, 1000, 0, nil),                                                    // 1 new web connection: accept
		pktbuild.TCP4(ap(server4, 80), ap(client4, 40000), synack, 5000, 1001, nil),                                              // 2 its reply: established
		pktbuild.TCP4(ap(client4, 40000), ap(server4, 80), ack, 1001, 5001, nil),                                                 // 3 established
		pktbuild.TCP4(ap(client4, 40000), ap(server4, 80), psh, 1001, 5001, []byte("GET /\r\n")),                                 // 4 data
		pktbuild.TCP4(ap(client4, 40001), ap(server4, 22), syn, 7000, 0, nil),                                                    // 5 ssh: policy drop
		pktbuild.UDP4(ap(client4, 5353), ap(server4, 53), []byte("query")),                                                       // 6 DNS: accept
		pktbuild.ICMP4Echo(client4, server4, 7, 1, false),                                                                        // 7 ping: accept
		pktbuild.ICMP4Echo(server4, client4, 7, 1, true),                                                                         // 8 its reply: established
		pktbuild.TCP6(ap(client6, 40002), ap(server6, 443), syn, 9000, 0, nil),                                                   // 9 IPv6 web: accept
		pktbuild.TCP4(ap(client4, 40003), ap(server4, 23), syn, 100, 0, nil),                                                     // 10 telnet: reset
		pktbuild.IPv4(client4, server4, packet.ProtoUDP, []byte{0, 1, 0, 2, 0, 8, 0, 0}, &pktbuild.Options{BadIPChecksum: true}), // 11 bad IP checksum
		pktbuild.UDP(ap(client4, 5354), ap(server4, 53), []byte("q"), &pktbuild.Options{TTL: 1}),                                 // 12 TTL runs out
	}
	var frames [][]byte
	for i, b := range ip {
		frames = append(frames, pktbuild.EtherFrame(b))
		if i == 7 {
			// An ARP request between the ping and the IPv6 packet: not IP.
			frames = append(frames, pktbuild.Ether(packet.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, pktbuild.MAC1, 0x0806,
				pktbuild.ARP(1, pktbuild.MAC1, client4, packet.MAC{}, netip.MustParseAddr("198.18.0.1"))))
		}
	}
	return frames
}

// The NAT replay: a tap on each side of the router, as raw IP. Times are
// milliseconds after the start; the replay merges the two in time order.
var (
	routerWAN4 = netip.MustParseAddr("198.18.1.1")
)

type timedFrame struct {
	ms    int
	frame []byte
}

func natCaptures() (lan, wan []timedFrame) {
	const syn, ack, synack = 0x02, 0x10, 0x12
	lan = []timedFrame{
		{0, pktbuild.TCP4(ap(client4, 40000), ap(server4, 80), syn, 1000, 0, nil)},     // masqueraded out of wan0
		{2, pktbuild.TCP4(ap(client4, 40000), ap(server4, 80), ack, 1001, 5001, nil)},  // established
		{5, pktbuild.TCP4(ap(client4, 80), ap(server4, 50000), synack, 300, 201, nil)}, // the forwarded port's answer
	}
	wan = []timedFrame{
		{1, pktbuild.TCP4(ap(server4, 80), ap(routerWAN4, 40000), synack, 5000, 1001, nil)}, // reply to the masqueraded address
		{4, pktbuild.TCP4(ap(server4, 50000), ap(routerWAN4, 8080), syn, 200, 0, nil)},      // port forward to 198.18.0.2:80
		{6, pktbuild.TCP4(ap(server4, 50001), ap(routerWAN4, 22), syn, 200, 0, nil)},        // not forwarded: delivered, no one listens
	}
	return lan, wan
}

func writeRawCapture(t *testing.T, path string, frames []timedFrame) {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: ts.Add(time.Duration(f.ms) * time.Millisecond), CaptureLength: len(f.frame), Length: len(f.frame)}
		if err := w.WritePacket(ci, f.frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeCapture writes frames as an Ethernet pcap, a millisecond apart.
func writeCapture(t *testing.T, path string, frames [][]byte) {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: ts.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCapturesAreUpToDate keeps the captures under testdata/replay the
// ones this file describes (go test -run Captures -update rewrites them).
func TestCapturesAreUpToDate(t *testing.T) {
	lan, wan := natCaptures()
	for name, write := range map[string]func(path string){
		"lan.pcap":     func(p string) { writeCapture(t, p, lanCapture()) },
		"nat-lan.pcap": func(p string) { writeRawCapture(t, p, lan) },
		"nat-wan.pcap": func(p string) { writeRawCapture(t, p, wan) },
	} {
		path := filepath.Join("testdata", "replay", name)
		if *update {
			write(path)
		}
		tmp := filepath.Join(t.TempDir(), name)
		write(tmp)
		want, _ := os.ReadFile(tmp)
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is stale or missing (%v): run go test -run Captures -update", path, err)
		}
	}
}
