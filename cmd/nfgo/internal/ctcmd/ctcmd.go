package ctcmd

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/packet"
)

// Usage is the usage message of nfgo conntrack.
const Usage = `usage: nfgo conntrack [-s SOCKET] COMMAND [FILTERS]
commands: -L (list)  -E (events)  -S (statistics)  -C (count)  -G (get one)  -D (delete)  -F (flush)
filters:  -p PROTO  -f ipv4|ipv6  -s|--orig-src ADDR[/LEN]  -d|--orig-dst ADDR[/LEN]
          -r|--reply-src ADDR  -q|--reply-dst ADDR  --sport|--orig-port-src PORT  --dport|--orig-port-dst PORT
          --reply-port-src PORT  --reply-port-dst PORT  --state TCPSTATE  -m|--mark MARK[/MASK]
          -u|--status ASSURED,SEEN_REPLY,UNREPLIED,...  -w|--zone ZONE  -e|--event-mask NEW,UPDATE,DESTROY
          -o extended,id`

// ctQuery is a parsed conntrack command line.
type ctQuery struct {
	cmd     string // L, E, S, C, G, D, F
	filter  conntrack.Filter
	format  ctFormat
	evMask  conntrack.EventType
	sport   int // -1: any
	dport   int
	rsport  int
	rdport  int
	rsrc    netip.Prefix
	rdst    netip.Prefix
	state   int // TCP state, -1: any
	unrepl  bool
	src     netip.Addr // -G
	dst     netip.Addr
	natOnly conntrack.Status
}

