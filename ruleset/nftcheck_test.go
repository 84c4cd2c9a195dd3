package ruleset

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
)

// nftCheck gives a ruleset's text to nft -c (check only: nothing is
// applied), which parses and evaluates it as nft does and has the kernel
// check the batch, and returns nft's errors; none without root or nft.
// A rule the kernel cannot load for want of an expression (this machine
// has no queue support: "No such file or directory") says nothing of the
// text and is let through.
func nftCheck(text string) [][]byte {
	if os.Geteuid() != 0 {
		return nil
	}
	if _, err := exec.LookPath("nft"); err != nil {
		return nil
	}
	cmd := exec.Command("nft", "-c", "-f", "-")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	return nftRefusals(out)
}

// nftRefusals are the errors in nft's output, less those of rules the
// kernel lacks an expression for.
func nftRefusals(out []byte) [][]byte { return nftErrors(out, true) }

// nftErrors are the error lines of nft's output; with skipMissing, less
// those of rules the kernel lacks an expression for.
func nftErrors(out []byte, skipMissing bool) [][]byte {
	var bad [][]byte
	for _, line := range bytes.Split(out, []byte("\n")) {
		if bytes.Contains(line, []byte("Error:")) &&
			!(skipMissing && bytes.Contains(line, []byte("Could not process rule: No such file or directory"))) {
			bad = append(bad, line)
		}
	}
	return bad
}
