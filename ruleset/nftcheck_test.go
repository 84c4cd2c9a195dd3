package ruleset

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPrintsAreValidNft gives what nfgo prints of every golden ruleset to
// nft -c (check only: nothing is applied), which parses and evaluates it
// as nft does and has the kernel check the batch. nfgo should print
// nothing nft refuses. A rule the kernel cannot load for want of an
// expression (this machine has no queue support: "No such file or
// directory") says nothing of the text and is let through.
func TestPrintsAreValidNft(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: nft -c needs root")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("skipping: no nft (Debian package nftables)")
	}
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
			printed := mustLoad(t, f, src).String()
			cmd := exec.Command("nft", "-c", "-f", "-")
			cmd.Stdin = strings.NewReader(printed)
			out, err := cmd.CombinedOutput()
			if err == nil {
				return
			}
			if bad := nftRefusals(out); len(bad) > 0 {
				t.Errorf("nft refuses nfgo's print of %s:\n%s\n--- print\n%s", f, bytes.Join(bad, []byte("\n")), printed)
			}
		})
	}
}

// nftRefusals are the errors in nft's output, less those of rules the
// kernel lacks an expression for.
func nftRefusals(out []byte) [][]byte {
	var bad [][]byte
	for _, line := range bytes.Split(out, []byte("\n")) {
		if bytes.Contains(line, []byte("Error:")) && !bytes.Contains(line, []byte("Could not process rule: No such file or directory")) {
			bad = append(bad, line)
		}
	}
	return bad
}
