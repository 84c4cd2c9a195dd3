package replay

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"sort"
	"strings"

	"github.com/nfgo/nfgo/cmd/nfgo/internal/config"
	"github.com/nfgo/nfgo/cmd/nfgo/internal/exitcode"
	"github.com/nfgo/nfgo/cmd/nfgo/internal/ruleindex"
	"github.com/nfgo/nfgo/cmd/nfgo/internal/rulesetfile"
	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/engine"
	"github.com/nfgo/nfgo/io/pcapio"
	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/ruleset"
)

// listFlag is a flag that may be given more than once.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

const replayUsage = `usage: nfgo replay -r RULES.nft -i IN.pcap [-o OUT.pcap] [--json FILE|-] [options]

Runs every packet of a capture through the engine, with the ruleset and
connection tracking, offline and without root. Packets that leave the
engine are written to OUT.pcap (raw IP), and --json writes one line per
input packet: the hooks it walked, each base chain's decision, the rule
that decided, the verdict, where it went, its connection's state, and the
translation applied when the connection has one.

By default the capture enters by interface lan0 and everything is routed
out of wan0 (0.0.0.0/0 and ::/0); the engine has no addresses, so every
packet is forwarded. --addr, --route, --in-if and --out-if change that,
and -c takes a config (nfgo.yaml) whose interfaces use the pcap backend.
Link headers are taken off: rules see IP packets.

options:
`

// replayIface is one interface of a replay.
type replayIface struct {
	name  string
	in    string
	out   string
	addrs []netip.Prefix
	mtu   int
}

// Main runs nfgo replay with the arguments that follow "replay". A wrong
// command line is an error wrapping exitcode.ErrUsage, or an
// *exitcode.Error with status 2 when the flag package has said what is
// wrong.
func Main(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, replayUsage); fs.PrintDefaults() }
	rulesFile := fs.String("r", "", "the ruleset, in nft syntax (none: accept everything)")
	inFile := fs.String("i", "", "the capture to replay (pcap or pcapng)")
	outFile := fs.String("o", "", "where packets that leave the engine are written (pcap, raw IP)")
	jsonOut := fs.String("json", "", "write a JSON line per input packet to FILE, or - for standard output")
	cfgFile := fs.String("c", "", "a config whose interfaces use the pcap backend, instead of the flags below")
	inIf := fs.String("in-if", "lan0", "the interface the capture enters by")
	outIf := fs.String("out-if", "wan0", "the interface of the default routes")
	mtu := fs.Int("mtu", 1500, "MTU of the interfaces")
	noCT := fs.Bool("no-conntrack", false, "turn connection tracking off")
	listRules := fs.Bool("list", false, "print the ruleset with its counters after the replay")
	progress := fs.String("progress", "auto", "progress bar on standard error: auto (on a terminal), always or never")
	verbose := fs.Bool("v", false, "engine logs on standard error")
	var addrs, routes listFlag
	fs.Var(&addrs, "addr", "IF=PREFIX: give the engine an address (repeatable), e.g. lan0=198.18.0.1/24")
	fs.Var(&routes, "route", "PREFIX=IF[@GATEWAY]: a route (repeatable); replaces the default routes")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitcode.Error{Code: 2, Err: errors.New("")}
	}
	if fs.NArg() > 0 {
		return exitcode.Usage("unexpected argument %q", fs.Arg(0))
	}

	var ifs []replayIface
	var rts []config.Route
	var neighs []config.Neighbor
	ctc := config.Conntrack{}
	if *cfgFile != "" {
		cfg, err := config.Load(*cfgFile)
		if err != nil {
			return err
		}
		for _, ic := range cfg.Interfaces {
			if ic.Backend != "pcap" {
				return fmt.Errorf("%s: interface %s: replay takes pcap interfaces only, not %s", *cfgFile, ic.Name, ic.Backend)
			}
			m := ic.MTU
			if m == 0 {
				m = *mtu
			}
			ifs = append(ifs, replayIface{name: ic.Name, in: ic.In, out: ic.Out, addrs: ic.Addrs, mtu: m})
		}
		rts, neighs, ctc = cfg.Routes, cfg.Neighbors, cfg.Conntrack
		if *rulesFile == "" {
			*rulesFile = cfg.Ruleset
		}
		if *inFile != "" {
			return exitcode.Usage("-i and -c: the config names the inputs")
		}
	} else {
		if *inFile == "" {
			return exitcode.Usage("-i IN.pcap is required (see nfgo replay -h)")
		}
		if *inIf == *outIf {
			return exitcode.Usage("--in-if and --out-if must differ")
		}
		ifs = []replayIface{{name: *inIf, in: *inFile, mtu: *mtu}, {name: *outIf, mtu: *mtu}}
		for _, a := range addrs {
			name, p, ok := strings.Cut(a, "=")
			pfx, err := netip.ParsePrefix(p)
			if !ok || err != nil {
				return exitcode.Usage("--addr %q: want IF=ADDRESS/LEN", a)
			}
			found := false
			for i := range ifs {
				if ifs[i].name == name {
					ifs[i].addrs, found = append(ifs[i].addrs, pfx), true
				}
			}
			if !found {
				return exitcode.Usage("--addr %q: no interface %q (%s or %s)", a, name, *inIf, *outIf)
			}
		}
		if len(routes) == 0 {
			routes = listFlag{"0.0.0.0/0=" + *outIf, "::/0=" + *outIf}
		}
		for _, r := range routes {
			rc, err := parseRouteFlag(r)
			if err != nil {
				return err
			}
			rts = append(rts, rc)
		}
	}
	var jw io.Writer
	switch *jsonOut {
	case "":
	case "-":
		bw := bufio.NewWriterSize(stdout, 64<<10)
		defer bw.Flush()
		jw = bw
	default:
		f, err := os.Create(*jsonOut)
		if err != nil {
			return err
		}
		defer f.Close()
		bw := bufio.NewWriterSize(f, 64<<10)
		defer bw.Flush()
		jw = bw
	}
	logw := io.Discard
	if *verbose {
		logw = stderr
	}
	r := &replay{ifs: ifs, routes: rts, neighs: neighs, ct: ctc, noCT: *noCT, rulesFile: *rulesFile, outFile: *outFile,
		log: slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelInfo})), json: jw}
	showProgress := *progress == "always" || *progress == "auto" && isTerminal(stderr)
	sum, err := r.run(showProgress, stderr)
	if err != nil {
		return err
	}
	printSummary(stderr, sum, *outFile)
	if *listRules && r.eng.Ruleset() != nil {
		fmt.Fprint(stdout, r.eng.Ruleset().String())
	}
	return nil
}

