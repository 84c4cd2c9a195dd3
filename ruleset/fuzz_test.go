package ruleset

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: no input panics the parser or the transaction; an input is
// refused with an *Error, or its ruleset prints to text that parses and
// applies back to a ruleset printing the same.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/golden/*.nft")
	for _, name := range files {
		if src, err := os.ReadFile(name); err == nil {
			f.Add(src)
		}
	}
	noFiles := ParseOptions{ReadFile: func(string) ([]byte, error) { return nil, os.ErrNotExist }}
	f.Fuzz(func(t *testing.T, src []byte) {
		cmds, err := Parse("fuzz.nft", src, noFiles)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("parse error %T is not an *Error: %v", err, err)
			}
			return
		}
		rs, err := New(Options{Now: fixedClock()}).Apply(cmds)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("apply error %T is not an *Error: %v", err, err)
			}
			return
		}
		out := rs.String()
		cmds2, err := Parse("printed.nft", []byte(out), noFiles)
		if err != nil {
			t.Fatalf("the print does not parse: %v\n%s", err, out)
		}
		rs2, err := New(Options{Now: fixedClock()}).Apply(cmds2)
		if err != nil {
			t.Fatalf("the print does not apply: %v\n%s", err, out)
		}
		if again := rs2.String(); again != out {
			t.Fatalf("the print changes when parsed again:\n--- first\n%s\n--- second\n%s", out, again)
		}
	})
}
