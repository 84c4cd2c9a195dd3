package afxdp

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nfgo/nfgo/internal/netnstest"
)

// xdpProgID is the ID of the XDP program attached to l, or 0.
func xdpProgID(t testing.TB, l netnstest.Link) uint32 {
	t.Helper()
	link, err := l.NS.Netlink().LinkByIndex(l.Index)
	if err != nil {
		t.Fatalf("link %s: %v", l.Name, err)
	}
	if x := link.Attrs().Xdp; x != nil && x.Attached {
		return x.ProgId
	}
	return 0
}

// passesToKernel reports whether a frame sent from the peer reaches the
// kernel's stack on the xdp end (an AF_PACKET socket there sees it).
func passesToKernel(t *testing.T, v vethPair, seq int) bool {
	t.Helper()
	onXDP := openRaw(t, v.xdp)
	peer := openRaw(t, v.peer)
	f := testFrame(v.xdp.MAC, v.peer.MAC, rxTag, seq, 64)
	if err := peer.send(f); err != nil {
		t.Fatalf("send: %v", err)
	}
	buf := make([]byte, 2048)
	for range 10 {
		g := onXDP.recv(buf)
		if g == nil {
			return false
		}
		if frameSeq(g, rxTag) == seq {
			return true
		}
	}
	return false
}

func TestCloseDetachesProgramAndFramesGoToTheKernel(t *testing.T) {
	for _, mode := range []AttachMode{ModeNative, ModeGeneric} {
		t.Run(mode.String(), func(t *testing.T) {
			v := newVethPair(t)
			p := openPort(t, v, Options{Mode: mode})
			if xdpProgID(t, v.xdp) == 0 {
				t.Fatal("no XDP program on the interface while the port is open")
			}
			if passesToKernel(t, v, 1) {
				t.Fatal("a frame reached the kernel's stack past an open port")
			}
			if err := p.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if id := xdpProgID(t, v.xdp); id != 0 {
				t.Fatalf("XDP program %d still attached after Close", id)
			}
			if !passesToKernel(t, v, 2) {
				t.Fatal("after Close, a frame did not reach the kernel's stack")
			}
			pkts := newPackets(1)
			if _, err := p.ReadBatch(0, pkts); !errors.Is(err, ErrClosed) {
				t.Errorf("ReadBatch after Close: %v, want ErrClosed", err)
			}
			if _, err := p.WriteBatch(0, pkts); !errors.Is(err, ErrClosed) {
				t.Errorf("WriteBatch after Close: %v, want ErrClosed", err)
			}
			if err := p.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

// A queue with no socket in the map passes its frames to the kernel.
func TestProgramPassesFramesOfQueuesWithoutSocket(t *testing.T) {
	v := newVethPair(t)
	var s *steering
	if err := v.ns.Do(func() (err error) { s, err = newSteering(v.xdp.Index, 1, ModeNative); return err }); err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if xdpProgID(t, v.xdp) == 0 {
		t.Fatal("program not attached")
	}
	if !passesToKernel(t, v, 3) {
		t.Fatal("a frame of a queue without a socket did not reach the kernel's stack")
	}
}

// A blocked ReadBatch returns when another goroutine closes the port.
func TestCloseEndsAWaitingReadBatch(t *testing.T) {
	v := newVethPair(t)
	p := openPort(t, v, Options{})
	done := make(chan error, 1)
	go func() {
		pkts := newPackets(8)
		for range 100 { // at most ~10 s
			if _, err := p.ReadBatch(0, pkts); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("reader ended with %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reader still running 5s after Close")
	}
}

const crashChildEnv = "NFGO_AFXDP_CRASH_CHILD"

// The test binary runs itself as a child that opens a port and then
// SIGKILLs itself; the kernel must take the XDP program off with it.
func TestProgramDetachedWhenProcessIsKilled(t *testing.T) {
	if spec := os.Getenv(crashChildEnv); spec != "" {
		crashChild(spec)
		return
	}
	for _, mode := range []AttachMode{ModeNative, ModeGeneric} {
		t.Run(mode.String(), func(t *testing.T) {
			v := newVethPair(t)
			cmd := exec.Command(os.Args[0], "-test.run=^TestProgramDetachedWhenProcessIsKilled$", "-test.count=1")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%s,%d", crashChildEnv, v.ns.Name, v.xdp.Name, mode))
			cmd.Stderr = os.Stderr
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill() })
			line := make(chan string, 1)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					if l := sc.Text(); strings.HasPrefix(l, "child:") {
						line <- l
						return
					}
				}
				line <- "child: no output"
			}()
			select {
			case l := <-line:
				if !strings.HasPrefix(l, "child: attached") {
					t.Fatalf("child did not attach: %s", l)
				}
				t.Log(l)
			case <-time.After(20 * time.Second):
				t.Fatal("child silent for 20s")
			}
			if xdpProgID(t, v.xdp) == 0 {
				t.Fatal("the child's program is not attached")
			}
			stdin.Write([]byte("go\n"))
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child ended with %v, want SIGKILL", err)
			}
			if err := netnstest.Eventually(5*time.Second, func() bool { return xdpProgID(t, v.xdp) == 0 }); err != nil {
				t.Fatalf("XDP program %d still attached after the process died", xdpProgID(t, v.xdp))
			}
			if !passesToKernel(t, v, 4) {
				t.Fatal("after the crash, a frame did not reach the kernel's stack")
			}
		})
	}
}

