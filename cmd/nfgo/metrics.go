package main

import (
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nfgo/nfgo/engine"
	"github.com/nfgo/nfgo/hooks"
	"github.com/nfgo/nfgo/packet"
)

// The metrics are read from the engine, the ports and the connection
// table when Prometheus scrapes; nothing is counted twice.
var (
	descPortPackets   = prometheus.NewDesc("nfgo_port_packets_total", "Packets through a port, by direction.", []string{"port", "direction"}, nil)
	descPortBytes     = prometheus.NewDesc("nfgo_port_bytes_total", "Bytes through a port, by direction.", []string{"port", "direction"}, nil)
	descPortDropped   = prometheus.NewDesc("nfgo_port_dropped_total", "Frames a port's backend dropped, by direction.", []string{"port", "direction"}, nil)
	descQueuePackets  = prometheus.NewDesc("nfgo_worker_rx_packets_total", "Packets read by a worker (one port RX queue).", []string{"port", "queue"}, nil)
	descHookPackets   = prometheus.NewDesc("nfgo_hook_packets_total", "Packets that entered a hook (metrics.hook_counters).", []string{"hook"}, nil)
	descHookBytes     = prometheus.NewDesc("nfgo_hook_bytes_total", "Bytes of the packets that entered a hook (metrics.hook_counters).", []string{"hook"}, nil)
	descEngine        = prometheus.NewDesc("nfgo_engine_packets_total", "Packets by what the engine did with them.", []string{"what"}, nil)
	descDrops         = prometheus.NewDesc("nfgo_drops_total", "Packets the engine dropped, by reason.", []string{"reason"}, nil)
	descPortDrops     = prometheus.NewDesc("nfgo_port_drops_total", "Packets the engine dropped, by the port they came in by (or were to leave by) and reason.", []string{"port", "reason"}, nil)
	descHookDrops     = prometheus.NewDesc("nfgo_hook_drops_total", "Packets dropped in a hook walk, by hook and reason.", []string{"hook", "reason"}, nil)
	descMalformed     = prometheus.NewDesc("nfgo_malformed_total", "Frames that did not parse, by what was wrong.", []string{"reason"}, nil)
	descCTEntries     = prometheus.NewDesc("nfgo_conntrack_entries", "Connections in the table.", nil, nil)
	descCTMax         = prometheus.NewDesc("nfgo_conntrack_max", "The table's limit (nf_conntrack_max).", nil, nil)
	descCTStat        = prometheus.NewDesc("nfgo_conntrack_events_total", "The table's statistics (/proc/net/stat/nf_conntrack).", []string{"stat"}, nil)
	descRulesetGen    = prometheus.NewDesc("nfgo_ruleset_generation", "Generation of the ruleset in force; each change adds one.", nil, nil)
	descReloads       = prometheus.NewDesc("nfgo_ruleset_reloads_total", "Ruleset reloads (SIGHUP), by result.", []string{"result"}, nil)
	descNAT           = prometheus.NewDesc("nfgo_nat_total", "NAT bindings and their failures (exhausted: no free tuple in range).", []string{"what"}, nil)
	descUptimeSeconds = prometheus.NewDesc("nfgo_uptime_seconds", "Seconds since nfgo started.", nil, nil)
)

// collector reads the daemon's state at scrape time.
type collector struct{ d *daemon }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPortPackets, descPortBytes, descPortDropped, descQueuePackets, descHookPackets,
		descHookBytes, descEngine, descDrops, descPortDrops, descHookDrops, descMalformed, descCTEntries, descCTMax, descCTStat, descRulesetGen,
		descReloads, descNAT, descUptimeSeconds} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	for _, p := range d.ports {
		t := p.cp.totals()
		name := p.cfg.Name
		counter(descPortPackets, t.RxPackets, name, "rx")
		counter(descPortPackets, t.TxPackets, name, "tx")
		counter(descPortBytes, t.RxBytes, name, "rx")
		counter(descPortBytes, t.TxBytes, name, "tx")
		counter(descPortDropped, t.RxDropped, name, "rx")
		counter(descPortDropped, t.TxDropped, name, "tx")
		for q := range p.cp.q {
			counter(descQueuePackets, p.cp.q[q].rxPackets.Load(), name, strconv.Itoa(q))
		}
	}
	if hc := d.hookCtr; hc != nil {
		for i, h := range countedHooks {
			var pk, by uint64
			for w := 0; w < hc.workers; w++ {
				p, b := hc.get(i, w)
				pk, by = pk+p, by+b
			}
			counter(descHookPackets, pk, h.String())
			counter(descHookBytes, by, h.String())
		}
	}
	s := d.eng.Stats()
	for what, v := range map[string]uint64{"rx": s.RxPackets, "tx": s.TxPackets, "forwarded": s.Forwarded,
		"delivered": s.Delivered, "generated": s.Generated, "stolen": s.Stolen, "queued": s.Queued,
		"icmp_errors": s.ICMPErrors, "icmp_rate_limited": s.ICMPRateLimited, "fragments_out": s.FragmentsOut} {
		counter(descEngine, v, what)
	}
	for i, v := range s.Drops {
		counter(descDrops, v, engine.DropReason(i).String())
	}
	for port, ds := range s.PortDrops {
		for i, v := range ds {
			if v != 0 {
				counter(descPortDrops, v, port, engine.DropReason(i).String())
			}
		}
	}
	for h, ds := range s.HookDrops {
		for i, v := range ds {
			if v != 0 {
				counter(descHookDrops, v, hooks.Hook(h).String(), engine.DropReason(i).String())
			}
		}
	}
	for i, v := range s.Malformed {
		if i != 0 {
			counter(descMalformed, v, packet.Reason(i).String())
		}
	}
	if d.ct != nil {
		cs := d.ct.Stats()
		gauge(descCTEntries, float64(cs.Entries))
		gauge(descCTMax, float64(d.ct.Max()))
		for stat, v := range map[string]uint64{"found": cs.Found, "invalid": cs.Invalid, "insert": cs.Insert,
			"insert_failed": cs.InsertFailed, "drop": cs.Drop, "early_drop": cs.EarlyDrop, "error": cs.Error,
			"new": cs.New, "expired": cs.Expired, "events_lost": cs.EventsLost} {
			counter(descCTStat, v, stat)
		}
	}
	if n := d.eng.NAT(); n != nil {
		ns := n.Stats()
		for what, v := range map[string]uint64{"bindings": ns.Bindings, "null_bindings": ns.NullBindings,
			"remapped": ns.Remapped, "exhausted": ns.Exhausted, "no_address": ns.NoAddress, "bad_request": ns.BadRequest,
			"icmp_translated": ns.ICMPTranslated, "icmp_dropped": ns.ICMPDropped} {
			counter(descNAT, v, what)
		}
	}
	gauge(descRulesetGen, float64(d.eng.Ruleset().Generation()))
	counter(descReloads, d.reloads.Load(), "ok")
	counter(descReloads, d.reloadFails.Load(), "rejected")
	gauge(descUptimeSeconds, time.Since(d.start).Seconds())
}

// serveMetrics serves /metrics on ln.
func (d *daemon) serveMetrics(ln net.Listener) *http.Server {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{d}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			d.log.Error("metrics server", "err", err)
		}
	}()
	d.log.Info("metrics", "address", ln.Addr().String())
	return srv
}
