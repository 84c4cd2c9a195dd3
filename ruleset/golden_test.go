package ruleset

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// fixedClock is the clock of tests: set timeouts and limits see it.
func fixedClock() func() time.Time {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time { return t0 }
}

func mustLoad(t testing.TB, name string, src []byte) *Ruleset {
	t.Helper()
	cmds, err := Parse(name, src, ParseOptions{})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	rs, err := New(Options{Now: fixedClock()}).Apply(cmds)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return rs
}

// TestGolden parses every ruleset in testdata/golden, prints it, compares
// the print with the .golden file, and checks that the print parses back
// to a ruleset that prints the same and, where nft is there, that nft
// takes it (nftCheck).
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/golden/*.nft")
	if len(files) == 0 {
		t.Fatal("no golden inputs")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got := mustLoad(t, f, src).String()
			goldenFile := strings.TrimSuffix(f, ".nft") + ".golden"
			if *update {
				if err := os.WriteFile(goldenFile, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(goldenFile)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("print differs from %s:\n--- got\n%s\n--- want\n%s", goldenFile, got, want)
			}
			again := mustLoad(t, "printed", []byte(got)).String()
			if again != got {
				t.Errorf("print does not parse back to itself:\n--- first\n%s\n--- second\n%s", got, again)
			}
			if bad := nftCheck(got); len(bad) > 0 {
				t.Errorf("nft -c refuses the print:\n%s\n--- print\n%s", bytes.Join(bad, []byte("\n")), got)
			}
		})
	}
}
