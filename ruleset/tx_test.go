package ruleset

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func parseCmds(t *testing.T, src string) []Command {
	t.Helper()
	cmds, err := Parse("tx.nft", []byte(src), ParseOptions{})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return cmds
}

const baseRuleset = "table ip t {\n chain c { type filter hook input priority 0; policy accept;\n tcp dport 22 accept\n }\n chain sub {\n }\n}\n"

func TestABadBatchChangesNothing(t *testing.T) {
	rs := mustLoad(t, "base.nft", []byte(baseRuleset))
	before := rs.String()
	_, err := rs.Apply(parseCmds(t, "add rule ip t c udp dport 53 accept\nadd rule ip t c jump missing\n"))
	if err == nil || !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want a missing chain", err)
	}
	if got := rs.String(); got != before {
		t.Errorf("the ruleset changed:\n%s", got)
	}
	if rs.Generation() != 1 {
		t.Errorf("generation %d", rs.Generation())
	}
}

func TestGenerationCountsSwaps(t *testing.T) {
	rs := New(Options{})
	if rs.Generation() != 0 {
		t.Fatal("a new ruleset is generation 0")
	}
	for i := 1; i <= 3; i++ {
		next, err := rs.Apply(parseCmds(t, "add table ip t"))
		if err != nil {
			t.Fatal(err)
		}
		if next.Generation() != uint64(i) {
			t.Errorf("generation %d, want %d", next.Generation(), i)
		}
		rs = next
	}
	if _, err := rs.Apply(parseCmds(t, "delete table ip nope")); err == nil {
		t.Fatal("deleting a missing table must fail")
	}
	if rs.Generation() != 3 {
		t.Error("a failed batch must not count")
	}
}

func TestJumpLoopsAreRefused(t *testing.T) {
	rs := mustLoad(t, "base.nft", []byte(baseRuleset))
	cases := map[string]string{
		"a chain jumping to itself":    "add rule ip t sub jump sub",
		"a loop through two chains":    "add chain ip t a\nadd rule ip t sub jump a\nadd rule ip t a goto sub",
		"a loop through a verdict map": "add chain ip t a\nadd rule ip t sub tcp dport vmap { 1 : jump a }\nadd rule ip t a jump sub",
		"a loop through a named map": "add map ip t m { type inet_service : verdict; }\nadd chain ip t a\nadd rule ip t sub tcp dport vmap @m\n" +
			"add rule ip t a jump sub\nadd element ip t m { 1 : jump a }",
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := rs.Apply(parseCmds(t, src))
			if !errors.Is(err, ErrLoop) {
				t.Fatalf("err = %v, want a chain loop", err)
			}
		})
	}
	t.Run("an element update that would close a loop", func(t *testing.T) {
		rs := mustLoad(t, "m.nft", []byte("table ip t {\n map m { type inet_service : verdict; }\n chain a { tcp dport vmap @m\n }\n chain b { jump a\n }\n}\n"))
		live := NewLive(rs)
		err := live.UpdateElements(parseCmds(t, "add element ip t m { 1 : jump b }"))
		if !errors.Is(err, ErrLoop) {
			t.Fatalf("err = %v, want a chain loop", err)
		}
	})
}

func TestDeepNestingIsRefused(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("table ip t {\n")
	for i := 0; i < 17; i++ {
		sb.WriteString("chain c" + itoa(i) + " {\n jump c" + itoa(i+1) + "\n}\n")
	}
	sb.WriteString("chain c17 {\n}\n}\n")
	cmds := parseCmds(t, sb.String())
	if _, err := New(Options{}).Apply(cmds); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Fatalf("err = %v", err)
	}
}

func TestBaseChainsAreOrdered(t *testing.T) {
	src := "table ip a {\n chain late { type filter hook input priority 10; }\n chain early { type filter hook input priority -10; }\n chain pre { type filter hook prerouting priority 0; }\n}\n" +
		"table ip6 b {\n chain in { type filter hook input priority 0; policy drop; }\n}\n" +
		"table netdev n {\n chain ing { type filter hook ingress device \"eth0\" priority 0; }\n}\n"
	rs := mustLoad(t, "b.nft", []byte(src))
	var got []string
	for i, b := range rs.BaseChains() {
		if b.ID != i {
			t.Errorf("ID %d at %d", b.ID, i)
		}
		got = append(got, b.Family.String()+"/"+b.Hook.String()+"/"+b.Chain+"/"+itoa(b.Priority)+"/"+b.Policy.String()+"/"+b.Device)
	}
	want := "ip/prerouting/pre/0/accept/ ip/input/early/-10/accept/ ip/input/late/10/accept/ netdev/ingress/ing/0/accept/eth0 ip6/input/in/0/drop/"
	if strings.Join(got, " ") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
}

func TestRuleHandles(t *testing.T) {
	rs := mustLoad(t, "base.nft", []byte(baseRuleset))
	next, err := rs.Apply(parseCmds(t, "insert rule ip t c udp dport 1 accept\nadd rule ip t c handle 3 udp dport 2 accept\n"+
		"replace rule ip t c handle 3 tcp dport 23 accept\ndelete rule ip t c handle 4\n"))
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, r := range next.Tables()[0].Chains[0].Rules {
		rules = append(rules, itoa(int(r.Handle))+":"+r.String())
	}
	if got := strings.Join(rules, "|"); got != "3:tcp dport 23 accept|5:udp dport 2 accept" {
		t.Errorf("rules %s", got)
	}
}

