package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLintNamesEachRuleThatCanNeverMatch(t *testing.T) {
	r := nfgo(t, "ruleset", "lint", "-f", "testdata/lint/shadow.nft")
	if r.code != 1 {
		t.Errorf("exit %d, want 1 for a ruleset with findings; stderr %q", r.code, r.stderr)
	}
	golden(t, "lint/shadow.golden", r.stdout)
}

func TestLintOfACleanRulesetSaysNothing(t *testing.T) {
	r := nfgo(t, "ruleset", "lint", "-f", "testdata/replay/fw.nft")
	if r.code != 0 || r.stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestCheckOfflineReportsTheLine(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.nft")
	os.WriteFile(bad, []byte("table inet t {\n\tchain c {\n\t\tjump nowhere\n\t}\n}\n"), 0o644)
	r := nfgo(t, "ruleset", "check", "--offline", "-f", bad)
	if r.code != 1 || !strings.Contains(r.stderr, bad+":3:") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	if r := nfgo(t, "ruleset", "check", "--offline", "-f", "testdata/replay/nat.nft"); r.code != 0 {
		t.Errorf("a good ruleset: exit %d, stderr %q", r.code, r.stderr)
	}
}

// A bad config is one error naming the file, line and field, and nothing
// starts (no control socket appears).
func TestRunRefusesABadConfigWithFileLineAndField(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "nfgo.sock")
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown backend", "interfaces:\n  - name: lan0\n    backend: afxdx\n", "cfg.yaml:3:14: interfaces[0].backend: unknown value \"afxdx\" (want afxdp, tun, pcap)"},
		{"unknown field", "interfaces:\n  - name: lan0\n    backend: pcap\n    adresses: [198.18.0.1/24]\n", "cfg.yaml:4:5: interfaces[0].adresses: unknown field"},
		{"bad address", "interfaces:\n  - name: lan0\n    backend: pcap\n    addresses: [198.18.0.1]\n", "cfg.yaml:4:17: interfaces[0].addresses[0]: want an address with its prefix length"},
		{"route to a missing interface", "interfaces:\n  - name: lan0\n    backend: pcap\nroutes:\n  - to: default\n    dev: wan0\n", "cfg.yaml:5:5: routes[0].dev: no interface \"wan0\""},
		{"bad timeout", "conntrack:\n  timeouts:\n    udp: soon\n", "cfg.yaml:3:10: conntrack.timeouts.udp: want a duration"},
		{"not yaml", "interfaces: [\n", "cfg.yaml: "},
		{"ruleset with an error", "ruleset: bad.nft\n", "bad.nft:1:"},
	}
	os.WriteFile(filepath.Join(dir, "bad.nft"), []byte("table inet t { chain c { tcp dport x accept } }\n"), 0o644)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(dir, "cfg.yaml")
			os.WriteFile(cfg, []byte(tc.yaml+"control:\n  socket: "+sock+"\n"), 0o644)
			r := nfgo(t, "run", "-c", cfg)
			if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant it to contain %q", r.code, r.stderr, tc.want)
			}
			if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("want one line of error, got:\n%s", r.stderr)
			}
			if _, err := os.Stat(sock); err == nil {
				t.Errorf("the control socket exists: something started")
			}
		})
	}
}

func TestTheExampleConfigIsValid(t *testing.T) {
	r := nfgo(t, "run", "-check", "-c", "../../examples/nfgo.yaml")
	if r.code != 0 {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
}
