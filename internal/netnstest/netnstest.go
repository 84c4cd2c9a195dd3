// Package netnstest builds network-namespace topologies for tests: named
// namespaces that are removed when the test ends, veth pairs between them,
// addresses, and a way to run code and commands inside a namespace.
//
// Tests that use it need root; call RequireRoot first, which skips the test
// with the reason when the process cannot create namespaces. Test traffic
// uses addresses from 198.18.0.0/15 and 2001:db8::/32 only.
package netnstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

var (
	seq   atomic.Uint32
	sweep sync.Once
)

// sweepStale deletes namespaces this package made in processes that are
// gone (a test that crashed never ran its cleanups). Names carry the pid
// of their creator; a namespace whose creator lives is left alone.
func sweepStale() {
	entries, err := os.ReadDir("/var/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		var pid, n int
		if _, err := fmt.Sscanf(e.Name(), "nfgo-%d-%d", &pid, &n); err != nil || pid == os.Getpid() {
			continue
		}
		if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
			netns.DeleteNamed(e.Name())
		}
	}
}

// RequireRoot skips tb unless the process is root and can create a network
// namespace.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("skipping: needs root to create network namespaces")
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		tb.Skipf("skipping: no network namespace support: %v", err)
	}
}

// NS is a named network namespace created for one test.
type NS struct {
	Name string
	tb   testing.TB
}

// New creates a named network namespace ("nfgo-<pid>-<n>") with its
// loopback up, and deletes it when tb ends, whether the test passed or not.
// The first call in a process also deletes namespaces left by test
// processes that died without cleaning up.
func New(tb testing.TB) *NS {
	tb.Helper()
	sweep.Do(sweepStale)
	name := fmt.Sprintf("nfgo-%d-%d", os.Getpid(), seq.Add(1))
	errc := make(chan error, 1)
	go func() {
		// The thread is left in the new namespace and never unlocked, so
		// the runtime discards it when this goroutine ends.
		runtime.LockOSThread()
		h, err := netns.NewNamed(name)
		if err == nil {
			h.Close()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		tb.Fatalf("netnstest: create namespace %s: %v", name, err)
	}
	ns := &NS{Name: name, tb: tb}
	tb.Cleanup(func() {
		if err := netns.DeleteNamed(name); err != nil {
			tb.Errorf("netnstest: delete namespace %s: %v", name, err)
		}
	})
	h := ns.Netlink()
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		tb.Fatalf("netnstest: %s: set lo up: %v", name, err)
	}
	return ns
}

