package ruleset

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"testing"

	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/ruleset/internal/rulegen"
)

// bigRuleset is an ACL of n rules in ip filter input, next to a small
// chain of the same table, a verdict map and a second table, so that a
// change to the big chain has neighbours that must not change.
func bigRuleset(tb testing.TB, n int) (*Ruleset, []rulegen.Rule) {
	rules := rulegen.Classic(rulegen.ACL, n, 5)
	text := rulegen.Text(rules, "accept")
	text += "table ip filter {\n set blocked { type ipv4_addr; elements = { 192.0.2.1 } }\n" +
		" map ports { type inet_service : verdict; elements = { 2222 : jump aux } }\n" +
		" chain aux {\n  ip saddr @blocked drop\n  tcp dport 2222 counter accept\n }\n" +
		" chain forward { type filter hook forward priority 0; policy drop;\n  tcp dport vmap @ports\n  meta l4proto udp jump aux\n }\n}\n" +
		"table ip other {\n chain out { type filter hook output priority 0; policy accept;\n  tcp dport 25 drop\n  jump sub\n }\n" +
		" chain sub {\n  udp dport 53 accept\n }\n}\n"
	return loadText(tb, text), rules
}

// chainOf is the chain of that table and name in rs.
func chainOf(tb testing.TB, rs *Ruleset, table, name string) *Chain {
	for _, t := range rs.Tables() {
		if t.Name == table {
			if c := rs.index[t].chain(name); c != nil {
				return c
			}
		}
	}
	tb.Fatalf("no chain %s %s", table, name)
	return nil
}

// sameJudgement checks that a and b, which hold the same rules with other
// handles, judge packets alike on every base chain: the same verdict from
// the same chain and rule (by position).
func sameJudgement(t *testing.T, seed uint64, a, b *Ruleset, pkts []*packet.Packet) {
	t.Helper()
	position := func(rs *Ruleset, res Result) int {
		if res.Policy {
			return -1
		}
		c := chainOf(t, rs, res.Table, res.Chain)
		return slices.IndexFunc(c.Rules, func(r *Rule) bool { return r.Handle == res.Handle })
	}
	for id := range a.BaseChains() {
		for i, p := range pkts {
			pa, pb := clonePacket(p), clonePacket(p)
			ra, rb := a.Eval(id, pa, newEnv()), b.Eval(id, pb, newEnv())
			if ra.Verdict != rb.Verdict || ra.Chain != rb.Chain || ra.Policy != rb.Policy || position(a, ra) != position(b, rb) {
				t.Fatalf("seed %d: base chain %d, packet %d: changed %+v (rule %d), from scratch %+v (rule %d)",
					seed, id, i, ra, position(a, ra), rb, position(b, rb))
			}
			if i%16 != 0 {
				continue // the linear walk is slow on a big chain
			}
			if ref := a.EvalReference(id, clonePacket(p), newEnv()); ref != ra {
				t.Fatalf("seed %d: base chain %d, packet %d: Eval %+v, EvalReference %+v", seed, id, i, ra, ref)
			}
		}
	}
}

func clonePacket(p *packet.Packet) *packet.Packet {
	q := packet.New()
	*q = *p
	q.Buf = append([]byte(nil), p.Buf...)
	q.Frame = q.Buf[packet.Headroom : packet.Headroom+len(p.Frame)]
	return q
}

// aclPackets are random points of random rules, and some random packets.
func aclPackets(tb testing.TB, rng *rand.Rand, rules []rulegen.Rule, n int) []*packet.Packet {
	out := make([]*packet.Packet, 0, n)
	for len(out) < n {
		out = append(out, rulePoint(tb, rng, &rules[rng.IntN(len(rules))]))
		if rng.IntN(4) == 0 {
			out = append(out, headerPacket(tb, 0xc0000201, rng.Uint32(), uint16(rng.IntN(65536)), pick(rng, []uint16{22, 25, 53, 2222}), pick(rng, []uint8{6, 17})))
		}
	}
	return out
}

func TestASmallChangeToABigChainSharesTheRest(t *testing.T) {
	n := 10000 // big enough for chunks of the matcher to be shared, small enough for -race
	if testing.Short() {
		n = 3000
	}
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 8))
	rs, rules := bigRuleset(t, n)
	input := chainOf(t, rs, "filter", "input")
	mid := input.Rules[n/2]
	steps := []struct{ name, cmd string }{
		{"an insert in the middle", fmt.Sprintf("insert rule ip filter input position %d ip saddr 198.18.0.1 tcp dport 22 drop", mid.Handle)},
		{"a delete in the middle", fmt.Sprintf("delete rule ip filter input handle %d", mid.Handle)},
		{"a replace at the start", fmt.Sprintf("replace rule ip filter input handle %d tcp dport 2222 drop", input.Rules[0].Handle)},
		{"a rule added at the end", "add rule ip filter input meta l4proto udp drop"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			next, err := rs.Apply(parseCmds(t, st.cmd))
			if err != nil {
				t.Fatal(err)
			}
			if next.Tables()[1] != rs.Tables()[1] {
				t.Error("the table the change did not touch was copied")
			}
			for _, name := range []string{"aux", "forward"} {
				if a, b := chainOf(t, rs, "filter", name), chainOf(t, next, "filter", name); a != b || a.prog != b.prog {
					t.Errorf("chain %s was copied or recompiled", name)
				}
			}
			changed := chainOf(t, next, "filter", "input")
			if changed == input || changed.prog == input.prog {
				t.Fatal("the changed chain kept its matcher")
			}
			shared := 0
			for k := range min(len(changed.prog.slots), len(input.prog.slots)) {
				if &changed.prog.slots[k][0] == &input.prog.slots[k][0] {
					shared++
				}
			}
			if shared < len(input.prog.slots)-2 {
				t.Errorf("the matcher shares %d of %d chunks of rule slots: not changed in place", shared, len(input.prog.slots))
			}
			scratch := loadText(t, next.String())
			sameJudgement(t, seed, next, scratch, aclPackets(t, rng, rules, 1000))
		})
	}
	t.Run("more deletes than the classifier keeps", func(t *testing.T) {
		cur := rs
		for i := 0; i < 2*maxDead+5; i++ {
			c := chainOf(t, cur, "filter", "input")
			r := c.Rules[rng.IntN(len(c.Rules))]
			next, err := cur.Apply(parseCmds(t, fmt.Sprintf("delete rule ip filter input handle %d", r.Handle)))
			if err != nil {
				t.Fatal(err)
			}
			if nc := chainOf(t, next, "filter", "input"); len(nc.prog.dead) > maxDead || nc.prog.bytes() > 2*c.prog.bytes() {
				t.Fatalf("%d deleted rules kept, %d bytes", len(nc.prog.dead), nc.prog.bytes())
			}
			cur = next
		}
		sameJudgement(t, seed, cur, loadText(t, cur.String()), aclPackets(t, rng, rules, 1000))
	})
}

