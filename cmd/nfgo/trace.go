package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nfgo/nfgo/cmd/nfgo/internal/pktdesc"
	"github.com/nfgo/nfgo/cmd/nfgo/internal/ruleindex"
	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/engine"
	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/ruleset"
)

const traceUsage = `usage: nfgo trace [-s SOCKET] [-c COUNT] [EXPR]

Prints the way of each packet that matches EXPR, a match in nft syntax
("tcp dport 22", "ip saddr 198.18.0.0/24 udp dport 53"), as nft monitor
trace does: the hooks it enters, the rule or policy that decides it in
each base chain, and where it ends. Without EXPR every packet is traced.
EXPR sees the packet as it enters the engine: its headers and input
interface, not yet its output interface or connection state.`

func cmdTrace(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("trace", stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, traceUsage); fs.PrintDefaults() }
	sock := fs.String("s", "", "control socket")
	count := fs.Int("c", 0, "stop after COUNT packets (0: until interrupted)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	expr := strings.Join(fs.Args(), " ")
	if expr != "" {
		if _, err := compileSelector(expr); err != nil {
			return err
		}
	}
	return call(socketPath(*sock), request{Cmd: "trace", Args: []string{expr, strconv.Itoa(*count)}}, stdout, stderr, nil)
}

// selector is a trace selection: a one-rule chain whose rule is the
// user's match expression with accept, evaluated on every packet.
type selector struct {
	rs    *ruleset.Ruleset
	chain int
}

// compileSelector parses a match expression with the ruleset parser.
func compileSelector(expr string) (*selector, error) {
	src := "table inet nfgo_trace {\n\tchain select {\n\t\ttype filter hook prerouting priority 0; policy drop;\n\t\t" +
		expr + " accept\n\t}\n}\n"
	cmds, err := ruleset.Parse("trace expression", []byte(src), ruleset.ParseOptions{})
	if err != nil {
		return nil, traceExprErr(err)
	}
	rs, err := ruleset.New(ruleset.Options{}).Apply(cmds)
	if err != nil {
		return nil, traceExprErr(err)
	}
	for _, t := range rs.Tables() {
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				for _, s := range r.Stmts[:len(r.Stmts)-1] {
					if _, ok := s.(*ruleset.Match); !ok {
						return nil, fmt.Errorf("trace expression: %q is not a match; only matches select packets", ruleset.StmtString(s))
					}
				}
			}
		}
	}
	return &selector{rs: rs, chain: rs.BaseChains()[0].ID}, nil
}

// traceExprErr points at the column in the user's expression.
func traceExprErr(err error) error {
	if e, ok := err.(*ruleset.Error); ok && e.Pos.Line == 4 {
		return fmt.Errorf("trace expression, column %d: %s", e.Pos.Col-2, e.Msg)
	}
	return fmt.Errorf("trace expression: %w", err)
}

// selEnv is what the selector's evaluation asks of the engine.
type selEnv struct {
	e  *engine.Engine
	ct *conntrack.Table
}

func (s selEnv) IfName(i uint32) string                 { return s.e.IfName(i) }
func (s selEnv) AddrType(a netip.Addr) ruleset.AddrType { return s.e.AddrType(a) }
func (s selEnv) CTMark(slot uint32) uint32              { return s.ct.Mark(slot) }
func (s selEnv) SetCTMark(slot, mark uint32)            {}
func (s selEnv) CTStatus(slot uint32) uint32            { return uint32(s.ct.Status(slot)) }
func (s selEnv) CTID(slot uint32) uint64                { return s.ct.ID(slot) }
func (sel *selector) match(p *packet.Packet, env ruleset.Env) bool {
	return sel.rs.Eval(sel.chain, p, env).Verdict == ruleset.NFAccept
}

// traceHub is the engine's one tracer, shared by every trace session.
type traceHub struct {
	e    *engine.Engine
	env  selEnv
	mu   sync.Mutex
	subs map[*traceSub]struct{}
	live map[*packet.Packet][]traced // packets on their way, by session
	ix   *ruleindex.Index
}

type traced struct {
	sub   *traceSub
	id    uint32
	first bool // no hook reported yet
}

type traceSub struct {
	sel      *selector
	lines    chan string
	max      int // packets to trace; 0: no limit
	selected int
	ended    int
	lost     int
}

func newTraceHub(e *engine.Engine, ct *conntrack.Table) *traceHub {
	return &traceHub{e: e, env: selEnv{e, ct}, subs: map[*traceSub]struct{}{}, live: map[*packet.Packet][]traced{},
		ix: ruleindex.New(e.Ruleset())}
}

