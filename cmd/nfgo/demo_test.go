package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestDemoRoutesRealTrafficAndCleansUp(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: the demo needs root to build network namespaces")
	}
	if !hasAFXDP() {
		t.Skip("skipping: the kernel has no AF_XDP sockets (CONFIG_XDP_SOCKETS)")
	}
	r := nfgo(t, "demo")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"ok   client -> server, TCP over IPv4",
		"the server saw the connection come from 198.18.1.1:",
		"ok   client -> server, TCP over IPv6",
		"ok   client -> server, 20 UDP datagrams echoed",
		"ok   server -> router:8080, port-forwarded",
		"ok   server -> client directly is dropped",
		"== nfgo stats",
		"dst=198.18.1.1 sport=8000", // the masqueraded connection's reply tuple
		"== nfgo trace",
		`inet filter forward rule iifname "r0" oifname "r1" accept (verdict accept)`,
		"== cleaned up",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if strings.Contains(r.stdout, "FAIL") {
		t.Errorf("a check failed:\n%s", r.stdout)
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), "nfgo-demo-") {
		t.Errorf("namespaces left behind:\n%s", out)
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", r.stdout)
	}
}