// Do runs f on an OS thread that has entered ns and returns its error.
// Goroutines f starts do not run in ns. Sockets, XDP links and other file
// descriptors f creates stay in ns after Do returns.
func (ns *NS) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread dies with the goroutine instead of
		// going back to the pool in the wrong namespace.
		runtime.LockOSThread()
		h, err := netns.GetFromName(ns.Name)
		if err != nil {
			errc <- fmt.Errorf("netnstest: open %s: %w", ns.Name, err)
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- fmt.Errorf("netnstest: enter %s: %w", ns.Name, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// Enter moves the calling goroutine's thread into ns for good: it locks
// the goroutine to its thread and never unlocks it. It is for child
// processes a test starts (see the afxdp crash test), not for test bodies.
func (ns *NS) Enter() error {
	return EnterNamed(ns.Name)
}

// EnterNamed is Enter for a namespace known by name only.
func EnterNamed(name string) error {
	runtime.LockOSThread()
	h, err := netns.GetFromName(name)
	if err != nil {
		return err
	}
	defer h.Close()
	return netns.Set(h)
}

// Netlink returns a netlink handle working in ns, closed when the test ends.
func (ns *NS) Netlink() *netlink.Handle {
	ns.tb.Helper()
	nh, err := netns.GetFromName(ns.Name)
	if err != nil {
		ns.tb.Fatalf("netnstest: open %s: %v", ns.Name, err)
	}
	defer nh.Close()
	h, err := netlink.NewHandleAt(nh)
	if err != nil {
		ns.tb.Fatalf("netnstest: netlink in %s: %v", ns.Name, err)
	}
	ns.tb.Cleanup(h.Close)
	return h
}

// Exec runs a command inside ns (through `ip netns exec`) with a timeout
// and returns its combined output.
func (ns *NS) Exec(timeout time.Duration, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s %v: %w", name, args, ctx.Err())
	}
	return out, err
}

// MustExec is Exec that fails the test on error.
func (ns *NS) MustExec(name string, args ...string) []byte {
	ns.tb.Helper()
	out, err := ns.Exec(30*time.Second, name, args...)
	if err != nil {
		ns.tb.Fatalf("netnstest: %s: %s %v: %v\n%s", ns.Name, name, args, err, out)
	}
	return out
}

// Link is one end of a veth pair.
type Link struct {
	NS    *NS
	Name  string
	Index int
	MAC   [6]byte
}

// VethOptions are optional settings for Veth. The zero value is a pair
// with the kernel's default queues and MTU 1500.
type VethOptions struct {
	MTU    int  // 0: 1500
	Queues int  // RX and TX queues of each end; 0: the kernel's default
	Down   bool // leave both ends down
}

// Veth creates a veth pair with end aName in a and bName in b, brings both
// up, and returns them.
func Veth(tb testing.TB, a *NS, aName string, b *NS, bName string, opt VethOptions) (Link, Link) {
	tb.Helper()
	nb, err := netns.GetFromName(b.Name)
	if err != nil {
		tb.Fatalf("netnstest: open %s: %v", b.Name, err)
	}
	defer nb.Close()
	la := netlink.NewLinkAttrs()
	la.Name = aName
	la.MTU = opt.MTU
	if la.MTU == 0 {
		la.MTU = 1500
	}
	if opt.Queues > 0 {
		la.NumTxQueues, la.NumRxQueues = opt.Queues, opt.Queues
	}
	veth := &netlink.Veth{LinkAttrs: la, PeerName: bName, PeerNamespace: netlink.NsFd(int(nb))}
	if opt.Queues > 0 {
		veth.PeerNumTxQueues, veth.PeerNumRxQueues = uint32(opt.Queues), uint32(opt.Queues)
	}
	ha := a.Netlink()
	if err := ha.LinkAdd(veth); err != nil {
		tb.Fatalf("netnstest: veth %s/%s: %v", aName, bName, err)
	}
	hb := b.Netlink()
	ends := [2]Link{}
	for i, e := range []struct {
		ns   *NS
		h    *netlink.Handle
		name string
	}{{a, ha, aName}, {b, hb, bName}} {
		l, err := e.h.LinkByName(e.name)
		if err != nil {
			tb.Fatalf("netnstest: %s: %v", e.name, err)
		}
		if l.Attrs().MTU != la.MTU {
			if err := e.h.LinkSetMTU(l, la.MTU); err != nil {
				tb.Fatalf("netnstest: %s mtu: %v", e.name, err)
			}
		}
		if !opt.Down {
			if err := e.h.LinkSetUp(l); err != nil {
				tb.Fatalf("netnstest: %s up: %v", e.name, err)
			}
		}
		ends[i] = Link{NS: e.ns, Name: e.name, Index: l.Attrs().Index}
		copy(ends[i].MAC[:], l.Attrs().HardwareAddr)
	}
	return ends[0], ends[1]
}

// AddAddr adds prefix (for example 198.18.0.1/24) to the link, without
// duplicate address detection for IPv6, and returns once it is usable.
func AddAddr(tb testing.TB, l Link, prefix netip.Prefix) {
	tb.Helper()
	h := l.NS.Netlink()
	link, err := h.LinkByIndex(l.Index)
	if err != nil {
		tb.Fatalf("netnstest: %s: %v", l.Name, err)
	}
	addr := &netlink.Addr{IPNet: netlinkPrefix(prefix)}
	if prefix.Addr().Is6() {
		addr.Flags = unix.IFA_F_NODAD
	}
	if err := h.AddrAdd(link, addr); err != nil {
		tb.Fatalf("netnstest: add %v to %s: %v", prefix, l.Name, err)
	}
	if !prefix.Addr().Is6() {
		return
	}
	// Even without DAD, the local route of an IPv6 address is added, and
	// packets to it delivered, only when addrconf's work queue (one for
	// all namespaces, busy while other namespaces are torn down) gets to
	// it.
	err = Eventually(10*time.Second, func() bool {
		routes, err := h.RouteGet(addr.IP)
		return err == nil && len(routes) > 0 && routes[0].Type == unix.RTN_LOCAL
	})
	if err != nil {
		tb.Fatalf("netnstest: %v on %s: no local route yet", prefix, l.Name)
	}
}

// AddNeighbor adds a permanent neighbor entry ip -> mac on the link, so
// that the kernel sends to ip without ARP or neighbor discovery.
func AddNeighbor(tb testing.TB, l Link, ip netip.Addr, mac [6]byte) {
	tb.Helper()
	h := l.NS.Netlink()
	n := &netlink.Neigh{
		LinkIndex:    l.Index,
		State:        netlink.NUD_PERMANENT,
		IP:           ip.AsSlice(),
		HardwareAddr: mac[:],
	}
	if ip.Is4() {
		n.Family = unix.AF_INET
	} else {
		n.Family = unix.AF_INET6
	}
	if err := h.NeighSet(n); err != nil {
		tb.Fatalf("netnstest: neighbor %v on %s: %v", ip, l.Name, err)
	}
}

// ErrTimeout is returned by Eventually when the condition stayed false.
var ErrTimeout = errors.New("netnstest: condition not met in time")

// Eventually polls cond every few milliseconds until it is true or the
// timeout passes. It is for kernel state that changes asynchronously (a
// detached program, a released queue), never for pacing traffic.
func Eventually(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return ErrTimeout
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func netlinkPrefix(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
