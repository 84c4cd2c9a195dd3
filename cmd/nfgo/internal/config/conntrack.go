package config

import (
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/nfgo/nfgo/conntrack"
)

// ctTimeoutFields are the keys of conntrack.timeouts: the kernel's sysctl
// names without nf_conntrack_ and _timeout.
var ctTimeoutFields = map[string]func(t *conntrack.Timeouts) *time.Duration{
	"tcp_syn_sent":       func(t *conntrack.Timeouts) *time.Duration { return &t.TCPSynSent },
	"tcp_syn_recv":       func(t *conntrack.Timeouts) *time.Duration { return &t.TCPSynRecv },
	"tcp_established":    func(t *conntrack.Timeouts) *time.Duration { return &t.TCPEstablished },
	"tcp_fin_wait":       func(t *conntrack.Timeouts) *time.Duration { return &t.TCPFinWait },
	"tcp_close_wait":     func(t *conntrack.Timeouts) *time.Duration { return &t.TCPCloseWait },
	"tcp_last_ack":       func(t *conntrack.Timeouts) *time.Duration { return &t.TCPLastAck },
	"tcp_time_wait":      func(t *conntrack.Timeouts) *time.Duration { return &t.TCPTimeWait },
	"tcp_close":          func(t *conntrack.Timeouts) *time.Duration { return &t.TCPClose },
	"tcp_max_retrans":    func(t *conntrack.Timeouts) *time.Duration { return &t.TCPRetrans },
	"tcp_unacknowledged": func(t *conntrack.Timeouts) *time.Duration { return &t.TCPUnack },
	"udp":                func(t *conntrack.Timeouts) *time.Duration { return &t.UDP },
	"udp_stream":         func(t *conntrack.Timeouts) *time.Duration { return &t.UDPStream },
	"icmp":               func(t *conntrack.Timeouts) *time.Duration { return &t.ICMP },
	"icmpv6":             func(t *conntrack.Timeouts) *time.Duration { return &t.ICMPv6 },
	"generic":            func(t *conntrack.Timeouts) *time.Duration { return &t.Generic },
}

func (p *parser) conntrack(n *yaml.Node, field string, c *Conntrack) error {
	return p.mapping(n, field, func(key string, k, v *yaml.Node) error {
		f := field + "." + key
		var err error
		switch key {
		case "enabled":
			var on bool
			on, err = p.boolean(v, f)
			c.Disabled = !on
		case "max":
			c.Max, err = p.integer(v, f, 1)
		case "buckets":
			c.Buckets, err = p.integer(v, f, 0)
		case "events":
			c.Events, err = p.integer(v, f, 0)
		case "accounting":
			c.Accounting, err = p.boolean(v, f)
		case "liberal":
			c.Liberal, err = p.boolean(v, f)
		case "loose":
			var loose bool
			loose, err = p.boolean(v, f)
			c.NoLoose = !loose
		case "timeouts":
			err = p.mapping(v, f, func(k2 string, kn, v2 *yaml.Node) error {
				f2 := f + "." + k2
				get, ok := ctTimeoutFields[k2]
				if !ok {
					return p.errAt(kn, f2, "unknown timeout (known: tcp_syn_sent, tcp_established, udp, udp_stream, icmp, icmpv6, generic, ...)")
				}
				s, err := p.str(v2, f2)
				if err != nil {
					return err
				}
				d, err := parseDuration(s)
				if err != nil || d <= 0 {
					return p.errAt(v2, f2, "want a duration (30s, 2m, 5d) or seconds, got %q", s)
				}
				*get(&c.Timeouts) = d
				return nil
			})
		default:
			err = p.errAt(k, f, "unknown field (known: enabled, max, buckets, events, accounting, liberal, loose, timeouts)")
		}
		return err
	})
}
