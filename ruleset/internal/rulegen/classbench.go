package rulegen

import (
	"bufio"
	"compress/gzip"
	"os"
	"testing"
)

// ClassBenchLines reads the lines of a gzipped ClassBench file (rules or
// trace; ../shared/data/classbench/README.md gives the formats), for tests
// and benchmarks. Without the file, tb is skipped: a user's clone has no
// such data.
func ClassBenchLines(tb testing.TB, path string) []string {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Skipf("ClassBench data not available: %v", err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(z)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return lines
}
