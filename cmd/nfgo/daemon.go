package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nfgo/nfgo/cmd/nfgo/internal/config"
	"github.com/nfgo/nfgo/cmd/nfgo/internal/ctcmd"
	"github.com/nfgo/nfgo/cmd/nfgo/internal/rulesetfile"
	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/engine"
	"github.com/nfgo/nfgo/io/memio"
	"github.com/nfgo/nfgo/ruleset"
)

// daemon is a running nfgo router: the engine over the configured ports,
// the connection table, the ruleset, and what serves the control socket
// and metrics.
type daemon struct {
	cfg   *config.Config
	log   *slog.Logger
	eng   *engine.Engine
	ct    *conntrack.Table
	ports []*daemonPort
	start time.Time

	rsMu        sync.Mutex // serializes ruleset changes
	reloads     atomic.Uint64
	reloadFails atomic.Uint64

	trace   *traceHub
	events  *ctcmd.EventHub
	hookCtr *hookCounters
	workers int

	ctl     net.Listener
	metrics *http.Server
}

type daemonPort struct {
	cfg   config.Interface
	cp    *countingPort
	index uint32
}

// errNothingStarted wraps errors found before anything was opened.
var errNothingStarted = errors.New("nothing was started")

// newDaemon checks everything it can before it opens anything: the ruleset
// parses, validates and is one the engine accepts (on a scratch engine
// with in-memory ports of the same names); the control socket is not in
// use; the metrics address can be listened on. Then it opens the ports,
// and on any failure closes what it opened.
func newDaemon(cfg *config.Config, log *slog.Logger) (*daemon, error) {
	d := &daemon{cfg: cfg, log: log, start: time.Now()}
	rs := ruleset.New(ruleset.Options{Logger: log})
	if cfg.Ruleset != "" {
		next, err := rulesetfile.Load(rs, cfg.Ruleset, false)
		if err != nil {
			return nil, err
		}
		rs = next
	}
	if err := d.dryRun(rs); err != nil {
		return nil, err
	}
	ctl, err := listenControl(cfg.Socket)
	if err != nil {
		return nil, err
	}
	d.ctl = ctl
	var mln net.Listener
	if cfg.Metrics.Address != "" {
		if mln, err = net.Listen("tcp", cfg.Metrics.Address); err != nil {
			ctl.Close()
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	fail := func(err error) (*daemon, error) {
		d.closePorts()
		ctl.Close()
		if mln != nil {
			mln.Close()
		}
		if d.ct != nil {
			d.ct.Close()
		}
		return nil, err
	}
	if !cfg.Conntrack.Disabled {
		c := cfg.Conntrack
		ev := c.Events
		if ev == 0 {
			ev = 4096
		}
		d.ct = conntrack.New(conntrack.Options{Max: c.Max, Buckets: c.Buckets, Timeouts: c.Timeouts, Liberal: c.Liberal,
			TCPNoLoose: c.NoLoose, Accounting: c.Accounting, EventBuffer: ev})
	}
	d.eng = engine.New(engine.Options{Logger: log, Conntrack: d.ct})
	for _, ic := range cfg.Interfaces {
		p, err := openPort(ic, log)
		if err != nil {
			return fail(fmt.Errorf("interface %s (%s): %w", ic.Name, ic.Backend, err))
		}
		dp := &daemonPort{cfg: ic, cp: newCountingPort(p)}
		d.ports = append(d.ports, dp)
		d.workers += max(p.NumQueues(), 1)
		pc := engine.PortConfig{Addrs: ic.Addrs, Host: ic.Backend == "tun" && ic.Mode == "host"}
		if dp.index, err = d.eng.AddPort(dp.cp, pc); err != nil {
			return fail(fmt.Errorf("interface %s: %w", ic.Name, err))
		}
	}
	if err := config.AddRoutes(d.eng, cfg.Routes, cfg.Neighbors); err != nil {
		return fail(err)
	}
	if err := rulesetfile.Install(d.eng, rs); err != nil {
		return fail(err)
	}
	if cfg.Metrics.HookCounters {
		if d.hookCtr, err = registerHookCounters(d.eng, d.workers); err != nil {
			return fail(err)
		}
	}
	d.trace = newTraceHub(d.eng, d.ct)
	if d.ct != nil {
		d.events = ctcmd.NewEventHub(d.ct)
	}
	if mln != nil {
		d.metrics = d.serveMetrics(mln)
	}
	return d, nil
}

// dryRun installs rs on an engine with in-memory ports named as the
// configured interfaces, to find what the real engine would refuse (nat
// chains without connection tracking, ingress chains on unknown devices).
func (d *daemon) dryRun(rs *ruleset.Ruleset) error {
	opts := engine.Options{}
	if !d.cfg.Conntrack.Disabled {
		ct := conntrack.New(conntrack.Options{Max: 16, SweepInterval: -1})
		defer ct.Close()
		opts.Conntrack = ct
	}
	e := engine.New(opts)
	for _, ic := range d.cfg.Interfaces {
		a, _ := memio.Pair(ic.Name, ic.Name+"-peer", memio.Options{})
		if _, err := e.AddPort(a, engine.PortConfig{}); err != nil {
			return err
		}
	}
	if err := rulesetfile.Install(e, rs); err != nil {
		return fmt.Errorf("%s: %w", d.cfg.Ruleset, err)
	}
	return nil
}

// run serves until ctx is done, reloading the ruleset on reload, then
// stops the workers (each finishes its batch), closes the ports (which
// detaches XDP) and the sockets.
func (d *daemon) run(ctx context.Context, reload <-chan struct{}) error {
	runCtx, stop := context.WithCancel(context.Background())
	engDone := make(chan error, 1)
	go func() { engDone <- d.eng.Run(runCtx) }()
	srvCtx, srvStop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); d.serveControl(srvCtx) }()
	if d.events != nil {
		wg.Add(1)
		go func() { defer wg.Done(); d.events.Run(srvCtx) }()
	}
	d.log.Info("nfgo running", "config", d.cfg.File, "socket", d.cfg.Socket, "interfaces", len(d.ports),
		"ruleset", d.cfg.Ruleset, "generation", d.eng.Ruleset().Generation())
	for {
		select {
		case <-reload:
			d.reload()
			continue
		case err := <-engDone:
			// The engine stops only when asked; this is a failure.
			stop()
			srvStop()
			d.ctl.Close()
			wg.Wait()
			d.shutdown()
			return fmt.Errorf("engine stopped: %v", err)
		case <-ctx.Done():
		}
		break
	}
	d.log.Info("stopping: draining workers")
	stop()
	err := <-engDone
	srvStop()
	d.ctl.Close()
	wg.Wait()
	d.shutdown()
	d.log.Info("stopped", "uptime", time.Since(d.start).Round(time.Millisecond).String())
	return err
}

