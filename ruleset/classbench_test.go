package ruleset

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/ruleset/internal/rulegen"
)

// The ClassBench acl1 sets and traces (see ../shared/data/classbench/
// README.md); tests and benchmarks skip when they are absent.
const classbenchDir = "../../shared/data/classbench"

func readGz(tb testing.TB, name string) []string {
	tb.Helper()
	return rulegen.ClassBenchLines(tb, filepath.Join(classbenchDir, name))
}

// classbenchRules reads a ClassBench rule file.
func classbenchRules(tb testing.TB, name string) []rulegen.Rule {
	var out []rulegen.Rule
	for _, line := range readGz(tb, name+".rules.gz") {
		fs := strings.Split(strings.TrimPrefix(line, "@"), "\t")
		var r rulegen.Rule
		r.Src, r.SrcLen = cbPrefix(fs[0])
		r.Dst, r.DstLen = cbPrefix(fs[1])
		fmt.Sscanf(fs[2], "%d : %d", &r.SportLo, &r.SportHi)
		fmt.Sscanf(fs[3], "%d : %d", &r.DportLo, &r.DportHi)
		var v, m uint8
		fmt.Sscanf(fs[4], "0x%x/0x%x", &v, &m)
		if m != 0 {
			r.Proto = v
		}
		out = append(out, r)
	}
	return out
}

func cbPrefix(s string) (uint32, int) {
	a, l, _ := strings.Cut(s, "/")
	n, _ := strconv.Atoi(l)
	b := netip.MustParseAddr(a).As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), n
}

type cbHeader struct {
	src, dst     uint32
	sport, dport uint16
	proto        uint8
	want         int // 1-based rule number
}

func classbenchTrace(tb testing.TB, name string) []cbHeader {
	var out []cbHeader
	for _, line := range readGz(tb, name+".trace.gz") {
		var h cbHeader
		fmt.Sscanf(line, "%d %d %d %d %d %d", &h.src, &h.dst, &h.sport, &h.dport, &h.proto, &h.want)
		out = append(out, h)
	}
	return out
}

func u32addr(a uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
}

// headerPacket builds the packet of a 5-tuple.
func headerPacket(tb testing.TB, src, dst uint32, sport, dport uint16, proto uint8) *packet.Packet {
	s, d := u32addr(src), u32addr(dst)
	var frame []byte
	switch proto {
	case 6:
		frame = pktbuild.TCP(netip.AddrPortFrom(s, sport), netip.AddrPortFrom(d, dport), packet.TCPFlagSYN, 1, 0, nil, nil)
	case 17:
		frame = pktbuild.UDP(netip.AddrPortFrom(s, sport), netip.AddrPortFrom(d, dport), nil, nil)
	default:
		frame = pktbuild.IPv4(s, d, proto, make([]byte, 8), nil)
	}
	p := packet.New()
	copy(p.SetFrame(len(frame)), frame)
	if r := p.Parse(packet.LinkRaw); r != packet.ReasonNone {
		tb.Fatalf("header packet does not parse: %v", r)
	}
	p.InIf = 2
	return p
}

func loadText(tb testing.TB, text string) *Ruleset {
	tb.Helper()
	cmds, err := Parse("gen.nft", []byte(text), ParseOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	rs, err := New(Options{Now: fixedClock()}).Apply(cmds)
	if err != nil {
		tb.Fatal(err)
	}
	return rs
}

// TestClassBenchTraces runs ClassBench's acl1 traces through Eval on the
// acl1 rule sets written as nft rules, and checks every answer against
// the trace's first matching rule.
func TestClassBenchTraces(t *testing.T) {
	for _, name := range []string{"acl1_1k", "acl1_10k", "acl1_100k"} {
		if testing.Short() && name != "acl1_1k" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			rules := classbenchRules(t, name)
			rs := loadText(t, rulegen.Text(rules, "accept"))
			chain := rs.tables[0].Chains[0]
			number := map[uint64]int{}
			for i, r := range chain.Rules {
				number[r.Handle] = i + 1
			}
			env := newEnv()
			trace := classbenchTrace(t, name)
			if testing.Short() {
				trace = trace[:20000]
			}
			for i, h := range trace {
				p := headerPacket(t, h.src, h.dst, h.sport, h.dport, h.proto)
				res := rs.Eval(0, p, env)
				if got := number[res.Handle]; got != h.want {
					t.Fatalf("header %d (%v:%d > %v:%d proto %d): rule %d, want %d", i, u32addr(h.src), h.sport, u32addr(h.dst), h.dport, h.proto, got, h.want)
				}
			}
		})
	}
}
