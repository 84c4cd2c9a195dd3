package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/nfgo/nfgo/internal/ethtool"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// demoNet is the demo's three network namespaces and two veth pairs:
//
//	client ns              router ns (nfgo)               server ns
//	c0 198.18.0.2/24 ── r0 198.18.0.1/24   r1 198.18.1.1/24 ── s0 198.18.1.2/24
//	   2001:db8::2/64      2001:db8::1/64     2001:db8:1::1/64    2001:db8:1::2/64
//
// The router's veth ends have no addresses in its kernel, which does not
// forward: nfgo owns them through AF_XDP.
type demoNet struct {
	client, router, server string
	made                   []string
}

// ip runs the ip command.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func newDemoNet() (*demoNet, error) {
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, errors.New("the ip command (iproute2) is needed to build the namespaces")
	}
	pfx := fmt.Sprintf("nfgo-demo-%d-", os.Getpid())
	n := &demoNet{client: pfx + "client", router: pfx + "router", server: pfx + "server"}
	steps := [][]string{}
	for _, ns := range []string{n.client, n.router, n.server} {
		if err := ip("netns", "add", ns); err != nil {
			n.teardown()
			return nil, err
		}
		n.made = append(n.made, ns)
		steps = append(steps, []string{"-n", ns, "link", "set", "lo", "up"})
	}
	steps = append(steps,
		[]string{"-n", n.client, "link", "add", "c0", "numtxqueues", "1", "numrxqueues", "1", "type", "veth", "peer", "name", "r0", "netns", n.router, "numtxqueues", "1", "numrxqueues", "1"},
		[]string{"-n", n.server, "link", "add", "s0", "numtxqueues", "1", "numrxqueues", "1", "type", "veth", "peer", "name", "r1", "netns", n.router, "numtxqueues", "1", "numrxqueues", "1"},
		[]string{"-n", n.client, "addr", "add", "198.18.0.2/24", "dev", "c0"},
		[]string{"-n", n.client, "addr", "add", "2001:db8::2/64", "dev", "c0", "nodad"},
		[]string{"-n", n.server, "addr", "add", "198.18.1.2/24", "dev", "s0"},
		[]string{"-n", n.server, "addr", "add", "2001:db8:1::2/64", "dev", "s0", "nodad"},
		[]string{"-n", n.client, "link", "set", "c0", "up"},
		[]string{"-n", n.server, "link", "set", "s0", "up"},
		[]string{"-n", n.router, "link", "set", "r0", "up"},
		[]string{"-n", n.router, "link", "set", "r1", "up"},
		[]string{"-n", n.client, "route", "add", "default", "via", "198.18.0.1"},
		[]string{"-n", n.client, "-6", "route", "add", "default", "via", "2001:db8::1"},
		[]string{"-n", n.server, "route", "add", "default", "via", "198.18.1.1"},
		[]string{"-n", n.server, "-6", "route", "add", "default", "via", "2001:db8:1::1"},
	)
	for _, s := range steps {
		if err := ip(s...); err != nil {
			n.teardown()
			return nil, err
		}
	}
	// The router's kernel keeps out of the way; the hosts' kernels fill in
	// checksums themselves (a veth with TX checksum offload hands XDP
	// frames with only the pseudo-header sum in them).
	err := errors.Join(
		sysctlIn(n.router, "net.ipv4.ip_forward", "0"),
		sysctlIn(n.router, "net.ipv6.conf.r0.disable_ipv6", "1"),
		sysctlIn(n.router, "net.ipv6.conf.r1.disable_ipv6", "1"),
		inNS(n.client, func() error { return ethtool.TxChecksumOff("c0") }),
		inNS(n.server, func() error { return ethtool.TxChecksumOff("s0") }),
	)
	if err != nil {
		n.teardown()
		return nil, err
	}
	return n, nil
}

// teardown deletes the namespaces, and with them the veth pairs.
func (n *demoNet) teardown() {
	for _, ns := range n.made {
		ip("netns", "del", ns)
	}
	n.made = nil
}

// inNS runs f on an OS thread inside namespace name. Sockets f opens stay
// in it. The thread is never given back to the runtime's pool.
func inNS(name string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		h, err := netns.GetFromName(name)
		if err != nil {
			errc <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- err
			return
		}
		errc <- f()
	}()
	return <-errc
}

func sysctlIn(ns, key, value string) error {
	path := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	return inNS(ns, func() error { return os.WriteFile(path, []byte(value), 0) })
}

// hasAFXDP reports whether the kernel has AF_XDP sockets.
func hasAFXDP() bool {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}
