package ruleset

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

var diffLookups = flag.Int("diff.lookups", 0, "packet lookups of TestCompiledMatchesReference (0: 300k, or 30k with -short)")

// The differential test draws its values from small pools, so that random
// rules and random packets meet.
var (
	diffV4   = []string{"198.18.0.1", "198.18.0.2", "198.18.1.7", "198.19.255.254", "10.0.0.1", "10.1.2.3"}
	diffV6   = []string{"2001:db8::1", "2001:db8::2", "2001:db8:1::7", "2001:db8:ffff::1"}
	diffPort = []int{22, 53, 80, 443, 1024, 8080, 40000, 65535}
)

// randRulesetText writes a random table: a base chain and a few regular
// chains, jumps only forward (no loops), every kind of match the
// classifier indexes or leaves to the evaluator, non-terminal statements.
func randRulesetText(rng *rand.Rand, nrules int) string {
	return randRulesetTextOf(rng, nrules, nil)
}

// randRulesetTextValid is randRulesetText with every rule one that Parse
// and Apply accept alone in its chain (a rule is drawn again until it is).
func randRulesetTextValid(rng *rand.Rand, nrules int) string {
	return randRulesetTextOf(rng, nrules, func(fam string, chain, nchains int, rule string) bool {
		src := randTableText(fam, nchains, "accept", func(c int) []string {
			if c == chain {
				return []string{rule}
			}
			return nil
		})
		cmds, err := Parse("rule.nft", []byte(src), ParseOptions{})
		if err == nil {
			_, err = New(Options{Now: fixedClock()}).Apply(cmds)
		}
		return err == nil
	})
}

func randRulesetTextOf(rng *rand.Rand, nrules int, valid func(fam string, chain, nchains int, rule string) bool) string {
	fam := []string{"inet", "ip", "ip6"}[rng.IntN(3)]
	nchains := 1 + rng.IntN(4)
	policy := []string{"accept", "drop"}[rng.IntN(2)]
	return randTableText(fam, nchains, policy, func(c int) []string {
		n := nrules/nchains + rng.IntN(3)
		rules := make([]string, 0, n)
		for len(rules) < n {
			r := randRuleText(rng, fam, c, nchains)
			for try := 0; valid != nil && !valid(fam, c, nchains, r) && try < 100; try++ {
				r = randRuleText(rng, fam, c, nchains)
			}
			rules = append(rules, r)
		}
		return rules
	})
}

// randTableText writes table t of the family with its sets and map, and
// chains c0 (the base chain, with the policy) to c<nchains-1> holding
// rules(c).
func randTableText(fam string, nchains int, policy string, rules func(c int) []string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "table %s t {\n", fam)
	sb.WriteString(" set s4 { type ipv4_addr; flags interval; elements = { 198.18.0.0/24, 10.0.0.1 } }\n")
	sb.WriteString(" set sp { type inet_service; elements = { 22, 443 } }\n")
	sb.WriteString(" map vm { type inet_service : verdict; elements = { 80 : accept, 53 : drop } }\n")
	for c := 0; c < nchains; c++ {
		if c == 0 {
			fmt.Fprintf(&sb, " chain c0 { type filter hook input priority 0; policy %s;\n", policy)
		} else {
			fmt.Fprintf(&sb, " chain c%d {\n", c)
		}
		for _, r := range rules(c) {
			sb.WriteString("  " + r + "\n")
		}
		sb.WriteString(" }\n")
	}
	sb.WriteString("}\n")
	return sb.String()
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

func randV4(rng *rand.Rand) string {
	a := pick(rng, diffV4)
	switch rng.IntN(6) {
	case 0:
		return a + "/" + fmt.Sprint(pick(rng, []int{8, 15, 16, 24, 31}))
	case 1:
		return "!= " + a
	case 2:
		return "{ " + a + ", " + pick(rng, diffV4) + " }"
	case 3:
		return "198.18.0.0-198.18.1.200"
	}
	return a
}

