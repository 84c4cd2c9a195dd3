package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nfgo/nfgo/engine"
	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/ruleset"
)

// writeCounters prints the ruleset's counters: each rule with a counter
// statement, and the named counters.
func writeCounters(w io.Writer, rs *ruleset.Ruleset) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tCHAIN\tHANDLE\tPACKETS\tBYTES\tRULE")
	var named []string
	for _, t := range rs.Tables() {
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				for _, s := range r.Stmts {
					if ctr, ok := s.(*ruleset.Counter); ok {
						fmt.Fprintf(tw, "%s %s\t%s\t%d\t%d\t%d\t%s\n", t.Family, t.Name, c.Name, r.Handle,
							ctr.Packets(), ctr.Bytes(), r)
					}
				}
			}
		}
		for _, c := range t.Counters {
			named = append(named, fmt.Sprintf("%s %s\t%s\t%d\t%d", t.Family, t.Name, c.Name, c.Packets(), c.Bytes()))
		}
	}
	tw.Flush()
	if len(named) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TABLE\tCOUNTER\tPACKETS\tBYTES")
		for _, n := range named {
			fmt.Fprintln(tw, n)
		}
		tw.Flush()
	}
}

// writeStats prints the engine's counters: per port and queue (a queue is
// one worker), per hook when counted, the totals, and the drops and
// malformed packets by reason.
func (d *daemon) writeStats(w io.Writer) {
	s := d.eng.Stats()
	fmt.Fprintf(w, "uptime %s  ruleset generation %d  reloads %d (failed %d)\n\n",
		time.Since(d.start).Round(time.Second), d.eng.Ruleset().Generation(), d.reloads.Load(), d.reloadFails.Load())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "PORT\tBACKEND\tRX PACKETS\tRX BYTES\tTX PACKETS\tTX BYTES\tRX DROPPED\tTX DROPPED\t")
	for _, p := range d.ports {
		t := p.cp.totals()
		backend := p.cfg.Backend
		if t.Mode != "" {
			backend += " (" + t.Mode + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", p.cfg.Name, backend, t.RxPackets, t.RxBytes, t.TxPackets, t.TxBytes, t.RxDropped, t.TxDropped)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "WORKER\tPORT\tQUEUE\tRX PACKETS\tRX BYTES\t")
	id := 0
	for _, p := range d.ports {
		for q := range p.cp.q {
			id++
			fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t\n", id, p.cfg.Name, q, p.cp.q[q].rxPackets.Load(), p.cp.q[q].rxBytes.Load())
		}
	}
	tw.Flush()
	if hc := d.hookCtr; hc != nil {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "HOOK\tWORKER\tPACKETS\tBYTES\t")
		for i, h := range countedHooks {
			for wk := 0; wk < hc.workers; wk++ {
				pk, by := hc.get(i, wk)
				if pk > 0 {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t\n", h, wk, pk, by)
				}
			}
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	writeEngineTotals(w, &s)
	if d.ct != nil {
		c := d.ct.Stats()
		fmt.Fprintf(w, "\nconntrack: %d entries (max %d), %d inserted, %d early drops, %d dropped, %d invalid, %d expired\n",
			c.Entries, d.ct.Max(), c.Insert, c.EarlyDrop, c.Drop, c.Invalid, c.Expired)
	}
	if n := d.eng.NAT(); n != nil {
		ns := n.Stats()
		fmt.Fprintf(w, "nat: %d bindings (%d remapped), %d exhausted, %d without an address, %d icmp errors translated\n",
			ns.Bindings, ns.Remapped, ns.Exhausted, ns.NoAddress, ns.ICMPTranslated)
	}
}

func writeEngineTotals(w io.Writer, s *engine.Stats) {
	fmt.Fprintf(w, "engine: rx %d packets %d bytes, tx %d packets %d bytes, forwarded %d, delivered %d, generated %d, icmp errors %d (rate limited %d)\n",
		s.RxPackets, s.RxBytes, s.TxPackets, s.TxBytes, s.Forwarded, s.Delivered, s.Generated, s.ICMPErrors, s.ICMPRateLimited)
	var drops []string
	for i, n := range s.Drops {
		if n > 0 {
			drops = append(drops, fmt.Sprintf("%s %d", engine.DropReason(i), n))
		}
	}
	if len(drops) == 0 {
		drops = []string{"none"}
	}
	fmt.Fprintf(w, "drops: %s\n", strings.Join(drops, ", "))
	var bad []string
	for i, n := range s.Malformed {
		if n > 0 {
			bad = append(bad, fmt.Sprintf("%s %d", packet.Reason(i), n))
		}
	}
	if len(bad) > 0 {
		fmt.Fprintf(w, "malformed: %s\n", strings.Join(bad, ", "))
	}
}
