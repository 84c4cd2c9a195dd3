package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nfgo/nfgo/engine"
	"github.com/nfgo/nfgo/internal/netnstest"
	"github.com/nfgo/nfgo/io/afxdp"
)

// nfgo runs as a separate process (this test binary as a child) routing
// between the client and the server over AF_XDP; the test kills it with
// SIGKILL, so that no deferred call or cleanup of its own runs, and then
// checks with netlink that the kernel took its XDP programs off both
// interfaces, and that the interfaces carry traffic again (the router's
// kernel takes over and forwards a ping).
func TestKilledRouterLeavesNoXDPProgram(t *testing.T) {
	requireXDP(t)
	for _, mode := range []afxdp.AttachMode{afxdp.ModeNative, afxdp.ModeGeneric} {
		t.Run(mode.String(), func(t *testing.T) {
			tp := newTopo(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			args := url.Values{"ns": {tp.router.Name}, "mode": {strconv.Itoa(int(mode))}}
			cmd := exec.CommandContext(ctx, os.Args[0])
			cmd.Env = append(os.Environ(), childEnv+"=router:"+args.Encode())
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			line := make(chan string, 1)
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					if l := sc.Text(); strings.HasPrefix(l, "child:") {
						line <- l
						return
					}
				}
				line <- "child: exited"
			}()
			select {
			case l := <-line:
				if !strings.HasPrefix(l, "child: routing") {
					t.Fatalf("router child: %s", l)
				}
				t.Log(l)
			case <-time.After(20 * time.Second):
				t.Fatal("router child silent for 20s")
			}
			for _, l := range []netnstest.Link{tp.r0, tp.r1} {
				if netnstest.XDPProgID(t, l) == 0 {
					t.Fatalf("no XDP program on %s while the router runs", l.Name)
				}
			}
			ping(t, tp.client, serverAddr4, 2) // the child routes

			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			err = cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("router child ended with %v, want SIGKILL", err)
			}
			for _, l := range []netnstest.Link{tp.r0, tp.r1} {
				if err := netnstest.Eventually(5*time.Second, func() bool { return netnstest.XDPProgID(t, l) == 0 }); err != nil {
					t.Fatalf("XDP program %d still on %s after the router was killed", netnstest.XDPProgID(t, l), l.Name)
				}
			}

			// The interfaces are the kernel's again: it forwards once
			// it has the addresses and forwarding on.
			netnstest.AddAddr(t, tp.r0, routerLAN4)
			netnstest.AddAddr(t, tp.r1, routerWAN4)
			netnstest.Sysctl(t, tp.router, "net.ipv4.ip_forward", "1")
			ping(t, tp.client, serverAddr4, 2)
		})
	}
}

// routerChild is the router the SIGKILL test kills: an engine on AF_XDP
// ports on r0 and r1 of the router namespace. It runs until it is killed,
// or for a minute at most.
func routerChild(spec string) error {
	args, err := url.ParseQuery(spec)
	if err != nil {
		return err
	}
	mode, err := strconv.Atoi(args.Get("mode"))
	if err != nil {
		return err
	}
	if err := netnstest.EnterNamed(args.Get("ns")); err != nil {
		return err
	}
	e := engine.New(engine.Options{})
	for _, c := range []struct {
		name  string
		addrs []netip.Prefix
	}{
		{"r0", []netip.Prefix{routerLAN4, routerLAN6}},
		{"r1", []netip.Prefix{routerWAN4, routerWAN6}},
	} {
		p, err := afxdp.New(afxdp.Options{Interface: c.name, Queues: 1, Mode: afxdp.AttachMode(mode)})
		if err != nil {
			return err
		}
		if _, err := e.AddPort(p, engine.PortConfig{Addrs: c.addrs}); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fmt.Println("child: routing")
	return e.Run(ctx)
}
