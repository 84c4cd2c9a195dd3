package lint

import (
	"strings"
	"testing"

	"github.com/nfgo/nfgo/ruleset"
)

// check lints a chain of the given rules in a table of family fam and
// returns the kinds of its findings by rule number (from 1).
func check(t *testing.T, fam string, rules ...string) map[int]string {
	t.Helper()
	src := "table " + fam + " t {\n\tchain c {\n\t\ttype filter hook input priority 0; policy accept;\n"
	for _, r := range rules {
		src += "\t\t" + r + "\n"
	}
	src += "\t}\n\tchain x {\n\t\tcounter\n\t}\n\tchain m {\n\t\tmeta mark set 0x2\n\t}\n}\n"
	cmds, err := ruleset.Parse("t.nft", []byte(src), ruleset.ParseOptions{})
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	out := map[int]string{}
	for _, f := range Check(cmds) {
		if f.Kind == "unused-chain" {
			continue
		}
		out[f.Pos.Line-3] = f.Kind
	}
	return out
}

func TestLint(t *testing.T) {
	tests := []struct {
		name  string
		fam   string
		rules []string
		want  map[int]string
	}{
		{"a port inside an earlier set is shadowed", "inet", []string{"tcp dport { 22, 80 } drop", "tcp dport 80 accept"}, map[int]string{2: "shadowed"}},
		{"a narrower prefix after a wider one is shadowed", "ip", []string{"ip saddr 198.18.0.0/16 drop", "ip saddr 198.18.3.0/24 tcp dport 1 accept"}, map[int]string{2: "shadowed"}},
		{"a wider prefix after a narrower one is not", "ip", []string{"ip saddr 198.18.0.0/24 accept", "ip saddr 198.18.0.0/16 drop"}, map[int]string{}},
		{"a rule with a limit hides nothing", "inet", []string{"tcp dport 22 limit rate 1/second accept", "tcp dport 22 drop"}, map[int]string{}},
		{"a jump hides nothing: the chain may return", "inet", []string{"tcp dport 22 jump x", "tcp dport 22 drop"}, map[int]string{}},
		{"a goto ends the walk", "inet", []string{"tcp dport 22 goto x", "tcp dport 22 drop"}, map[int]string{2: "shadowed"}},
		{"a rule without a verdict hides nothing", "inet", []string{"tcp dport 22 counter", "tcp dport 22 drop"}, map[int]string{}},
		{"ct state is one state of five", "inet", []string{"ct state established,related accept", "ct state established tcp dport 80 accept", "ct state new accept"}, map[int]string{2: "shadowed"}},
		{"a mask test covers the exact flags within it", "inet", []string{"tcp flags syn drop", "tcp flags == syn accept", "tcp flags == ack accept"}, map[int]string{2: "shadowed"}},
		{"an inequality covers the other values", "inet", []string{"tcp dport != 22 drop", "tcp dport 80 accept", "tcp dport 22 accept"}, map[int]string{2: "shadowed"}},
		{"an interface wildcard covers its names", "inet", []string{`iifname "veth*" drop`, `iifname "veth0" accept`, `iifname "eth0" accept`}, map[int]string{2: "shadowed"}},
		{"a protocol match covers its selectors", "inet", []string{"meta l4proto tcp drop", "tcp dport 80 accept", "udp dport 80 accept"}, map[int]string{2: "shadowed"}},
		{"an IPv4 match does not cover IPv6", "inet", []string{"ip saddr 198.18.0.1 drop", "tcp dport 80 accept"}, map[int]string{}},
		{"the family of an ip table is implied", "ip", []string{"meta nfproto ipv4 drop", "tcp dport 80 accept"}, map[int]string{2: "shadowed"}},
		{"a rule after an unconditional drop is unreachable", "inet", []string{"counter drop", "tcp dport 80 accept"}, map[int]string{2: "unreachable"}},
		{"a change to the packet ends what earlier rules hide", "inet", []string{"meta mark 0x1 drop", "meta mark set 0x1", "meta mark 0x1 accept"}, map[int]string{}},
		{"a jump to a chain that changes packets does too", "inet", []string{"meta mark 0x2 drop", "jump m", "meta mark 0x2 accept"}, map[int]string{}},
		{"contradicting protocols never match", "inet", []string{"tcp dport 22 udp dport 53 accept"}, map[int]string{1: "never-matches"}},
		{"contradicting values never match", "inet", []string{"tcp dport 22 tcp dport 23 accept"}, map[int]string{1: "never-matches"}},
		{"concatenations compare part by part", "inet", []string{"ip saddr . tcp dport { 198.18.0.0/24 . 22 } drop", "ip saddr . tcp dport { 198.18.0.5 . 22 } accept", "ip saddr . tcp dport { 198.18.1.5 . 22 } accept"}, map[int]string{2: "shadowed"}},
		{"a jump to a missing chain", "inet", []string{"jump nowhere"}, map[int]string{1: "missing-chain"}},
		{"a range below a bound is covered", "inet", []string{"tcp dport < 1024 drop", "tcp dport 22 accept", "tcp dport 1024 accept"}, map[int]string{2: "shadowed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := check(t, tc.fam, tc.rules...)
			if len(got) != len(tc.want) {
				t.Fatalf("findings %v, want %v\nrules:\n%s", got, tc.want, strings.Join(tc.rules, "\n"))
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("rule %d: %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
}

func TestUnusedChainIsReported(t *testing.T) {
	cmds, err := ruleset.Parse("t.nft", []byte("table inet t {\n\tchain lonely {\n\t\taccept\n\t}\n}\n"), ruleset.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fs := Check(cmds)
	if len(fs) != 1 || fs[0].Kind != "unused-chain" || fs[0].Pos.Line != 2 {
		t.Errorf("findings %v, want the unused chain at line 2", fs)
	}
}