// parseRouteFlag reads PREFIX=IF[@GATEWAY], or PREFIX=blackhole and the
// like.
func parseRouteFlag(s string) (config.Route, error) {
	p, dev, ok := strings.Cut(s, "=")
	if !ok {
		return config.Route{}, exitcode.Usage("--route %q: want PREFIX=IF[@GATEWAY]", s)
	}
	rc := config.Route{}
	var err error
	if rc.To, err = netip.ParsePrefix(p); err != nil {
		return rc, exitcode.Usage("--route %q: %v", s, err)
	}
	if d, gw, ok := strings.Cut(dev, "@"); ok {
		dev = d
		if rc.Via, err = netip.ParseAddr(gw); err != nil {
			return rc, exitcode.Usage("--route %q: gateway: %v", s, err)
		}
	}
	switch dev {
	case "blackhole":
		rc.Type = engine.RouteBlackhole
	case "unreachable":
		rc.Type = engine.RouteUnreachable
	case "prohibit":
		rc.Type = engine.RouteProhibit
	default:
		rc.Dev = dev
	}
	return rc, nil
}

// replay is one run of captures through an engine.
type replay struct {
	ifs       []replayIface
	routes    []config.Route
	neighs    []config.Neighbor
	ct        config.Conntrack
	noCT      bool
	rulesFile string
	outFile   string
	log       *slog.Logger
	json      io.Writer

	eng *engine.Engine
}