func randV6(rng *rand.Rand) string {
	a := pick(rng, diffV6)
	switch rng.IntN(4) {
	case 0:
		return "2001:db8::/" + fmt.Sprint(pick(rng, []int{32, 48, 64, 127}))
	case 1:
		return "!= " + a
	case 2:
		return "2001:db8::1-2001:db8:1::ffff"
	}
	return a
}

func randPorts(rng *rand.Rand) string {
	p := pick(rng, diffPort)
	switch rng.IntN(7) {
	case 0:
		return fmt.Sprintf("%d-%d", p, p+rng.IntN(3000))
	case 1:
		return fmt.Sprintf("!= %d", p)
	case 2:
		return fmt.Sprintf("{ %d, %d, 30000-30010 }", p, pick(rng, diffPort))
	case 3:
		return fmt.Sprintf("< %d", p)
	case 4:
		return fmt.Sprintf(">= %d", p)
	case 5:
		return "@sp"
	}
	return fmt.Sprint(p)
}

func randMatch(rng *rand.Rand, fam string) string {
	for {
		switch rng.IntN(22) {
		case 0, 1:
			if fam != "ip6" {
				return "ip saddr " + randV4(rng)
			}
		case 2, 3:
			if fam != "ip6" {
				return "ip daddr " + randV4(rng)
			}
		case 4:
			if fam != "ip" {
				return "ip6 saddr " + randV6(rng)
			}
		case 5:
			if fam != "ip" {
				return "ip6 daddr " + randV6(rng)
			}
		case 6:
			return "meta l4proto " + pick(rng, []string{"tcp", "udp", "icmp", "{ tcp, udp }", "!= tcp"})
		case 7, 8:
			return pick(rng, []string{"tcp", "udp", "th"}) + " dport " + randPorts(rng)
		case 9:
			return pick(rng, []string{"tcp", "udp"}) + " sport " + randPorts(rng)
		case 10:
			return pick(rng, []string{"tcp flags syn", "tcp flags ! syn", "tcp flags & (syn | ack) == syn", "tcp flags syn / syn,ack", "tcp flags == ack"})
		case 11:
			return pick(rng, []string{"meta mark 0x1", "meta mark != 0x2", "meta mark 0x1-0x3", "meta mark { 0x2, 0x5 }"})
		case 12:
			return pick(rng, []string{"ct state established,related", "ct state new", "ct state != new", "ct state invalid", "ct direction reply"})
		case 13:
			return pick(rng, []string{"ct mark 0x7", "ct mark != 0x0"})
		case 14:
			return pick(rng, []string{`iifname "eth0"`, `iifname "wa*"`, `iif "lo"`, `iifname != "lo"`, `oifname "wan0"`})
		case 15:
			if fam != "ip6" {
				return pick(rng, []string{"ip ttl < 64", "ip ttl 1", "ip dscp ef", "ip protocol udp", "ip length > 100"})
			}
		case 16:
			if fam != "ip6" {
				return "ip saddr . tcp dport { 198.18.0.1 . 22, 10.0.0.0/8 . 80-90 }"
			}
		case 17:
			if fam != "ip6" {
				return "ip saddr @s4"
			}
		case 18:
			if fam != "ip6" {
				return pick(rng, []string{"icmp type echo-request", "icmp type { echo-request, echo-reply }"})
			}
		case 19:
			return pick(rng, []string{"meta nfproto ipv4", "meta pkttype host", "fib daddr type local"})
		case 20:
			return pick(rng, []string{"limit rate 3/second", "counter"})
		case 21:
			if fam != "ip" {
				return "icmpv6 type echo-request"
			}
		}
	}
}