func parseCTArgs(args []string) (*ctQuery, error) {
	q := &ctQuery{sport: -1, dport: -1, rsport: -1, rdport: -1, state: -1,
		evMask: conntrack.EventNew | conntrack.EventUpdate | conntrack.EventDestroy}
	commands := map[string]string{"-L": "L", "--dump": "L", "-E": "E", "--event": "E", "-S": "S", "--stats": "S",
		"-C": "C", "--count": "C", "-G": "G", "--get": "G", "-D": "D", "--delete": "D", "-F": "F", "--flush": "F"}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if c, ok := commands[a]; ok {
			if q.cmd != "" {
				return nil, fmt.Errorf("only one command at a time (%s and %s)", "-"+q.cmd, a)
			}
			q.cmd = c
			if i+1 < len(args) && (args[i+1] == "conntrack" || args[i+1] == "expect") {
				if args[i+1] == "expect" {
					return nil, fmt.Errorf("the expect table is not supported")
				}
				i++
			}
			continue
		}
		if a == "-n" || a == "--src-nat" {
			q.natOnly |= conntrack.StatusSrcNAT
			continue
		}
		if a == "-g" || a == "--dst-nat" {
			q.natOnly |= conntrack.StatusDstNAT
			continue
		}
		if i+1 >= len(args) {
			return nil, fmt.Errorf("%s: unknown option, or missing its value", a)
		}
		v := args[i+1]
		i++
		var err error
		switch a {
		case "-p", "--proto", "--protonum":
			p, ok := ctProtoNumber(v)
			if !ok {
				return nil, fmt.Errorf("unknown protocol %q", v)
			}
			q.filter.Proto = p
		case "-f", "--family":
			switch v {
			case "ipv4":
				q.filter.Family = packet.FamilyIPv4
			case "ipv6":
				q.filter.Family = packet.FamilyIPv6
			default:
				return nil, fmt.Errorf("unknown family %q (ipv4 or ipv6)", v)
			}
		case "-s", "--src", "--orig-src":
			q.filter.Src, err = prefixArg(v)
			q.src = q.filter.Src.Addr()
		case "-d", "--dst", "--orig-dst":
			q.filter.Dst, err = prefixArg(v)
			q.dst = q.filter.Dst.Addr()
		case "-r", "--reply-src":
			q.rsrc, err = prefixArg(v)
		case "-q", "--reply-dst":
			q.rdst, err = prefixArg(v)
		case "--sport", "--orig-port-src":
			q.sport, err = portArg(v)
		case "--dport", "--orig-port-dst":
			q.dport, err = portArg(v)
		case "--reply-port-src":
			q.rsport, err = portArg(v)
		case "--reply-port-dst":
			q.rdport, err = portArg(v)
		case "--state":
			q.state = -1
			for s := conntrack.TCPNone; s <= conntrack.TCPSynSent2; s++ {
				if strings.EqualFold(s.String(), v) {
					q.state = int(s)
				}
			}
			if q.state < 0 {
				return nil, fmt.Errorf("unknown TCP state %q", v)
			}
		case "-m", "--mark":
			m, mask, hasMask := strings.Cut(v, "/")
			mv, e1 := strconv.ParseUint(m, 0, 32)
			mk := uint64(0xffffffff)
			var e2 error
			if hasMask {
				mk, e2 = strconv.ParseUint(mask, 0, 32)
			}
			if e1 != nil || e2 != nil {
				return nil, fmt.Errorf("bad mark %q (MARK[/MASK])", v)
			}
			q.filter.Mark, q.filter.MarkMask = uint32(mv&mk), uint32(mk)
		case "-u", "--status":
			for _, s := range strings.Split(v, ",") {
				switch strings.ToUpper(s) {
				case "ASSURED":
					q.filter.Status |= conntrack.StatusAssured
				case "SEEN_REPLY":
					q.filter.Status |= conntrack.StatusSeenReply
				case "UNREPLIED":
					q.unrepl = true
				case "CONFIRMED":
					q.filter.Status |= conntrack.StatusConfirmed
				case "SRC_NAT":
					q.filter.Status |= conntrack.StatusSrcNAT
				case "DST_NAT":
					q.filter.Status |= conntrack.StatusDstNAT
				case "FIXED_TIMEOUT":
					q.filter.Status |= conntrack.StatusFixedTimeout
				case "EXPECTED":
					q.filter.Status |= conntrack.StatusExpected
				default:
					return nil, fmt.Errorf("unknown status %q", s)
				}
			}
		case "-w", "--zone":
			z, e := strconv.ParseUint(v, 10, 16)
			if e != nil {
				return nil, fmt.Errorf("bad zone %q", v)
			}
			q.filter.Zone, q.filter.ZoneSet = uint16(z), true
		case "-e", "--event-mask":
			q.evMask = 0
			for _, s := range strings.Split(v, ",") {
				switch strings.ToUpper(s) {
				case "NEW":
					q.evMask |= conntrack.EventNew
				case "UPDATE":
					q.evMask |= conntrack.EventUpdate
				case "DESTROY":
					q.evMask |= conntrack.EventDestroy
				case "ALL":
					q.evMask = conntrack.EventNew | conntrack.EventUpdate | conntrack.EventDestroy
				default:
					return nil, fmt.Errorf("unknown event %q", s)
				}
			}
		case "-o", "--output":
			for _, s := range strings.Split(v, ",") {
				switch s {
				case "extended":
					q.format.extended = true
				case "id":
					q.format.id = true
				default:
					return nil, fmt.Errorf("unsupported output format %q (extended, id)", s)
				}
			}
		default:
			return nil, fmt.Errorf("%s: unknown option", a)
		}
		if err != nil {
			return nil, err
		}
	}
	if q.cmd == "" {
		return nil, fmt.Errorf("no command: -L, -E, -S, -C, -G, -D or -F")
	}
	q.filter.Status |= q.natOnly
	q.filter.Match = q.match
	return q, nil
}

func prefixArg(v string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(v); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad address %q", v)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func portArg(v string) (int, error) {
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("bad port %q", v)
	}
	return int(n), nil
}

// match is what conntrack.Filter does not check itself.
func (q *ctQuery) match(x *conntrack.Entry) bool {
	port := func(want int, got uint16) bool { return want < 0 || int(got) == want }
	return port(q.sport, x.Orig.SrcPort) && port(q.dport, x.Orig.DstPort) &&
		port(q.rsport, x.Reply.SrcPort) && port(q.rdport, x.Reply.DstPort) &&
		(!q.rsrc.IsValid() || q.rsrc.Contains(x.Reply.SrcAddr())) &&
		(!q.rdst.IsValid() || q.rdst.Contains(x.Reply.DstAddr())) &&
		(q.state < 0 || x.Orig.Proto == packet.ProtoTCP && int(x.TCPState) == q.state) &&
		(!q.unrepl || x.Status&conntrack.StatusSeenReply == 0)
}

