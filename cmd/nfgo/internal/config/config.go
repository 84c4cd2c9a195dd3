package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/engine"
)

// Config is nfgo.yaml: the ports, routes, neighbors, ruleset, conntrack
// settings, control socket and metrics of one nfgo router. The documented
// example is examples/nfgo.yaml.
type Config struct {
	File       string // the file it was read from
	Interfaces []Interface
	Routes     []Route
	Neighbors  []Neighbor
	Ruleset    string // path of the nft-syntax ruleset; relative to the config's folder
	Conntrack  Conntrack
	Socket     string // control socket path
	Metrics    Metrics
	LogLevel   string // debug, info, warn, error
	LogFormat  string // text or json
}

// Interface is one port.
type Interface struct {
	Name      string // the Linux interface (afxdp), the device to create (tun); rules see it as iifname/oifname
	Backend   string // afxdp, tun or pcap
	Queues    int    // afxdp: RX/TX queues to open, 0 for all
	Mode      string // afxdp: auto, native, generic; tun: port, host
	ZeroCopy  string // afxdp: auto, on, off
	MTU       int    // tun, pcap: 0 for the backend's default
	Addrs     []netip.Prefix
	In, Out   string // pcap: capture replayed as RX, capture written with TX
	Offloads  string // tun: auto, on, off
	Pos       pos
	addrsPos  []pos
	backendAt pos
}

// Route is one static route.
type Route struct {
	To   netip.Prefix
	Via  netip.Addr
	Dev  string
	Type engine.RouteType
	Pos  pos
}

// Neighbor is one static neighbor (ARP/NDP) entry.
type Neighbor struct {
	Dev  string
	Addr netip.Addr
	MAC  [6]byte
	Pos  pos
}

// Conntrack is the connection tracker's settings.
type Conntrack struct {
	Disabled   bool
	Max        int
	Buckets    int
	Accounting bool
	Liberal    bool
	NoLoose    bool
	Events     int // event ring size; 0: 4096
	Timeouts   conntrack.Timeouts
}

// Metrics is the Prometheus endpoint.
type Metrics struct {
	Address      string // host:port; empty: no metrics
	HookCounters bool   // count packets per hook (costs a callback per hook)
}

// logLevels are the names log.level takes.
var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
}

// LogLevel is the level a log.level name stands for, and whether it is
// one.
func LogLevel(name string) (slog.Level, bool) {
	l, ok := logLevels[name]
	return l, ok
}

// pos is a place in the config file.
type pos struct{ line, col int }

// Error is a problem in the config file, at a line and field.
type Error struct {
	File  string
	Line  int
	Col   int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line) + ":" + strconv.Itoa(e.Col)
	}
	if e.Field != "" {
		return loc + ": " + e.Field + ": " + e.Msg
	}
	return loc + ": " + e.Msg
}

// parser walks the YAML node tree, so that every error can name the
// line and the field.
type parser struct{ file string }