func randRuleText(rng *rand.Rand, fam string, chain, nchains int) string {
	var parts []string
	if rng.IntN(10) == 0 {
		parts = append(parts, "counter")
	}
	for n := rng.IntN(4); n > 0; n-- {
		parts = append(parts, randMatch(rng, fam))
	}
	switch rng.IntN(20) {
	case 0, 1, 2:
		parts = append(parts, "accept")
	case 3, 4, 5:
		parts = append(parts, "drop")
	case 6:
		parts = append(parts, "continue")
	case 7:
		parts = append(parts, "return")
	case 8, 9, 10:
		if chain+1 < nchains {
			parts = append(parts, fmt.Sprintf("jump c%d", chain+1+rng.IntN(nchains-chain-1)))
		} else {
			parts = append(parts, "counter")
		}
	case 11:
		if chain+1 < nchains {
			parts = append(parts, fmt.Sprintf("goto c%d", chain+1+rng.IntN(nchains-chain-1)))
		}
	case 12, 13:
		parts = append(parts, fmt.Sprintf("meta mark set 0x%x", rng.IntN(8)))
	case 14:
		parts = append(parts, fmt.Sprintf("ct mark set 0x%x", rng.IntN(8)))
	case 15:
		parts = append(parts, "counter")
	case 16:
		parts = append(parts, "tcp dport vmap @vm")
	case 17:
		parts = append(parts, "reject")
	case 18:
		parts = append(parts, "ct mark set meta mark")
	default:
		parts = append(parts, fmt.Sprintf("meta mark set 0x%x accept", rng.IntN(8)))
	}
	if len(parts) == 0 {
		return "accept"
	}
	return strings.Join(parts, " ")
}

// randPacket builds a random packet with random metadata.
func randPacket(t testing.TB, rng *rand.Rand) *packet.Packet {
	var frame []byte
	o := &pktbuild.Options{TTL: uint8(pick(rng, []int{1, 63, 64})), TOS: uint8(pick(rng, []int{0, 46 << 2}))}
	if rng.IntN(3) == 0 {
		src, dst := netip.MustParseAddr(pick(rng, diffV6)), netip.MustParseAddr(pick(rng, diffV6))
		switch rng.IntN(3) {
		case 0:
			frame = pktbuild.ICMPEcho(src, dst, 1, 1, rng.IntN(2) == 0, nil, o)
		case 1:
			frame = pktbuild.UDP(netip.AddrPortFrom(src, uint16(pick(rng, diffPort))), netip.AddrPortFrom(dst, uint16(pick(rng, diffPort))), nil, o)
		default:
			frame = pktbuild.TCP(netip.AddrPortFrom(src, uint16(pick(rng, diffPort))), netip.AddrPortFrom(dst, uint16(pick(rng, diffPort))), uint8(rng.IntN(64)), 1, 1, nil, o)
		}
	} else {
		src, dst := netip.MustParseAddr(pick(rng, diffV4)), netip.MustParseAddr(pick(rng, diffV4))
		switch rng.IntN(4) {
		case 0:
			frame = pktbuild.ICMPEcho(src, dst, 1, 1, rng.IntN(2) == 0, nil, o)
		case 1:
			frame = pktbuild.UDP(netip.AddrPortFrom(src, uint16(pick(rng, diffPort)+rng.IntN(2))), netip.AddrPortFrom(dst, uint16(pick(rng, diffPort))), nil, o)
		default:
			frame = pktbuild.TCP(netip.AddrPortFrom(src, uint16(pick(rng, diffPort))), netip.AddrPortFrom(dst, uint16(pick(rng, diffPort)-rng.IntN(2))), uint8(rng.IntN(64)), 1, 1, nil, o)
		}
	}
	p := packet.New()
	copy(p.SetFrame(len(frame)), frame)
	if r := p.Parse(packet.LinkRaw); r != packet.ReasonNone {
		t.Fatalf("random packet does not parse: %v", r)
	}
	p.InIf = uint32(rng.IntN(4))
	p.OutIf = uint32(rng.IntN(4))
	p.Mark = uint32(rng.IntN(6))
	if rng.IntN(4) > 0 {
		p.CT = 1 + uint32(rng.IntN(3))
		p.CTInfo = uint8(pick(rng, []conntrack.CTInfo{conntrack.InfoNew, conntrack.InfoEstablished, conntrack.InfoEstablishedReply, conntrack.InfoRelated}))
	}
	return p
}

