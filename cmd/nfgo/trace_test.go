package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nfgo/nfgo/cmd/nfgo/internal/config"
	"github.com/nfgo/nfgo/cmd/nfgo/internal/rulesetfile"
	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/engine"
	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/io/memio"
	"github.com/nfgo/nfgo/ruleset"
)

// memDaemon is a daemon over in-memory ports, for the commands that need
// packets flowing while they run (trace, capture). Its ports carry raw
// IP packets.
type memDaemon struct {
	d         *daemon
	lanPeer   *memio.Port
	wanPeer   *memio.Port
	cancelRun func()
}

func newMemDaemon(t *testing.T) *memDaemon {
	t.Helper()
	lan, lanPeer := memio.Pair("lan0", "lan-peer", memio.Options{})
	wan, wanPeer := memio.Pair("wan0", "wan-peer", memio.Options{})
	ct := conntrack.New(conntrack.Options{Max: 1024})
	t.Cleanup(ct.Close)
	e := engine.New(engine.Options{Conntrack: ct})
	if _, err := e.AddPort(lan, engine.PortConfig{Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddPort(wan, engine.PortConfig{Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.1.1/24")}}); err != nil {
		t.Fatal(err)
	}
	rs, err := rulesetfile.Load(ruleset.New(ruleset.Options{}), "testdata/replay/fw.nft", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := rulesetfile.Install(e, rs); err != nil {
		t.Fatal(err)
	}
	d := &daemon{eng: e, ct: ct, cfg: &config.Config{}, trace: newTraceHub(e, ct)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &memDaemon{d: d, lanPeer: lanPeer, wanPeer: wanPeer, cancelRun: cancel}
}

// serveReq runs one control request against the daemon in-process and
// returns its frames once it ends (or ctx is done).
func serveReq(ctx context.Context, d *daemon, req request) []frame {
	var buf bytes.Buffer
	var mu sync.Mutex
	w := &lockedWriter{w: &buf, mu: &mu}
	bw := bufio.NewWriter(w)
	r := &replier{enc: json.NewEncoder(bw), bw: bw}
	code := d.dispatch(ctx, &req, r)
	r.send(frame{End: true, Code: code})
	mu.Lock()
	defer mu.Unlock()
	var out []frame
	dec := json.NewDecoder(&buf)
	for {
		var f frame
		if err := dec.Decode(&f); err != nil {
			return out
		}
		out = append(out, f)
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func TestTracePrintsTheWayOfMatchingPacketsOnly(t *testing.T) {
	m := newMemDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res := make(chan []frame, 1)
	go func() { res <- serveReq(ctx, m.d, request{Cmd: "trace", Args: []string{"tcp dport 22", "1"}}) }()
	// Wait for the session, then send a packet it ignores and one it takes.
	waitFor(t, func() bool { m.d.trace.mu.Lock(); defer m.d.trace.mu.Unlock(); return len(m.d.trace.subs) == 1 }, "the trace session")
	m.lanPeer.Send(0, pktbuild.UDP4(ap(client4, 5353), ap(server4, 53), nil))
	m.lanPeer.Send(0, pktbuild.TCP4(ap(client4, 40001), ap(server4, 22), 0x02, 1, 0, nil))
	var out strings.Builder
	for _, f := range <-res {
		out.WriteString(f.Out)
	}
	text := out.String()
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) != 4 {
		t.Fatalf("trace:\n%s\nwant 4 lines: the packet, the forward hook, the policy, the drop", text)
	}
	for i, want := range []string{
		"ip prerouting packet: iif \"lan0\" ip saddr 198.18.0.2 ip daddr 198.18.1.2",
		"ip forward",
		"inet filter forward policy drop",
		"drop reason hook-drop ct state new",
	} {
		if !strings.HasPrefix(lines[i], "trace id ") || !strings.Contains(lines[i], want) {
			t.Errorf("line %d: %q, want it to contain %q", i+1, lines[i], want)
		}
	}
	if strings.Contains(text, "udp") {
		t.Errorf("the DNS packet was traced:\n%s", text)
	}
}

func TestTraceRefusesAnExpressionThatIsNotAMatch(t *testing.T) {
	for _, expr := range []string{"meta mark set 1", "tcp dport", "counter"} {
		if _, err := compileSelector(expr); err == nil {
			t.Errorf("%q: no error", expr)
		}
	}
	r := nfgo(t, "trace", "-s", "/nonexistent", "tcp dport 99999")
	if r.code == 0 || !strings.Contains(r.stderr, "trace expression") {
		t.Errorf("a bad expression: %+v", r)
	}
}

func TestCaptureWritesThePacketsAtAHook(t *testing.T) {
	m := newMemDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res := make(chan []frame, 1)
	// Forward at priority last sees only what the filter accepted.
	go func() {
		res <- serveReq(ctx, m.d, request{Cmd: "capture", Args: []string{"forward", "wan0", "last", "2"}})
	}()
	waitFor(t, func() bool { return m.d.eng.Hooks().List(2, 2).Len() > 1 }, "the capture hook")
	m.lanPeer.Send(0,
		pktbuild.TCP4(ap(client4, 40001), ap(server4, 22), 0x02, 1, 0, nil), // dropped
		pktbuild.UDP4(ap(client4, 5353), ap(server4, 53), []byte("q")),
		pktbuild.TCP4(ap(client4, 40000), ap(server4, 80), 0x02, 1, 0, nil))
	var pkts []frame
	for _, f := range <-res {
		if f.Pkt != nil {
			pkts = append(pkts, f)
		}
	}
	if len(pkts) != 2 {
		t.Fatalf("%d packets captured, want the 2 the filter let through", len(pkts))
	}
	if pkts[0].Pkt[9] != 17 || pkts[1].Pkt[9] != 6 {
		t.Errorf("captured protocols %d, %d; want udp then tcp", pkts[0].Pkt[9], pkts[1].Pkt[9])
	}
	if m.d.eng.Hooks().List(2, 2).Len() != 1 {
		t.Error("the capture hook is still registered")
	}
}
