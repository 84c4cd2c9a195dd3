package ruleset

import "testing"

const benchRuleset = "table inet filter {\n set bl { type ipv4_addr; flags interval; elements = { 10.0.0.0/8, 172.16.0.0/12 } }\n" +
	" chain input { type filter hook input priority 0; policy drop;\n" +
	"  ct state established,related accept\n  iif \"lo\" accept\n  ip saddr @bl drop\n" +
	"  tcp dport { 22, 80, 443 } counter accept\n  tcp dport vmap { 8080 : jump web }\n }\n chain web { tcp flags syn accept\n }\n}\n"

// BenchmarkEval measures the reference evaluator on a small stateful
// firewall, a new TCP connection to port 22 (five rules deep).
func BenchmarkEval(b *testing.B) {
	rs := mustLoad(b, "bench.nft", []byte(benchRuleset))
	p := mkpkt(b, tcpSyn, ctNew)
	env := newEnv()
	b.ReportAllocs()
	for b.Loop() {
		if rs.Eval(0, p, env).Verdict != NFAccept {
			b.Fatal("not accepted")
		}
	}
}

func TestEvalAllocations(t *testing.T) {
	rs := mustLoad(t, "bench.nft", []byte(benchRuleset))
	p := mkpkt(t, tcpSyn, ctNew)
	env := newEnv()
	n := testing.AllocsPerRun(100, func() { rs.Eval(0, p, env) })
	if n != 0 {
		t.Errorf("%v allocations per packet, want 0", n)
	}
}
