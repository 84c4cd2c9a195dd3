package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nfgo/nfgo/cmd/nfgo/internal/ctcmd"
	"github.com/nfgo/nfgo/cmd/nfgo/internal/rulesetfile"
	"github.com/nfgo/nfgo/ruleset"
)

// The control protocol: the client sends one request, a JSON line; the
// server answers with a stream of JSON lines (frames) and closes the
// connection after the last, which has End set. A client that closes the
// connection early ends a streaming command (conntrack -E, trace, capture).

// request is what the client asks.
type request struct {
	Cmd  string   `json:"cmd"`
	Args []string `json:"args,omitempty"`
	Name string   `json:"name,omitempty"` // file name, for errors
	Data []byte   `json:"data,omitempty"` // file contents
}

// frame is one piece of the answer.
type frame struct {
	Out  string `json:"out,omitempty"`  // text for standard output
	Err  string `json:"err,omitempty"`  // text for standard error
	Pkt  []byte `json:"pkt,omitempty"`  // a captured packet (raw IP)
	TS   int64  `json:"ts,omitempty"`   // its time, unix ns
	End  bool   `json:"end,omitempty"`  // the last frame
	Code int    `json:"code,omitempty"` // exit status, with End
}

// replier writes frames to one client. Writes are serialized.
type replier struct {
	mu  sync.Mutex
	enc *json.Encoder
	bw  *bufio.Writer
	err error
}

func (r *replier) send(f frame) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	if r.err = r.enc.Encode(f); r.err == nil {
		r.err = r.bw.Flush()
	}
	return r.err
}

// Write sends text for standard output, so that handlers can print to a
// replier.
func (r *replier) Write(b []byte) (int, error) {
	if err := r.send(frame{Out: string(b)}); err != nil {
		return 0, err
	}
	return len(b), nil
}

// errWriter sends text for standard error.
type errWriter struct{ r *replier }

func (w errWriter) Write(b []byte) (int, error) {
	if err := w.r.send(frame{Err: string(b)}); err != nil {
		return 0, err
	}
	return len(b), nil
}

// listenControl makes the control socket: owned by the user running nfgo
// and readable and writable by it alone (0600). A socket file left by an
// nfgo that died is replaced; one that answers is in use.
func listenControl(path string) (net.Listener, error) {
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s is in use: is another nfgo running?", path)
	}
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control socket %s exists and is not a socket", path)
		}
		os.Remove(path)
	}
	// The umask makes the socket 0600 from its creation; nothing else
	// runs yet that creates files.
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return ln, nil
}

// peerUID is the user id of the process at the other end of c.
func peerUID(c net.Conn) (uint32, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0, errors.New("not a unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, cerr
	}
	return cred.Uid, nil
}

// serveControl accepts control connections until ctx is done.
func (d *daemon) serveControl(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	go func() { <-ctx.Done(); d.ctl.Close() }()
	for {
		c, err := d.ctl.Accept()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				d.log.Warn("control: accept", "err", err)
			}
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.handleConn(ctx, c)
		}()
	}
}

func (d *daemon) handleConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	bw := bufio.NewWriter(c)
	r := &replier{enc: json.NewEncoder(bw), bw: bw}
	uid, err := peerUID(c)
	if err != nil || uid != uint32(os.Getuid()) {
		d.log.Warn("control: refused a connection from another user", "uid", uid, "err", err)
		// The request is read (and ignored) first, so that the client
		// has finished writing when it is told no.
		c.SetReadDeadline(time.Now().Add(time.Second))
		bufio.NewReaderSize(io.LimitReader(c, 1<<20), 4096).ReadBytes('\n')
		r.send(frame{Err: fmt.Sprintf("permission denied: this nfgo belongs to uid %d\n", os.Getuid()), End: true, Code: 1})
		return
	}
	br := bufio.NewReader(c)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return
	}
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		r.send(frame{Err: "bad request: " + err.Error() + "\n", End: true, Code: 2})
		return
	}
	// The client closing its end (or the daemon stopping) ends the
	// request's context: streaming commands watch it.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		io.Copy(io.Discard, br)
		cancel()
	}()
	code := d.dispatch(rctx, &req, r)
	r.send(frame{End: true, Code: code})
}

// dispatch runs one request and returns its exit status.
func (d *daemon) dispatch(ctx context.Context, req *request, r *replier) int {
	stderr := errWriter{r}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	switch req.Cmd {
	case "ruleset.list":
		fmt.Fprint(r, d.eng.Ruleset().String())
	case "ruleset.apply":
		if _, err := d.change(func(cur *ruleset.Ruleset) (*ruleset.Ruleset, error) {
			return rulesetfile.Apply(cur, req.Name, req.Data, false)
		}); err != nil {
			return fail(err)
		}
	case "ruleset.check":
		next, err := rulesetfile.Apply(d.eng.Ruleset(), req.Name, req.Data, false)
		if err == nil {
			err = d.dryRun(next)
		}
		if err != nil {
			return fail(err)
		}
	case "ruleset.flush":
		if _, err := d.change(func(cur *ruleset.Ruleset) (*ruleset.Ruleset, error) {
			return rulesetfile.Apply(cur, "flush", []byte("flush ruleset\n"), false)
		}); err != nil {
			return fail(err)
		}
	case "conntrack":
		if d.ct == nil {
			return fail(errors.New("connection tracking is off in this nfgo (conntrack.enabled: false)"))
		}
		return ctcmd.Run(ctx, d.ct, d.events, d.cfg.Conntrack.Accounting, req.Args, r, stderr)
	case "counters":
		writeCounters(r, d.eng.Ruleset())
	case "stats":
		d.writeStats(r)
	case "trace":
		return d.trace.serve(ctx, req.Args, r, stderr)
	case "capture":
		return d.serveCapture(ctx, req.Args, r, stderr)
	default:
		return fail(fmt.Errorf("unknown request %q", req.Cmd))
	}
	return 0
}