func TestFlushAndDelete(t *testing.T) {
	rs := mustLoad(t, "base.nft", []byte(baseRuleset+"table ip6 u {\n}\n"))
	next, err := rs.Apply(parseCmds(t, "flush chain ip t c\ndelete chain ip t sub\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := next.String(); got != "table ip t {\n\tchain c {\n\t\ttype filter hook input priority filter; policy accept;\n\t}\n}\ntable ip6 u {\n}\n" {
		t.Errorf("got\n%s", got)
	}
	next, err = next.Apply(parseCmds(t, "flush ruleset ip6"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(next.String(), "ip6") || !strings.Contains(next.String(), "table ip t") {
		t.Errorf("flush ruleset ip6:\n%s", next)
	}
	next, err = next.Apply(parseCmds(t, "flush ruleset"))
	if err != nil || next.String() != "" || len(next.BaseChains()) != 0 {
		t.Errorf("flush ruleset: %v %q", err, next)
	}
}

func TestElementsChangeWithoutASwap(t *testing.T) {
	src := "table ip t {\n set s { type ipv4_addr; }\n chain c { type filter hook input priority 0; policy accept;\n ip saddr @s drop\n }\n}\n"
	live := NewLive(mustLoad(t, "s.nft", []byte(src)))
	rs := live.Load()
	env := newEnv()
	if rs.Eval(0, mkpkt(t, tcpSyn), env).Verdict != NFAccept {
		t.Fatal("empty set matched")
	}
	if err := live.UpdateElements(parseCmds(t, "add element ip t s { 198.18.0.1 }")); err != nil {
		t.Fatal(err)
	}
	if live.Load() != rs || rs.Generation() != 1 {
		t.Fatal("an element update must not swap the ruleset")
	}
	if rs.Eval(0, mkpkt(t, tcpSyn), env).Verdict != NFDrop {
		t.Fatal("added element does not match")
	}
	err := live.UpdateElements(parseCmds(t, "add element ip t s { 198.18.0.5 }\ndelete element ip t s { 198.18.0.9 }"))
	if !errors.Is(err, ErrElemNotFound) {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(rs.String(), "198.18.0.5") {
		t.Error("a failed element batch changed the set")
	}
	// A swap keeps the elements of a set it does not touch.
	next, err := live.Apply(parseCmds(t, "add rule ip t c accept"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(next.String(), "elements = { 198.18.0.1 }") {
		t.Errorf("elements lost:\n%s", next)
	}
	// And a transaction that changes elements leaves the old ruleset alone.
	after, err := next.Apply(parseCmds(t, "add element ip t s { 198.18.0.7 }"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(next.String(), "198.18.0.7") || !strings.Contains(after.String(), "198.18.0.7") {
		t.Error("a transaction's element change leaked into the old ruleset")
	}
}

// TestSwapUnderLoad runs workers over a live ruleset while it is swapped
// between two versions. Each version's chain marks the packet with its
// own number in two rules; a packet judged by a mix would carry mixed
// marks or a verdict that does not match its marks.
func TestSwapUnderLoad(t *testing.T) {
	version := func(n string, verdict string) []Command {
		return parseCmds(t, "flush ruleset\ntable ip t {\n chain c { type filter hook input priority 0; policy accept;\n"+
			" meta mark set "+n+"\n jump sub\n }\n chain sub {\n meta mark "+n+" "+verdict+"\n drop\n }\n}\n")
	}
	live := NewLive(New(Options{}))
	if _, err := live.Apply(version("1", "accept")); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var bad atomic.Int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env := newEnv()
			p := mkpkt(t, tcpSyn)
			for !stop.Load() {
				rs := live.Load()
				p.Mark = 0
				res := rs.Eval(0, p, env)
				switch {
				case p.Mark == 1 && res.Verdict == NFAccept:
				case p.Mark == 2 && res.Verdict == NFQueue:
				default:
					bad.Add(1)
				}
			}
		}()
	}
	for i := 0; i < 200; i++ {
		v := version("1", "accept")
		if i%2 == 0 {
			v = version("2", "queue num 1")
		}
		if _, err := live.Apply(v); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if bad.Load() != 0 {
		t.Errorf("%d packets judged by a mix of rulesets", bad.Load())
	}
	if live.Load().Generation() != 201 {
		t.Errorf("generation %d, want 201", live.Load().Generation())
	}
}

// TestDeletingWhatIsInUse: a chain or set is in use while a rule refers
// to it at that point of the batch, as the kernel checks it (EBUSY): the
// order of the commands decides.
func TestDeletingWhatIsInUse(t *testing.T) {
	rs := mustLoad(t, "base.nft", []byte("table ip t {\n set s { type ipv4_addr; }\n chain other {\n }\n chain c {\n  ip saddr @s jump other\n }\n}\n"))
	for _, tc := range []struct {
		cmds string
		want error
	}{
		{"delete chain ip t other\nflush chain ip t c", ErrInUse},
		{"flush chain ip t c\ndelete chain ip t other", nil},
		{"delete set ip t s\nflush chain ip t c", ErrInUse},
		{"flush chain ip t c\ndelete set ip t s", nil},
		{"add rule ip t c jump n2\nadd chain ip t n2", ErrNotFound},
		{"add chain ip t n2\nadd rule ip t c jump n2", nil},
	} {
		if _, err := rs.Apply(parseCmds(t, tc.cmds)); !errors.Is(err, tc.want) {
			t.Errorf("%q: err = %v, want %v", tc.cmds, err, tc.want)
		}
	}
}