// Run carries out a conntrack command line against the table and returns
// its exit status. Without a hub, -E says that events are off.
func Run(ctx context.Context, ct *conntrack.Table, hub *EventHub, accounting bool, args []string, out, errOut io.Writer) int {
	q, err := parseCTArgs(args)
	if err != nil {
		fmt.Fprintf(errOut, "conntrack: %v\n%s\n", err, Usage)
		return 2
	}
	switch q.cmd {
	case "L":
		n := 0
		ct.List(q.filter, func(x conntrack.Entry) bool {
			fmt.Fprintln(out, formatEntry(&x, q.format, accounting))
			n++
			return true
		})
		fmt.Fprintf(errOut, "nfgo conntrack: %d flow entries have been shown.\n", n)
	case "C":
		n := 0
		ct.List(q.filter, func(conntrack.Entry) bool { n++; return true })
		fmt.Fprintln(out, n)
	case "S":
		// A line per engine worker, where the kernel prints one per CPU.
		lines := ct.WorkerStats()
		if len(lines) == 0 {
			lines = []conntrack.Stats{ct.Stats()}
		}
		for i, s := range lines {
			fmt.Fprintf(out, "cpu=%-4d\tfound=%d invalid=%d insert=%d insert_failed=%d drop=%d early_drop=%d error=%d search_restart=%d clash_resolve=%d chaintoolong=0 \n",
				i, s.Found, s.Invalid, s.Insert, s.InsertFailed, s.Drop, s.EarlyDrop, s.Error, s.SearchRestart, s.ClashResolve)
		}
	case "G":
		if !q.src.IsValid() || !q.dst.IsValid() || q.filter.Proto == 0 {
			fmt.Fprintln(errOut, "conntrack: -G needs -p, -s and -d (and --sport and --dport for tcp and udp)")
			return 2
		}
		k := conntrack.TupleFrom(netip.AddrPortFrom(q.src, uint16(max(q.sport, 0))), netip.AddrPortFrom(q.dst, uint16(max(q.dport, 0))), q.filter.Proto)
		x, ok := ct.Get(k)
		if !ok {
			fmt.Fprintln(errOut, "nfgo conntrack: Operation failed: such conntrack doesn't exist")
			return 1
		}
		fmt.Fprintln(out, formatEntry(&x, q.format, accounting))
		fmt.Fprintln(errOut, "nfgo conntrack: 1 flow entries have been shown.")
	case "D":
		n := ct.Flush(q.filter)
		fmt.Fprintf(errOut, "nfgo conntrack: %d flow entries have been deleted.\n", n)
	case "F":
		ct.Flush(conntrack.Filter{})
		fmt.Fprintln(errOut, "nfgo conntrack: connection tracking table has been emptied.")
	case "E":
		if hub == nil {
			fmt.Fprintln(errOut, "conntrack: events are off (conntrack.events: 0)")
			return 1
		}
		ch, cancel := hub.subscribe()
		defer cancel()
		n := 0
		for {
			select {
			case <-ctx.Done():
				fmt.Fprintf(errOut, "nfgo conntrack: %d flow events have been shown.\n", n)
				return 0
			case ev := <-ch:
				x := ev.Entry
				if ev.Type&q.evMask == 0 || !filterMatches(&q.filter, &x) {
					continue
				}
				f := q.format
				f.event = ev.Type
				if _, err := fmt.Fprintln(out, formatEntry(&x, f, accounting)); err != nil {
					return 0
				}
				n++
			}
		}
	}
	return 0
}

// filterMatches applies a Filter to an event's copy of an entry, as
// conntrack.Table does to the entries it lists.
func filterMatches(f *conntrack.Filter, x *conntrack.Entry) bool {
	k := &x.Orig
	if f.Family != 0 && k.Family != f.Family || f.Proto != 0 && k.Proto != f.Proto ||
		f.ZoneSet && x.Zone != f.Zone || x.Status&f.Status != f.Status ||
		f.MarkMask != 0 && x.Mark&f.MarkMask != f.Mark ||
		f.Src.IsValid() && !f.Src.Contains(k.SrcAddr()) || f.Dst.IsValid() && !f.Dst.Contains(k.DstAddr()) {
		return false
	}
	return f.Match == nil || f.Match(x)
}