// errPlace is the file:line:col an error must start with.
var errPlace = regexp.MustCompile(`^\w+\.nft:\d+:\d+: `)

func TestAFailingTransactionOnABigRulesetChangesNothing(t *testing.T) {
	n := 10000 // big enough for chunks of the matcher to be shared, small enough for -race
	if testing.Short() {
		n = 3000
	}
	rs, _ := bigRuleset(t, n)
	input := chainOf(t, rs, "filter", "input")
	before := rs.String()
	progs := map[*Chain]*chainProg{}
	for _, tb := range rs.Tables() {
		for _, c := range tb.Chains {
			progs[c] = c.prog
		}
	}
	cases := []struct {
		name, cmds string
		want       error
	}{
		{"a jump to a missing chain", fmt.Sprintf("insert rule ip filter input position %d jump nowhere", input.Rules[n/2].Handle), ErrNotFound},
		{"a rule on a missing set", "add rule ip filter input ip saddr @nope drop", ErrNotFound},
		{"a rule on a missing counter", "add rule ip filter aux counter name nope", ErrNotFound},
		{"deleting a chain a rule jumps to", "delete rule ip filter input handle " + fmt.Sprint(input.Rules[0].Handle) + "\ndelete chain ip other sub", ErrInUse},
		{"deleting a chain a verdict map jumps to", "flush chain ip filter forward\ndelete chain ip filter aux", ErrInUse},
		{"deleting a set a rule matches on", "delete set ip filter blocked", ErrInUse},
		{"a loop through a new chain", "add chain ip filter loop\nadd rule ip filter loop jump aux\nadd rule ip filter aux jump loop", ErrLoop},
		{"a loop through the verdict map", "add element ip filter ports { 1 : jump aux }\nadd rule ip filter aux tcp dport vmap @ports", ErrLoop},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rs.Apply(parseCmds(t, tc.cmds))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !errPlace.MatchString(err.Error()) {
				t.Errorf("%q does not name the line and column", err)
			}
			if rs.Generation() != 1 {
				t.Errorf("generation %d", rs.Generation())
			}
			for _, tb := range rs.Tables() {
				for _, c := range tb.Chains {
					if progs[c] == nil || c.prog != progs[c] {
						t.Fatalf("chain %s changed", c.Name)
					}
				}
			}
			if rs.String() != before {
				t.Fatal("the ruleset in force changed")
			}
		})
	}
	// And it still takes a good transaction.
	if _, err := rs.Apply(parseCmds(t, "add chain ip filter sub2\nadd rule ip filter aux jump sub2")); err != nil {
		t.Fatal(err)
	}
}

// TestBaseChainsAfterChanges checks the base chain list a transaction
// builds from the previous one against the list of the same ruleset
// loaded from scratch.
func TestBaseChainsAfterChanges(t *testing.T) {
	rs := mustLoad(t, "b.nft", []byte("table ip a {\n chain x { type filter hook input priority 0; }\n chain r {\n }\n chain y { type filter hook input priority 0; }\n}\n"+
		"table ip b {\n chain z { type filter hook input priority 0; }\n}\n"))
	steps := []string{
		"add chain ip a w { type filter hook input priority 0; }",
		"delete chain ip a x",
		"delete chain ip a y\nadd chain ip a y { type filter hook input priority 0; }",
		"add rule ip a r accept\nadd chain ip b v { type filter hook input priority -1; policy drop; }",
		"add chain ip a w { type filter hook input priority 0; policy drop; }",
		"add table ip c { chain u { type filter hook input priority 0; } }\ndelete table ip b",
	}
	list := func(rs *Ruleset) string { return fmt.Sprint(rs.BaseChains()) }
	for _, st := range steps {
		next, err := rs.Apply(parseCmds(t, st))
		if err != nil {
			t.Fatalf("%q: %v", st, err)
		}
		if got, want := list(next), list(mustLoad(t, "again.nft", []byte(next.String()))); got != want {
			t.Fatalf("after %q:\n got %s\nwant %s", st, got, want)
		}
		rs = next
	}
}