func crashChild(spec string) {
	var ns, ifname string
	var mode AttachMode
	parts := strings.Split(spec, ",")
	if len(parts) == 3 {
		ns, ifname = parts[0], parts[1]
		fmt.Sscan(parts[2], &mode)
	}
	if err := netnstest.EnterNamed(ns); err != nil {
		fmt.Println("child: error:", err)
		os.Exit(2)
	}
	p, err := New(Options{Interface: ifname, Mode: mode})
	if err != nil {
		fmt.Println("child: error:", err)
		os.Exit(2)
	}
	fmt.Println("child: attached", p.Mode())
	bufio.NewReader(os.Stdin).ReadString('\n')
	unix.Kill(os.Getpid(), unix.SIGKILL)
	select {}
}

// A bind on a queue another socket holds fails with EBUSY after bounded
// retries, and succeeds once the holder lets go during the retries.
func TestBindRetriesWhileTheQueueIsBusy(t *testing.T) {
	v := newVethPair(t)
	cfg := socketConfig{frameSize: 2048, numFrames: 64, bindFlags: unix.XDP_COPY, bindTimeout: 30 * time.Millisecond}
	var holder *socket
	err := v.ns.Do(func() (err error) { holder, _, err = openSocket(v.xdp.Index, 0, cfg); return err })
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if holder != nil {
			holder.close()
		}
	}()

	var attempts int
	err = v.ns.Do(func() (err error) {
		var s *socket
		s, attempts, err = openSocket(v.xdp.Index, 0, cfg)
		if s != nil {
			s.close()
		}
		return err
	})
	if !errors.Is(err, unix.EBUSY) || attempts < 2 {
		t.Fatalf("bind on a held queue: %v after %d attempts, want EBUSY after retries", err, attempts)
	}

	cfg.bindTimeout = 5 * time.Second
	busy := 0
	cfg.onBusy = func(int) {
		busy++
		if busy == 1 {
			holder.close()
			holder = nil
		}
	}
	err = v.ns.Do(func() (err error) {
		var s *socket
		s, attempts, err = openSocket(v.xdp.Index, 0, cfg)
		if s != nil {
			s.close()
		}
		return err
	})
	if err != nil || attempts < 2 {
		t.Fatalf("bind after the holder closed: %v after %d attempts, want success after a retry", err, attempts)
	}
	t.Logf("bound after %d attempts", attempts)
}

// Closing a port and opening one at once on the same queues works: the
// kernel's deferred release of the old socket is waited out.
func TestPortReopensRightAfterClose(t *testing.T) {
	v := newVethPair(t)
	for i := range 10 {
		var p *Port
		opts := Options{Interface: v.xdp.Name, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))}
		if err := v.ns.Do(func() (err error) { p, err = New(opts); return err }); err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if err := p.Close(); err != nil {
			t.Fatalf("close %d: %v", i, err)
		}
	}
}