// TestCompiledMatchesReference is the differential test of the compiled
// matchers: random rulesets, random packets, Eval against EvalReference,
// comparing the result, the packet's metadata and the connection marks
// afterwards. Every ruleset is built twice, so that the stateful
// statements (limit, counters) of the two evaluators do not meet.
func TestCompiledMatchesReference(t *testing.T) {
	total := *diffLookups
	if total == 0 {
		total = 300_000
		if testing.Short() {
			total = 30_000
		}
	}
	seed := rand.Uint64()
	t.Logf("seed %d, %d lookups", seed, total)
	rng := rand.New(rand.NewPCG(seed, 2))
	done, sets, bigSets, reordered := 0, 0, 0, 0
	for done < total {
		n := 1 + rng.IntN(60)
		src := ""
		if rng.IntN(100) == 0 {
			// Chains of hundreds of boxes, which the classifier builds
			// with each of its tunings to keep the cheapest, and whose
			// dimensions it may reorder. Nearly every ruleset this long
			// would hold a rule nft refuses (a port range past 65535, tcp
			// and udp in one rule), so each rule is checked alone first.
			src = randRulesetTextValid(rng, 600+rng.IntN(400))
			bigSets++
		} else {
			src = randRulesetText(rng, n)
		}
		cmds, err := Parse("diff.nft", []byte(src), ParseOptions{})
		if err != nil {
			continue // a random combination nft refuses too
		}
		fast, err := New(Options{Now: fixedClock()}).Apply(cmds)
		if err != nil {
			continue
		}
		cmds2, _ := Parse("diff.nft", []byte(src), ParseOptions{})
		ref, err := New(Options{Now: fixedClock()}).Apply(cmds2)
		if err != nil {
			t.Fatal(err)
		}
		sets++
		reordered += reorderedChains(fast)
		envA, envB := newEnv(), newEnv()
		for i := 0; i < 500; i++ {
			pa := randPacket(t, rng)
			pb := packet.New()
			*pb = *pa
			pb.Buf = append([]byte(nil), pa.Buf...)
			pb.Frame = pb.Buf[packet.Headroom : packet.Headroom+len(pa.Frame)]
			mark := uint32(rng.IntN(8))
			envA.marks[pa.CT], envB.marks[pb.CT] = mark, mark
			got := fast.Eval(0, pa, envA)
			want := ref.EvalReference(0, pb, envB)
			if got != want || pa.Mark != pb.Mark || pa.Flags != pb.Flags || pa.CTInfo != pb.CTInfo || envA.marks[pa.CT] != envB.marks[pb.CT] {
				t.Fatalf("seed %d, ruleset %d, packet %d: compiled %+v mark %#x ctmark %#x, reference %+v mark %#x ctmark %#x\nruleset:\n%s",
					seed, sets, i, got, pa.Mark, envA.marks[pa.CT], want, pb.Mark, envB.marks[pb.CT], fast)
			}
			done++
		}
	}
	t.Logf("%d rulesets (%d of 600 rules or more, %d chains reordered), %d lookups, no mismatch", sets, bigSets, reordered, done)
}

// reorderedChains counts the chains of rs whose matcher checks the
// dimensions in another order than the selectors'.
func reorderedChains(rs *Ruleset) int {
	n := 0
	for _, tb := range rs.tables {
		for _, ch := range tb.Chains {
			if ch.prog != nil && !slices.IsSortedFunc(ch.prog.dims, func(a, b dimKey) int {
				if dimLess(a, b) {
					return -1
				}
				return 1
			}) {
				n++
			}
		}
	}
	return n
}