func (h *traceHub) setRuleset(rs *ruleset.Ruleset) {
	h.mu.Lock()
	h.ix = ruleindex.New(rs)
	h.mu.Unlock()
}

func (h *traceHub) stop() {
	h.e.SetTracer(nil)
}

func (h *traceHub) add(s *traceSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[s] = struct{}{}
	if len(h.subs) == 1 {
		h.e.SetTracer(&engine.Tracer{Select: h.selectPkt, Event: h.event})
	}
}

func (h *traceHub) remove(s *traceSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
	if len(h.subs) == 0 {
		h.e.SetTracer(nil)
		clear(h.live)
	}
}

// selectPkt runs on the workers for every packet while anyone traces.
func (h *traceHub) selectPkt(p *packet.Packet) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.live, p) // a packet buffer reused for a new packet
	var ts []traced
	for s := range h.subs {
		if s.max > 0 && s.selected >= s.max {
			continue
		}
		if s.sel == nil || s.sel.match(p, h.env) {
			s.selected++
			ts = append(ts, traced{sub: s, id: rand.Uint32(), first: true})
		}
	}
	if len(ts) == 0 {
		return false
	}
	h.live[p] = ts
	return true
}

// event formats one event for each session tracing the packet. It must
// not block: a session that does not keep up loses lines.
func (h *traceHub) event(ev *engine.TraceEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ts := h.live[ev.Packet]
	if len(ts) == 0 {
		return
	}
	end := false
	var line string
	p := ev.Packet
	switch ev.Kind {
	case engine.TraceHook:
	case engine.TraceRule:
		st := h.ix.Step(ev)
		if st.Policy {
			line = fmt.Sprintf("%s %s %s policy %s", st.Family, st.Table, st.Chain, st.Verdict)
		} else {
			line = fmt.Sprintf("%s %s %s rule %s (verdict %s)", st.Family, st.Table, st.Chain, st.Rule, st.Verdict)
		}
	case engine.TraceTransmit:
		line, end = fmt.Sprintf("transmit oif %q", h.e.IfName(p.OutIf)), true
	case engine.TraceDeliver:
		line, end = "deliver", true
	case engine.TraceDrop:
		line, end = "drop reason "+ev.Reason.String(), true
	case engine.TraceStolen:
		line, end = "stolen", true
	case engine.TraceQueue:
		line, end = fmt.Sprintf("queue num %d", ev.QueueNum), true
	}
	for i := range ts {
		t := &ts[i]
		l := line
		if ev.Kind == engine.TraceHook {
			if t.first {
				l = fmt.Sprintf("%s %s packet: %s", p.Family, ev.Hook, pktdesc.NFTPacket(p, h.e.IfName))
				t.first = false
			} else {
				l = fmt.Sprintf("%s %s", p.Family, ev.Hook)
			}
		}
		if end && p.CT != 0 {
			l += " ct state " + conntrack.CTInfo(p.CTInfo).String()
		}
		select {
		case t.sub.lines <- fmt.Sprintf("trace id %08x %s\n", t.id, l):
		default:
			t.sub.lost++
		}
		if end {
			t.sub.ended++
		}
	}
	if end {
		delete(h.live, p)
	}
}

// serve streams one session's lines to a client until it goes away or
// has its count.
func (h *traceHub) serve(ctx context.Context, args []string, out, errOut io.Writer) int {
	s := &traceSub{lines: make(chan string, 4096)}
	if len(args) > 0 && args[0] != "" {
		sel, err := compileSelector(args[0])
		if err != nil {
			fmt.Fprintln(errOut, err)
			return 2
		}
		s.sel = sel
	}
	if len(args) > 1 {
		s.max, _ = strconv.Atoi(args[1])
	}
	h.add(s)
	defer h.remove(s)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var doneAt time.Time
	for {
		select {
		case <-ctx.Done():
			return 0
		case l := <-s.lines:
			if _, err := io.WriteString(out, l); err != nil {
				return 0
			}
		case <-tick.C:
			h.mu.Lock()
			full := s.max > 0 && s.selected >= s.max
			finished := full && s.ended >= s.selected
			lost := s.lost
			h.mu.Unlock()
			if full && doneAt.IsZero() {
				doneAt = time.Now()
			}
			// A packet answered by the engine itself (an echo request)
			// or held for reassembly has no end event: give up on it
			// after a second.
			if finished || full && time.Since(doneAt) > time.Second {
				for len(s.lines) > 0 {
					io.WriteString(out, <-s.lines)
				}
				if lost > 0 {
					fmt.Fprintf(errOut, "nfgo trace: %d lines lost (the trace went faster than it was read)\n", lost)
				}
				return 0
			}
		}
	}
}
