package classify

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nfgo/nfgo/ruleset/internal/rulegen"
)

const classbenchDir = "../../../../shared/data/classbench"

// loadACL reads a ClassBench rule file as boxes of (src, dst, sport,
// dport, proto), priority = rule number.
func loadACL(tb testing.TB, name string) []Rule {
	tb.Helper()
	var rules []Rule
	for _, line := range rulegen.ClassBenchLines(tb, filepath.Join(classbenchDir, name+".rules.gz")) {
		fs := strings.Split(strings.TrimPrefix(line, "@"), "\t")
		r := Rule{Prio: uint32(len(rules) + 1), ID: uint32(len(rules) + 1), Lo: make([]uint32, 5), Hi: make([]uint32, 5)}
		for d := 0; d < 2; d++ {
			a, l := parsePrefix(tb, fs[d])
			m := prefixMask(l, 32)
			r.Lo[d], r.Hi[d] = a&m, a|^m
		}
		for d := 2; d < 4; d++ {
			var lo, hi uint32
			fmt.Sscanf(fs[d], "%d : %d", &lo, &hi)
			r.Lo[d], r.Hi[d] = lo, hi
		}
		var v, m uint32
		fmt.Sscanf(fs[4], "0x%x/0x%x", &v, &m)
		if m == 0 {
			r.Lo[4], r.Hi[4] = 0, 255
		} else {
			r.Lo[4], r.Hi[4] = v, v
		}
		rules = append(rules, r)
	}
	return rules
}

func parsePrefix(tb testing.TB, s string) (uint32, uint8) {
	a, l, _ := strings.Cut(s, "/")
	var o [4]uint32
	fmt.Sscanf(a, "%d.%d.%d.%d", &o[0], &o[1], &o[2], &o[3])
	n, _ := strconv.Atoi(l)
	return o[0]<<24 | o[1]<<16 | o[2]<<8 | o[3], uint8(n)
}

type traceEntry struct {
	k    Key
	want uint32
}

func loadTrace(tb testing.TB, name string) []traceEntry {
	tb.Helper()
	var out []traceEntry
	for _, line := range rulegen.ClassBenchLines(tb, filepath.Join(classbenchDir, name+".trace.gz")) {
		var v [6]uint32
		fmt.Sscanf(line, "%d %d %d %d %d %d", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5])
		var e traceEntry
		copy(e.k.V[:5], v[:5])
		e.k.Present = 31
		e.want = v[5]
		out = append(out, e)
	}
	return out
}

func TestClassBenchACL(t *testing.T) {
	for _, name := range []string{"acl1_1k", "acl1_10k", "acl1_100k"} {
		if testing.Short() && name == "acl1_100k" {
			continue
		}
		rules := loadACL(t, name)
		start := time.Now()
		c, err := New(5, rules, Options{Widths: testWidths, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d rules, %d tables, %v to build, %d bytes/rule", name, len(rules), c.Tables(), time.Since(start), c.Bytes()/len(rules))
		trace := loadTrace(t, name)
		for _, e := range trace {
			if _, p := c.Lookup(&e.k, 0); p != e.want {
				t.Fatalf("%s: %v: got rule %d, want %d", name, e.k, p, e.want)
			}
		}
		keys := make([]Key, batchMax)
		var ids, prios [batchMax]uint32
		for base := 0; base+batchMax <= len(trace); base += batchMax {
			for i := range keys {
				keys[i] = trace[base+i].k
			}
			c.LookupBatch(keys, 0, ids[:], prios[:])
			for i := range keys {
				if prios[i] != trace[base+i].want {
					t.Fatalf("%s: batch %v: got rule %d, want %d", name, keys[i], prios[i], trace[base+i].want)
				}
			}
		}
	}
}

func BenchmarkClassBench(b *testing.B) {
	for _, name := range []string{"acl1_1k", "acl1_10k", "acl1_100k"} {
		if testing.Short() && name == "acl1_100k" {
			continue
		}
		rules := loadACL(b, name)
		trace := loadTrace(b, name)
		c, err := New(5, rules, Options{Widths: testWidths, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		keys := make([]Key, len(trace))
		for i := range trace {
			keys[i] = trace[i].k
		}
		b.Run(name+"/single", func(b *testing.B) {
			i := 0
			for b.Loop() {
				c.Lookup(&keys[i], 0)
				i++
				if i == len(keys) {
					i = 0
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mlookups/s")
		})
		b.Run(name+"/batch64", func(b *testing.B) {
			var ids, prios [64]uint32
			i := 0
			for b.Loop() {
				c.LookupBatch(keys[i:i+64], 0, ids[:], prios[:])
				i += 64
				if i+64 > len(keys) {
					i = 0
				}
			}
			b.ReportMetric(float64(b.N)*64/b.Elapsed().Seconds()/1e6, "Mlookups/s")
		})
	}
}