// TestIncrementalMatchesReference changes random rulesets a rule at a time
// (add, insert at a position, replace, delete), as the compiled matchers
// are changed in place rather than rebuilt, and checks Eval against
// EvalReference after every change.
func TestIncrementalMatchesReference(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	rounds := 20
	if testing.Short() {
		rounds = 8
	}
	reordered := 0
	defer func() { t.Logf("%d chains reordered", reordered) }()
	for round := 0; round < rounds; round++ {
		src := ""
		if round%4 == 3 {
			// Chains long enough to be tuned and reordered, changed in
			// place in their dimensions' order.
			src = randRulesetTextValid(rng, 600+rng.IntN(400))
		} else {
			src = randRulesetText(rng, 20+rng.IntN(40))
		}
		src = strings.ReplaceAll(src, "limit rate 3/second", "counter")
		cmds, err := Parse("inc.nft", []byte(src), ParseOptions{})
		if err != nil {
			continue
		}
		rs, err := New(Options{Now: fixedClock()}).Apply(cmds)
		if err != nil {
			continue
		}
		reordered += reorderedChains(rs)
		fam := strings.Fields(src)[1]
		for step := 0; step < 30; step++ {
			chains := rs.Tables()[0].Chains
			ci := rng.IntN(len(chains))
			ch := chains[ci]
			rule := strings.ReplaceAll(randRuleText(rng, fam, ci, len(chains)), "limit rate 3/second", "counter")
			var cmd string
			switch op := rng.IntN(4); {
			case op == 0 || len(ch.Rules) == 0:
				cmd = fmt.Sprintf("add rule %s t %s %s", fam, ch.Name, rule)
			case op == 1:
				cmd = fmt.Sprintf("insert rule %s t %s position %d %s", fam, ch.Name, pick(rng, ch.Rules).Handle, rule)
			case op == 2:
				cmd = fmt.Sprintf("replace rule %s t %s handle %d %s", fam, ch.Name, pick(rng, ch.Rules).Handle, rule)
			default:
				cmd = fmt.Sprintf("delete rule %s t %s handle %d", fam, ch.Name, pick(rng, ch.Rules).Handle)
			}
			cmds, err := Parse("step.nft", []byte(cmd+"\n"), ParseOptions{})
			if err != nil {
				continue
			}
			next, err := rs.Apply(cmds)
			if err != nil {
				continue
			}
			for i := 0; i < 100; i++ {
				pa := randPacket(t, rng)
				pb := packet.New()
				*pb = *pa
				pb.Buf = append([]byte(nil), pa.Buf...)
				pb.Frame = pb.Buf[packet.Headroom : packet.Headroom+len(pa.Frame)]
				envA, envB := newEnv(), newEnv()
				got, want := next.Eval(0, pa, envA), next.EvalReference(0, pb, envB)
				if got != want || pa.Mark != pb.Mark || envA.marks[pa.CT] != envB.marks[pb.CT] {
					t.Fatalf("seed %d: after %q: compiled %+v, reference %+v\n%s", seed, cmd, got, want, next)
				}
				// The ruleset before the change must still judge as before.
				pc := packet.New()
				*pc = *pb
				pc.Buf = append([]byte(nil), pb.Buf...)
				pc.Frame = pc.Buf[packet.Headroom : packet.Headroom+len(pa.Frame)]
				if i%10 == 0 {
					pd := packet.New()
					*pd = *pc
					pd.Buf = append([]byte(nil), pc.Buf...)
					pd.Frame = pd.Buf[packet.Headroom : packet.Headroom+len(pa.Frame)]
					if g, w := rs.Eval(0, pc, newEnv()), rs.EvalReference(0, pd, newEnv()); g != w {
						t.Fatalf("seed %d: the old ruleset changed after %q: %+v vs %+v", seed, cmd, g, w)
					}
				}
			}
			rs = next
		}
	}
}
