package ruleset

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nfgo/nfgo/ruleset/internal/rulegen"
)

// BenchmarkRuleChange measures one rule inserted in the middle of an ACL
// chain, and one deleted: "apply" is the whole transaction (copy,
// validation, matcher), "matcher" the matcher's incremental change alone,
// each timed on its own.
func BenchmarkRuleChange(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("acl/%dK", n/1000), func(b *testing.B) {
			if n > 10000 && testing.Short() {
				b.Skip("100K rule sets are skipped with -short")
			}
			rs := loadText(b, rulegen.Text(rulegen.Classic(rulegen.ACL, n, 1), "accept"))
			chain := rs.base[0].chain
			mid := chain.Rules[n/2]
			add, err := Parse("add.nft", []byte(fmt.Sprintf("insert rule ip filter input position %d ip saddr 198.18.0.1 tcp dport 22 drop\n", mid.Handle)), ParseOptions{})
			if err != nil {
				b.Fatal(err)
			}
			del, err := Parse("del.nft", []byte(fmt.Sprintf("delete rule ip filter input handle %d\n", mid.Handle)), ParseOptions{})
			if err != nil {
				b.Fatal(err)
			}
			o := &compileOpts{maxBytes: DefaultMaxChainBytes, seed: 1}
			newRule := add[0].Rule
			b.Run("insert", func(b *testing.B) {
				var apply, matcher time.Duration
				for b.Loop() {
					start := time.Now()
					if _, err := rs.Apply(add); err != nil {
						b.Fatal(err)
					}
					apply += time.Since(start)
					rules := slices.Insert(slices.Clone(chain.Rules), n/2, newRule)
					start = time.Now()
					p, err := chain.prog.update("input", rules, o)
					matcher += time.Since(start)
					if err != nil || p.cls == chain.prog.cls {
						b.Fatal("not changed incrementally", err)
					}
				}
				reportChange(b, apply, matcher)
			})
			b.Run("delete", func(b *testing.B) {
				var apply, matcher time.Duration
				for b.Loop() {
					start := time.Now()
					if _, err := rs.Apply(del); err != nil {
						b.Fatal(err)
					}
					apply += time.Since(start)
					rules := slices.Delete(slices.Clone(chain.Rules), n/2, n/2+1)
					start = time.Now()
					if _, err := chain.prog.update("input", rules, o); err != nil {
						b.Fatal(err)
					}
					matcher += time.Since(start)
				}
				reportChange(b, apply, matcher)
			})
		})
	}
}

func reportChange(b *testing.B, apply, matcher time.Duration) {
	b.ReportMetric(float64(apply.Microseconds())/float64(b.N), "apply-µs")
	b.ReportMetric(float64(matcher.Microseconds())/float64(b.N), "matcher-µs")
	b.ReportMetric(0, "ns/op")
}

// TestMatcherMemoryLimit checks that a chain whose matcher would pass the
// limit is refused, and the ruleset in force stays.
func TestMatcherMemoryLimit(t *testing.T) {
	cmds, err := Parse("gen.nft", []byte(rulegen.Text(rulegen.Classic(rulegen.ACL, 2000, 1), "accept")), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs := New(Options{MaxChainBytes: 64 << 10})
	_, err = rs.Apply(cmds)
	if err == nil || !errorsIs(err, ErrMatcherTooBig) {
		t.Fatalf("Apply of 2000 rules with a 64 KiB limit: %v, want ErrMatcherTooBig", err)
	}
	t.Log(err)
	if len(rs.Tables()) != 0 {
		t.Fatal("the refused transaction changed the ruleset")
	}
	if _, err := New(Options{MaxChainBytes: 1 << 20}).Apply(cmds); err != nil {
		t.Fatalf("with 1 MiB: %v", err)
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// BenchmarkApplyKube measures Apply of a ruleset in kube-proxy's shape
// (one rule per service in a base chain, jumping to the service's own
// chain: as many chains as services), from nothing ("load-ms"), and of a
// transaction that adds one service to it, a rule and a chain
// ("service-µs").
func BenchmarkApplyKube(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("%dK", n/1000), func(b *testing.B) {
			if n > 10000 && testing.Short() {
				b.Skip("100K rule sets are skipped with -short")
			}
			text, _, _ := rulegen.Kube(n, 1)
			cmds, err := Parse("kube.nft", []byte(text), ParseOptions{})
			if err != nil {
				b.Fatal(err)
			}
			add, err := Parse("svc.nft", []byte("add chain ip kube svcnew\nadd rule ip kube svcnew meta mark set 0x1 accept\n"+
				"insert rule ip kube services ip daddr 10.97.0.1 tcp dport 80 jump svcnew\n"), ParseOptions{})
			if err != nil {
				b.Fatal(err)
			}
			var load, service time.Duration
			for b.Loop() {
				start := time.Now()
				rs, err := New(Options{Now: fixedClock()}).Apply(cmds)
				if err != nil {
					b.Fatal(err)
				}
				load += time.Since(start)
				start = time.Now()
				if _, err := rs.Apply(add); err != nil {
					b.Fatal(err)
				}
				service += time.Since(start)
			}
			b.ReportMetric(float64(load.Microseconds())/1000/float64(b.N), "load-ms")
			b.ReportMetric(float64(service.Microseconds())/float64(b.N), "service-µs")
			b.ReportMetric(0, "ns/op")
		})
	}
}
