package ctcmd

import (
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/internal/netnstest"
	"github.com/nfgo/nfgo/packet"
)

// parseKernelLine reads one line of the kernel's conntrack -L into an
// entry, so that formatEntry can be held to the same line.
func parseKernelLine(t *testing.T, line string) conntrack.Entry {
	t.Helper()
	f := strings.Fields(line)
	var x conntrack.Entry
	proto, _ := strconv.Atoi(f[1])
	secs, _ := strconv.Atoi(f[2])
	x.Timeout = time.Duration(secs) * time.Second
	x.Status = conntrack.StatusSeenReply | conntrack.StatusConfirmed
	tuples := []*conntrack.Tuple{&x.Orig, &x.Reply}
	n := -1
	for _, w := range f[3:] {
		k, v, ok := strings.Cut(w, "=")
		switch {
		case w == "[UNREPLIED]":
			x.Status &^= conntrack.StatusSeenReply
		case w == "[ASSURED]":
			x.Status |= conntrack.StatusAssured
		case !ok:
			for s := conntrack.TCPNone; s <= conntrack.TCPSynSent2; s++ {
				if s.String() == w {
					x.TCPState = s
				}
			}
		case k == "src":
			n++
			a := netip.MustParseAddr(v)
			*tuples[n] = conntrack.TupleFrom(netip.AddrPortFrom(a, 0), netip.AddrPortFrom(a, 0), uint8(proto))
		case k == "dst":
			tuples[n].SetDstAddr(netip.MustParseAddr(v))
		case k == "sport", k == "id":
			p, _ := strconv.Atoi(v)
			tuples[n].SrcPort = uint16(p)
		case k == "dport":
			p, _ := strconv.Atoi(v)
			tuples[n].DstPort = uint16(p)
		case k == "type":
			p, _ := strconv.Atoi(v)
			tuples[n].DstPort |= uint16(p) << 8
		case k == "code":
			p, _ := strconv.Atoi(v)
			tuples[n].DstPort |= uint16(p)
		case k == "mark":
			m, _ := strconv.Atoi(v)
			x.Mark = uint32(m)
		}
	}
	return x
}

// The kernel's conntrack tool is the spec of the format: connections made
// in a namespace with the kernel's tracker, listed by conntrack -L, print
// the same from formatEntry.
func TestConntrackFormatMatchesTheKernelTool(t *testing.T) {
	netnstest.RequireRoot(t)
	if _, err := exec.LookPath("conntrack"); err != nil {
		t.Skip("skipping: no conntrack tool (conntrack-tools)")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("skipping: no nft")
	}
	ns := netnstest.New(t) // with its loopback up
	run := func(name string, args ...string) string { return string(ns.MustExec(name, args...)) }
	run("nft", "add table inet t; add chain inet t c { type filter hook output priority 0; }; add rule inet t c ct state new counter")
	err := ns.Do(func() error {
		ln, err := net.Listen("tcp", "127.0.0.1:8080")
		if err != nil {
			return err
		}
		defer ln.Close()
		c, err := net.Dial("tcp", "127.0.0.1:8080")
		if err != nil {
			return err
		}
		s, _ := ln.Accept()
		c.Write([]byte("x"))
		s.Read(make([]byte, 1))
		u, _ := net.Dial("udp", "127.0.0.1:5353")
		u.Write([]byte("x"))
		u6, _ := net.Dial("udp", "[::1]:5353")
		u6.Write([]byte("x"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out := run("conntrack", "-L")
	lines := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, "conntrack v") || line == "" {
			continue
		}
		lines++
		x := parseKernelLine(t, line)
		if got := formatEntry(&x, ctFormat{}, false); got != line {
			t.Errorf("\nkernel: %s\nnfgo:   %s", line, got)
		}
		if x.Orig.Family == packet.FamilyIPv6 {
			if got := formatEntry(&x, ctFormat{extended: true}, false); !strings.HasPrefix(got, "ipv6     10 udp      17 ") {
				t.Errorf("-o extended: %s", got)
			}
		}
	}
	if lines < 3 {
		t.Errorf("conntrack -L listed %d connections, want the TCP and the two UDP ones:\n%s", lines, out)
	}
}