func (r *replay) run(showProgress bool, stderr io.Writer) (summary, error) {
	seq := newSequencer()
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	var ct *conntrack.Table
	if !r.noCT && !r.ct.Disabled {
		ct = conntrack.New(conntrack.Options{
			Max: r.ct.Max, Buckets: r.ct.Buckets, Timeouts: r.ct.Timeouts, Liberal: r.ct.Liberal,
			TCPNoLoose: r.ct.NoLoose, Accounting: r.ct.Accounting,
			Clock: func() int64 { return seq.now().UnixNano() }, SweepInterval: -1, HashSeed: 0x6e66676f,
		})
		defer ct.Close()
	}
	// Packets for the engine's own addresses that pass INPUT count as
	// delivered: a replay has no local stack behind it.
	e := engine.New(engine.Options{Logger: r.log, Conntrack: ct, Now: seq.now, Deliver: func([]*packet.Packet) {}})
	r.eng = e

	var all *pcapio.Port
	if r.outFile != "" {
		p, err := pcapio.Open(pcapio.Options{Name: "out", Out: r.outFile, Link: packet.LinkRaw, Clock: seq.now})
		if err != nil {
			return summary{}, err
		}
		closers = append(closers, p)
		all = p
	}
	var total int64
	for _, ic := range r.ifs {
		rp := &replayPort{seq: seq, name: ic.name, mtu: ic.mtu}
		if all != nil {
			rp.sinks = append(rp.sinks, all)
		}
		if ic.out != "" {
			p, err := pcapio.Open(pcapio.Options{Name: ic.name, Out: ic.out, Link: packet.LinkRaw, Clock: seq.now})
			if err != nil {
				return summary{}, err
			}
			closers = append(closers, p)
			rp.sinks = append(rp.sinks, p)
		}
		if ic.in != "" {
			p, err := pcapio.Open(pcapio.Options{Name: ic.name, In: ic.in})
			if err != nil {
				return summary{}, err
			}
			closers = append(closers, p)
			in := &replayInput{port: p, name: ic.name}
			in.scratch[0] = packet.New()
			rp.input = in
			seq.inputs = append(seq.inputs, in)
			if st, err := os.Stat(ic.in); err == nil {
				total += st.Size()
			}
		}
		if _, err := e.AddPort(rp, engine.PortConfig{Addrs: ic.addrs}); err != nil {
			return summary{}, err
		}
	}
	if err := config.AddRoutes(e, r.routes, r.neighs); err != nil {
		return summary{}, err
	}
	rs := ruleset.New(ruleset.Options{Now: seq.now, Logger: r.log})
	if r.rulesFile != "" {
		next, err := rulesetfile.Load(rs, r.rulesFile, false)
		if err != nil {
			return summary{}, err
		}
		if err := rulesetfile.Install(e, next); err != nil {
			return summary{}, err
		}
		rs = next
	}
	rec := newRecorder(e, ct, ruleindex.New(rs), r.json)
	seq.begin, seq.finish = rec.begin, rec.finish
	if ct != nil {
		seq.between = func() {
			if seq.count%(64<<10) == 0 {
				ct.Sweep()
			}
		}
	}
	e.SetTracer(rec.tracer())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	var bar *progressBar
	if showProgress {
		bar = newProgressBar(stderr, "replay", total)
		stop := make(chan struct{})
		defer close(stop)
		go bar.run(stop, func() (int64, int) {
			seq.mu.Lock()
			defer seq.mu.Unlock()
			var b int64
			for _, in := range seq.inputs {
				b += in.bytes
			}
			return b, seq.count
		})
	}
	<-seq.done
	cancel()
	if err := <-done; err != nil {
		return summary{}, err
	}
	if bar != nil {
		bar.finish(seq.count)
	}
	if err := seq.err(); err != nil {
		return rec.total, err
	}
	if rec.err != nil {
		return rec.total, fmt.Errorf("json: %w", rec.err)
	}
	for _, c := range closers {
		if err := c.Close(); err != nil {
			return rec.total, err
		}
	}
	closers = nil
	return rec.total, nil
}

func printSummary(w io.Writer, s summary, out string) {
	fmt.Fprintf(w, "nfgo replay: %d packets: %d transmitted, %d delivered, %d dropped", s.Packets, s.Transmitted, s.Delivered, s.Dropped)
	if len(s.Reasons) > 0 {
		var rs []string
		for k, v := range s.Reasons {
			rs = append(rs, fmt.Sprintf("%s %d", k, v))
		}
		sort.Strings(rs)
		fmt.Fprintf(w, " (%s)", strings.Join(rs, ", "))
	}
	if s.Other > 0 {
		fmt.Fprintf(w, ", %d stolen or queued", s.Other)
	}
	if s.Generated > 0 {
		fmt.Fprintf(w, "; %d generated by the engine", s.Generated)
	}
	if out != "" {
		fmt.Fprintf(w, "; written to %s", out)
	}
	fmt.Fprintln(w)
}