func (p *parser) errAt(n *yaml.Node, field, format string, args ...any) *Error {
	e := &Error{File: p.file, Field: field, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	return e
}

// Load reads and checks a config file. It opens nothing.
func Load(file string) (*Config, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return Parse(file, src)
}

// Parse parses a config; file names it in errors and anchors the
// relative paths in it.
func Parse(file string, src []byte) (*Config, error) {
	p := &parser{file: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, &Error{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	cfg := &Config{File: file, LogLevel: "info", LogFormat: "text"}
	if len(doc.Content) == 0 {
		return nil, &Error{File: file, Msg: "empty config"}
	}
	root := doc.Content[0]
	err := p.mapping(root, "", func(key string, k, v *yaml.Node) error {
		switch key {
		case "interfaces":
			return seqOf(p, v, key, p.iface, &cfg.Interfaces)
		case "routes":
			return seqOf(p, v, key, p.route, &cfg.Routes)
		case "neighbors":
			return seqOf(p, v, key, p.neigh, &cfg.Neighbors)
		case "ruleset":
			s, err := p.str(v, key)
			cfg.Ruleset = s
			return err
		case "conntrack":
			return p.conntrack(v, key, &cfg.Conntrack)
		case "control":
			return p.mapping(v, key, func(k2 string, _, v2 *yaml.Node) error {
				if k2 != "socket" {
					return p.errAt(v2, key+"."+k2, "unknown field (known: socket)")
				}
				s, err := p.str(v2, key+"."+k2)
				cfg.Socket = s
				return err
			})
		case "metrics":
			return p.mapping(v, key, func(k2 string, _, v2 *yaml.Node) error {
				f := key + "." + k2
				switch k2 {
				case "address":
					s, err := p.str(v2, f)
					if err == nil && s != "" {
						if _, _, e := net.SplitHostPort(s); e != nil {
							return p.errAt(v2, f, "want host:port, got %q", s)
						}
					}
					cfg.Metrics.Address = s
					return err
				case "hook_counters":
					b, err := p.boolean(v2, f)
					cfg.Metrics.HookCounters = b
					return err
				}
				return p.errAt(v2, f, "unknown field (known: address, hook_counters)")
			})
		case "log":
			return p.mapping(v, key, func(k2 string, _, v2 *yaml.Node) error {
				f := key + "." + k2
				s, err := p.str(v2, f)
				if err != nil {
					return err
				}
				switch k2 {
				case "level":
					if _, ok := logLevels[s]; !ok {
						return p.errAt(v2, f, "unknown level %q (want debug, info, warn or error)", s)
					}
					cfg.LogLevel = s
				case "format":
					if s != "text" && s != "json" {
						return p.errAt(v2, f, "unknown format %q (want text or json)", s)
					}
					cfg.LogFormat = s
				default:
					return p.errAt(v2, f, "unknown field (known: level, format)")
				}
				return nil
			})
		}
		return p.errAt(k, key, "unknown field (known: interfaces, routes, neighbors, ruleset, conntrack, control, metrics, log)")
	})
	if err != nil {
		return nil, err
	}
	if err := p.check(cfg, root); err != nil {
		return nil, err
	}
	dir := filepath.Dir(file)
	abs := func(s string) string {
		if s == "" || filepath.IsAbs(s) {
			return s
		}
		return filepath.Join(dir, s)
	}
	cfg.Ruleset = abs(cfg.Ruleset)
	for i := range cfg.Interfaces {
		cfg.Interfaces[i].In = abs(cfg.Interfaces[i].In)
		cfg.Interfaces[i].Out = abs(cfg.Interfaces[i].Out)
	}
	return cfg, nil
}

// check is what needs the whole file: names that refer to each other.
func (p *parser) check(cfg *Config, root *yaml.Node) error {
	names := map[string]bool{}
	hosts := 0
	for i, ic := range cfg.Interfaces {
		f := fmt.Sprintf("interfaces[%d]", i)
		at := &yaml.Node{Line: ic.Pos.line, Column: ic.Pos.col}
		if ic.Name == "" {
			return p.errAt(at, f+".name", "missing")
		}
		if names[ic.Name] {
			return p.errAt(at, f+".name", "interface %q named twice", ic.Name)
		}
		names[ic.Name] = true
		if ic.Backend == "" {
			return p.errAt(at, f+".backend", "missing (want afxdp, tun or pcap)")
		}
		if ic.Backend == "tun" && ic.Mode == "host" {
			hosts++
			if hosts > 1 {
				return p.errAt(at, f+".mode", "only one interface can be the host port")
			}
			if len(ic.Addrs) > 0 {
				return p.errAt(at, f+".addresses", "the host port takes no addresses (they are the host's)")
			}
		}
		if ic.Backend != "pcap" && (ic.In != "" || ic.Out != "") {
			return p.errAt(at, f, "in and out are for the pcap backend")
		}
	}
	for i, r := range cfg.Routes {
		at := &yaml.Node{Line: r.Pos.line, Column: r.Pos.col}
		f := fmt.Sprintf("routes[%d]", i)
		if r.Type == engine.RouteUnicast {
			if r.Dev == "" {
				return p.errAt(at, f+".dev", "missing: a unicast route names its interface")
			}
			if !names[r.Dev] {
				return p.errAt(at, f+".dev", "no interface %q", r.Dev)
			}
		}
		if r.Via.IsValid() && r.Via.Is4() != r.To.Addr().Is4() {
			return p.errAt(at, f+".via", "gateway %s is not of the family of %s", r.Via, r.To)
		}
	}
	for i, n := range cfg.Neighbors {
		at := &yaml.Node{Line: n.Pos.line, Column: n.Pos.col}
		if !names[n.Dev] {
			return p.errAt(at, fmt.Sprintf("neighbors[%d].dev", i), "no interface %q", n.Dev)
		}
	}
	return nil
}

func (p *parser) mapping(n *yaml.Node, field string, fn func(key string, k, v *yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return p.errAt(n, field, "want a mapping (key: value)")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			f := k.Value
			if field != "" {
				f = field + "." + f
			}
			return p.errAt(k, f, "given twice")
		}
		seen[k.Value] = true
		if err := fn(k.Value, k, v); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) seq(n *yaml.Node, field string, fn func(i int, n *yaml.Node) error) error {
	if n.Kind != yaml.SequenceNode {
		return p.errAt(n, field, "want a list")
	}
	for i, c := range n.Content {
		if err := fn(i, c); err != nil {
			return err
		}
	}
	return nil
}

// seqOf parses the sequence n of field with parse, each element named
// field[i], and appends what it yields to dst, the element that failed
// included.
func seqOf[T any](p *parser, n *yaml.Node, field string, parse func(*yaml.Node, string) (T, error), dst *[]T) error {
	return p.seq(n, field, func(i int, e *yaml.Node) error {
		x, err := parse(e, fmt.Sprintf("%s[%d]", field, i))
		*dst = append(*dst, x)
		return err
	})
}

func (p *parser) str(n *yaml.Node, field string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", p.errAt(n, field, "want a single value")
	}
	return n.Value, nil
}

func (p *parser) integer(n *yaml.Node, field string, min int) (int, error) {
	s, err := p.str(n, field)
	if err != nil {
		return 0, err
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < min {
		return 0, p.errAt(n, field, "want a whole number of at least %d, got %q", min, s)
	}
	return v, nil
}

func (p *parser) boolean(n *yaml.Node, field string) (bool, error) {
	s, err := p.str(n, field)
	if err != nil {
		return false, err
	}
	switch s {
	case "true", "yes", "on":
		return true, nil
	case "false", "no", "off":
		return false, nil
	}
	return false, p.errAt(n, field, "want true or false, got %q", s)
}

func (p *parser) oneOf(n *yaml.Node, field string, allowed ...string) (string, error) {
	s, err := p.str(n, field)
	if err != nil {
		return "", err
	}
	for _, a := range allowed {
		if s == a {
			return s, nil
		}
	}
	return "", p.errAt(n, field, "unknown value %q (want %s)", s, strings.Join(allowed, ", "))
}

func (p *parser) iface(n *yaml.Node, field string) (Interface, error) {
	ic := Interface{Pos: pos{n.Line, n.Column}}
	err := p.mapping(n, field, func(key string, k, v *yaml.Node) error {
		f := field + "." + key
		var err error
		switch key {
		case "name":
			ic.Name, err = p.str(v, f)
			if err == nil && (ic.Name == "" || len(ic.Name) > 15 || strings.ContainsAny(ic.Name, " /\"*")) {
				err = p.errAt(v, f, "%q is not an interface name (1 to 15 characters, no spaces, quotes, / or *)", ic.Name)
			}
		case "backend":
			ic.Backend, err = p.oneOf(v, f, "afxdp", "tun", "pcap")
			ic.backendAt = pos{v.Line, v.Column}
		case "queues":
			ic.Queues, err = p.integer(v, f, 0)
		case "mode":
			ic.Mode, err = p.oneOf(v, f, "auto", "native", "generic", "port", "host")
		case "zerocopy":
			ic.ZeroCopy, err = p.oneOf(v, f, "auto", "on", "off")
		case "offloads":
			ic.Offloads, err = p.oneOf(v, f, "auto", "on", "off")
		case "mtu":
			ic.MTU, err = p.integer(v, f, 68)
		case "in":
			ic.In, err = p.str(v, f)
		case "out":
			ic.Out, err = p.str(v, f)
		case "addresses":
			err = p.seq(v, f, func(i int, a *yaml.Node) error {
				fi := fmt.Sprintf("%s[%d]", f, i)
				s, err := p.str(a, fi)
				if err != nil {
					return err
				}
				pfx, err := netip.ParsePrefix(s)
				if err != nil {
					return p.errAt(a, fi, "want an address with its prefix length (198.18.0.1/24), got %q", s)
				}
				ic.Addrs = append(ic.Addrs, pfx)
				ic.addrsPos = append(ic.addrsPos, pos{a.Line, a.Column})
				return nil
			})
		default:
			err = p.errAt(k, f, "unknown field (known: name, backend, queues, mode, zerocopy, offloads, mtu, addresses, in, out)")
		}
		return err
	})
	if err != nil {
		return ic, err
	}
	modes := map[string][]string{"afxdp": {"auto", "native", "generic"}, "tun": {"port", "host"}, "pcap": nil}
	if ic.Mode != "" && ic.Backend != "" {
		ok := false
		for _, m := range modes[ic.Backend] {
			ok = ok || m == ic.Mode
		}
		if !ok {
			return ic, &Error{File: p.file, Line: ic.backendAt.line, Col: ic.backendAt.col, Field: field + ".mode",
				Msg: fmt.Sprintf("mode %q is not a mode of the %s backend (%s)", ic.Mode, ic.Backend, strings.Join(modes[ic.Backend], ", "))}
		}
	}
	return ic, nil
}

func (p *parser) route(n *yaml.Node, field string) (Route, error) {
	rc := Route{Pos: pos{n.Line, n.Column}}
	var toNode *yaml.Node
	err := p.strFields(n, field, func(key, f string, k, v *yaml.Node, s string) (err error) {
		switch key {
		case "to":
			toNode = v
			switch s {
			case "default":
				rc.To = netip.MustParsePrefix("0.0.0.0/0")
			case "default6":
				rc.To = netip.MustParsePrefix("::/0")
			default:
				if rc.To, err = netip.ParsePrefix(s); err != nil {
					if a, e := netip.ParseAddr(s); e == nil {
						rc.To, err = netip.PrefixFrom(a, a.BitLen()), nil
					} else {
						return p.errAt(v, f, "want a prefix (198.18.2.0/24), an address, default or default6, got %q", s)
					}
				}
			}
		case "via":
			if rc.Via, err = netip.ParseAddr(s); err != nil {
				return p.errAt(v, f, "want a gateway address, got %q", s)
			}
		case "dev":
			rc.Dev = s
		case "type":
			t, ok := map[string]engine.RouteType{"unicast": engine.RouteUnicast, "blackhole": engine.RouteBlackhole,
				"unreachable": engine.RouteUnreachable, "prohibit": engine.RouteProhibit}[s]
			if !ok {
				return p.errAt(v, f, "unknown route type %q (want unicast, blackhole, unreachable or prohibit)", s)
			}
			rc.Type = t
		default:
			return p.errAt(k, f, "unknown field (known: to, via, dev, type)")
		}
		return nil
	})
	if err == nil && toNode == nil {
		err = p.errAt(n, field+".to", "missing")
	}
	return rc, err
}

func (p *parser) neigh(n *yaml.Node, field string) (Neighbor, error) {
	nc := Neighbor{Pos: pos{n.Line, n.Column}}
	have := 0
	err := p.strFields(n, field, func(key, f string, k, v *yaml.Node, s string) (err error) {
		switch key {
		case "dev":
			nc.Dev = s
		case "addr":
			if nc.Addr, err = netip.ParseAddr(s); err != nil {
				return p.errAt(v, f, "want an address, got %q", s)
			}
		case "mac":
			hw, err := net.ParseMAC(s)
			if err != nil || len(hw) != 6 {
				return p.errAt(v, f, "want a MAC address (02:00:00:00:00:01), got %q", s)
			}
			copy(nc.MAC[:], hw)
		default:
			return p.errAt(k, f, "unknown field (known: dev, addr, mac)")
		}
		have++
		return nil
	})
	if err == nil && have != 3 {
		err = p.errAt(n, field, "a neighbor needs dev, addr and mac")
	}
	return nc, err
}

// strFields is mapping for a mapping whose values are all strings: fn
// gets each key, its field's name, its nodes and its value.
func (p *parser) strFields(n *yaml.Node, field string, fn func(key, f string, k, v *yaml.Node, s string) error) error {
	return p.mapping(n, field, func(key string, k, v *yaml.Node) error {
		f := field + "." + key
		s, err := p.str(v, f)
		if err != nil {
			return err
		}
		return fn(key, f, k, v, s)
	})
}

// parseDuration reads Go durations, plain seconds, and days ("5d").
func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil {
			return 0, err
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}
