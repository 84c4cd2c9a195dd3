package netnstest

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Sysctl sets the network sysctl key (as `sysctl -w`, for example
// "net.ipv4.ip_forward") to value inside ns. Network sysctls are per
// namespace: the write goes through a thread that has entered ns.
func Sysctl(tb testing.TB, ns *NS, key, value string) {
	tb.Helper()
	path := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	if err := ns.Do(func() error { return os.WriteFile(path, []byte(value), 0) }); err != nil {
		tb.Fatalf("netnstest: %s: sysctl %s=%s: %v", ns.Name, key, value, err)
	}
}

// ReadSysctl returns the value of the network sysctl key inside ns.
func ReadSysctl(tb testing.TB, ns *NS, key string) string {
	tb.Helper()
	path := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	var b []byte
	if err := ns.Do(func() (err error) { b, err = os.ReadFile(path); return err }); err != nil {
		tb.Fatalf("netnstest: %s: read sysctl %s: %v", ns.Name, key, err)
	}
	return strings.TrimSpace(string(b))
}

// AddRoute adds a route to dst through gateway gw on the link, as
// `ip route add DST via GW dev LINK`; an invalid gw makes it on-link.
func AddRoute(tb testing.TB, l Link, dst netip.Prefix, gw netip.Addr) {
	tb.Helper()
	r := &netlink.Route{LinkIndex: l.Index, Dst: netlinkPrefix(dst)}
	if gw.IsValid() {
		r.Gw = gw.AsSlice()
	} else {
		r.Scope = netlink.SCOPE_LINK
	}
	if err := l.NS.Netlink().RouteAdd(r); err != nil {
		tb.Fatalf("netnstest: %s: route %v via %v: %v", l.Name, dst, gw, err)
	}
}

// LinkByName returns the link called name in ns (a TUN device a port
// created, say).
func LinkByName(tb testing.TB, ns *NS, name string) Link {
	tb.Helper()
	l, err := ns.Netlink().LinkByName(name)
	if err != nil {
		tb.Fatalf("netnstest: %s: link %s: %v", ns.Name, name, err)
	}
	out := Link{NS: ns, Name: name, Index: l.Attrs().Index}
	copy(out.MAC[:], l.Attrs().HardwareAddr)
	return out
}

// XDPProgID is the ID of the XDP program attached to the link, or 0.
func XDPProgID(tb testing.TB, l Link) uint32 {
	tb.Helper()
	link, err := l.NS.Netlink().LinkByIndex(l.Index)
	if err != nil {
		tb.Fatalf("netnstest: link %s: %v", l.Name, err)
	}
	if x := link.Attrs().Xdp; x != nil && x.Attached {
		return x.ProgId
	}
	return 0
}

// HasAFXDP reports whether the kernel can create AF_XDP sockets.
func HasAFXDP() bool {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}