func (d *daemon) shutdown() {
	if d.hookCtr != nil {
		d.hookCtr.unregister(d.eng)
	}
	d.trace.stop()
	d.closePorts()
	if d.metrics != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		d.metrics.Shutdown(sctx)
		cancel()
	}
	if d.ct != nil {
		d.ct.Close()
	}
	os.Remove(d.cfg.Socket)
}

func (d *daemon) closePorts() {
	for _, p := range d.ports {
		if err := p.cp.Port.Close(); err != nil {
			d.log.Warn("close port", "if", p.cfg.Name, "err", err)
		} else {
			d.log.Info("port closed", "if", p.cfg.Name)
		}
	}
	d.ports = nil
}

// reload re-reads the ruleset file and swaps it in whole; a bad file is
// logged and the running ruleset stays.
func (d *daemon) reload() {
	if d.cfg.Ruleset == "" {
		d.log.Warn("reload: the config names no ruleset file")
		return
	}
	d.rsMu.Lock()
	defer d.rsMu.Unlock()
	cur := d.eng.Ruleset()
	next, err := rulesetfile.Load(cur, d.cfg.Ruleset, true)
	if err == nil {
		err = rulesetfile.Install(d.eng, next)
	}
	if err != nil {
		d.reloadFails.Add(1)
		d.log.Error("reload rejected; the running ruleset stays", "file", d.cfg.Ruleset, "err", err,
			"generation", cur.Generation())
		return
	}
	d.reloads.Add(1)
	d.trace.setRuleset(next)
	d.log.Info("ruleset reloaded", "file", d.cfg.Ruleset, "generation", next.Generation())
}

// change applies a ruleset transaction from the control socket.
func (d *daemon) change(fn func(cur *ruleset.Ruleset) (*ruleset.Ruleset, error)) (*ruleset.Ruleset, error) {
	d.rsMu.Lock()
	defer d.rsMu.Unlock()
	next, err := fn(d.eng.Ruleset())
	if err == nil {
		err = rulesetfile.Install(d.eng, next)
	}
	if err != nil {
		return nil, err
	}
	d.trace.setRuleset(next)
	d.log.Info("ruleset changed", "generation", next.Generation())
	return next, nil
}
