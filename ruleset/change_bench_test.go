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
// validation, matcher), "matcher" the matcher's incremental change alone.
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
				var matcher time.Duration
				for b.Loop() {
					if _, err := rs.Apply(add); err != nil {
						b.Fatal(err)
					}
					rules := slices.Insert(slices.Clone(chain.Rules), n/2, newRule)
					start := time.Now()
					p, err := chain.prog.update("input", rules, o)
					matcher += time.Since(start)
					if err != nil || p.cls == chain.prog.cls {
						b.Fatal("not changed incrementally", err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds()-matcher.Microseconds())/float64(b.N), "apply-µs")
				b.ReportMetric(float64(matcher.Microseconds())/float64(b.N), "matcher-µs")
				b.ReportMetric(0, "ns/op")
			})
			b.Run("delete", func(b *testing.B) {
				var matcher time.Duration
				for b.Loop() {
					if _, err := rs.Apply(del); err != nil {
						b.Fatal(err)
					}
					rules := slices.Delete(slices.Clone(chain.Rules), n/2, n/2+1)
					start := time.Now()
					if _, err := chain.prog.update("input", rules, o); err != nil {
						b.Fatal(err)
					}
					matcher += time.Since(start)
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds()-matcher.Microseconds())/float64(b.N), "apply-µs")
				b.ReportMetric(float64(matcher.Microseconds())/float64(b.N), "matcher-µs")
				b.ReportMetric(0, "ns/op")
			})
		})
	}
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
