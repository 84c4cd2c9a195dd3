package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nfgo/nfgo/internal/pktbuild"
)

// A daemon for the CLI tests runs on pcap ports, so it needs no root and
// no devices: lan0 replays a capture of client traffic as it starts, and
// what the engine sends out of wan0 goes to a capture.
type testDaemon struct {
	cmd    *exec.Cmd
	dir    string
	sock   string
	rules  string
	logs   *syncBuffer
	exited chan struct{} // closed when the process has exited
	err    error         // its Wait error, once exited is closed
}

type syncBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.String()
}

// clientTraffic is what lan0 replays: a web, a DNS, a ping, an IPv6 web
// and an ssh first packet (which the firewall drops).
func clientTraffic() []timedFrame {
	return []timedFrame{
		{0, pktbuild.TCP4(ap(client4, 40000), ap(server4, 80), 0x02, 1000, 0, nil)},
		{1, pktbuild.UDP4(ap(client4, 5353), ap(server4, 53), []byte("query"))},
		{2, pktbuild.ICMP4Echo(client4, server4, 7, 1, false)},
		{3, pktbuild.TCP6(ap(client6, 40002), ap(server6, 443), 0x02, 9000, 0, nil)},
		{4, pktbuild.TCP4(ap(client4, 40001), ap(server4, 22), 0x02, 7000, 0, nil)},
	}
}

// startDaemon runs nfgo run with a config of pcap ports; extra is added
// to the config. It stops the daemon when the test ends.
func startDaemon(t *testing.T, extra string) *testDaemon {
	t.Helper()
	dir := t.TempDir()
	d := &testDaemon{dir: dir, sock: filepath.Join(dir, "nfgo.sock"), rules: filepath.Join(dir, "fw.nft"),
		logs: &syncBuffer{mu: make(chan struct{}, 1)}, exited: make(chan struct{})}
	writeRawCapture(t, filepath.Join(dir, "lan.pcap"), clientTraffic())
	src, _ := os.ReadFile("testdata/replay/fw.nft")
	os.WriteFile(d.rules, src, 0o644)
	cfg := fmt.Sprintf(`interfaces:
  - name: lan0
    backend: pcap
    in: lan.pcap
    addresses: [198.18.0.1/24]
  - name: wan0
    backend: pcap
    out: wan.pcap
    addresses: [198.18.1.1/24]
routes:
  - to: default
    via: 198.18.1.254
    dev: wan0
  - to: default6
    dev: wan0
ruleset: fw.nft
control:
  socket: %s
%s`, d.sock, extra)
	os.WriteFile(filepath.Join(dir, "nfgo.yaml"), []byte(cfg), 0o644)
	d.cmd = exec.Command(nfgoBin, "run", "-c", filepath.Join(dir, "nfgo.yaml"))
	d.cmd.Stderr = d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(10 * time.Second):
			d.cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.logs.String())
		}
	})
	// Up when the socket answers and lan0's capture has been replayed.
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := d.run(t, "conntrack", "-C")
		if r.code == 0 && strings.TrimSpace(r.stdout) == "4" {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not ready: %+v\nlog:\n%s", r, d.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run runs an nfgo client command against the daemon.
func (d *testDaemon) run(t *testing.T, args ...string) result {
	t.Helper()
	return nfgoEnv(t, []string{"NFGO_SOCKET=" + d.sock}, args...)
}

// timeouts are the seconds-left column of conntrack lines, which depends
// on when the test runs.
var timeouts = regexp.MustCompile(`(?m)^(\S+ +\d+) \d+ `)

func TestDaemonServesRulesetAndConntrackCommands(t *testing.T) {
	d := startDaemon(t, "")
	r := d.run(t, "ruleset", "list")
	if r.code != 0 {
		t.Fatalf("ruleset list: %+v", r)
	}
	golden(t, "daemon/ruleset-list.golden", r.stdout)

	r = d.run(t, "conntrack", "-L")
	if r.code != 0 || !strings.Contains(r.stderr, "4 flow entries have been shown.") {
		t.Fatalf("conntrack -L: %+v", r)
	}
	lines := strings.Split(strings.TrimSuffix(timeouts.ReplaceAllString(r.stdout, "$1 T "), "\n"), "\n")
	sort.Strings(lines)
	golden(t, "daemon/conntrack-L.golden", strings.Join(lines, "\n")+"\n")

	r = d.run(t, "conntrack", "-L", "-p", "udp", "--dport", "53")
	if n := strings.Count(r.stdout, "\n"); n != 1 || !strings.HasPrefix(r.stdout, "udp      17 ") {
		t.Errorf("conntrack -L -p udp --dport 53: %q", r.stdout)
	}
	r = d.run(t, "conntrack", "-L", "-f", "ipv6", "-o", "extended")
	if !strings.HasPrefix(r.stdout, "ipv6     10 tcp      6 ") || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("conntrack -L -f ipv6 -o extended: %q", r.stdout)
	}
	r = d.run(t, "conntrack", "-L", "--state", "SYN_SENT", "-s", "198.18.0.0/24")
	if strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("conntrack -L --state SYN_SENT -s 198.18.0.0/24: %q", r.stdout)
	}
	if r = d.run(t, "conntrack", "-S"); !strings.HasPrefix(r.stdout, "cpu=0   \tfound=") {
		t.Errorf("conntrack -S: %q", r.stdout)
	}
	r = d.run(t, "conntrack", "-G", "-p", "icmp", "-s", "198.18.0.2", "-d", "198.18.1.2", "--sport", "7", "--dport", "2048")
	if !strings.Contains(r.stdout, "type=8 code=0 id=7") {
		t.Errorf("conntrack -G: %+v", r)
	}
	if r = d.run(t, "conntrack", "-D", "-p", "udp"); !strings.Contains(r.stderr, "1 flow entries have been deleted.") {
		t.Errorf("conntrack -D -p udp: %+v", r)
	}
	if r = d.run(t, "conntrack", "-C"); strings.TrimSpace(r.stdout) != "3" {
		t.Errorf("after -D: count %q, want 3", r.stdout)
	}
	if r = d.run(t, "conntrack", "-L", "--bogus", "x"); r.code != 2 {
		t.Errorf("a bad option: exit %d, want 2", r.code)
	}

	r = d.run(t, "stats")
	for _, want := range []string{"lan0", "wan0", "hook-drop 1", "ruleset generation 1"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stats lacks %q:\n%s", want, r.stdout)
		}
	}

	// check and apply: a bad change is refused with its line, a good one
	// is installed; flush empties.
	bad := filepath.Join(d.dir, "bad.nft")
	os.WriteFile(bad, []byte("add rule inet filter forward tcp dport 99999 accept\n"), 0o644)
	if r = d.run(t, "ruleset", "check", "-f", bad); r.code != 1 || !strings.Contains(r.stderr, "bad.nft:1:") {
		t.Errorf("check of a bad file: %+v", r)
	}
	if r = d.run(t, "ruleset", "apply", "-f", bad); r.code != 1 {
		t.Errorf("apply of a bad file: %+v", r)
	}
	good := filepath.Join(d.dir, "good.nft")
	os.WriteFile(good, []byte("add rule inet filter forward tcp dport 8443 counter accept\n"), 0o644)
	if r = d.run(t, "ruleset", "check", "-f", good); r.code != 0 {
		t.Errorf("check of a good file: %+v", r)
	}
	if r = d.run(t, "ruleset", "apply", "-f", good); r.code != 0 {
		t.Errorf("apply: %+v", r)
	}
	if r = d.run(t, "ruleset", "list"); !strings.Contains(r.stdout, "tcp dport 8443 counter packets 0 bytes 0 accept") {
		t.Errorf("the applied rule is not listed:\n%s", r.stdout)
	}
	if r = d.run(t, "counters"); !strings.Contains(r.stdout, "tcp dport 8443") {
		t.Errorf("counters:\n%s", r.stdout)
	}
	if r = d.run(t, "ruleset", "flush"); r.code != 0 {
		t.Errorf("flush: %+v", r)
	}
	if r = d.run(t, "ruleset", "list"); r.stdout != "" {
		t.Errorf("after flush: %q", r.stdout)
	}
	if r = d.run(t, "conntrack", "-F"); !strings.Contains(r.stderr, "emptied") {
		t.Errorf("conntrack -F: %+v", r)
	}
}

func TestDaemonReloadsOnSIGHUPAndStopsOnSIGTERM(t *testing.T) {
	d := startDaemon(t, "")
	os.WriteFile(d.rules, []byte("table inet filter {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t\ttcp dport 99999 accept\n\t}\n}\n"), 0o644)
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return strings.Contains(d.logs.String(), "reload rejected") }, "the bad reload to be logged")
	if r := d.run(t, "ruleset", "list"); !strings.Contains(r.stdout, "tcp dport 23 reject") {
		t.Errorf("after a bad reload the old ruleset should stay:\n%s", r.stdout)
	}
	os.WriteFile(d.rules, []byte("table inet filter {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n\t\ttcp dport 25 drop\n\t}\n}\n"), 0o644)
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return strings.Contains(d.logs.String(), "ruleset reloaded") }, "the reload")
	r := d.run(t, "ruleset", "list")
	if !strings.Contains(r.stdout, "tcp dport 25 drop") || strings.Contains(r.stdout, "reject") {
		t.Errorf("after the reload:\n%s", r.stdout)
	}
	if r := d.run(t, "stats"); !strings.Contains(r.stdout, "ruleset generation 2  reloads 1 (failed 1)") {
		t.Errorf("stats:\n%s", r.stdout)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		if d.err != nil {
			t.Errorf("exit after SIGTERM: %v", d.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10s after SIGTERM")
	}
	if _, err := os.Stat(d.sock); err == nil {
		t.Error("the control socket is still there")
	}
	logs := d.logs.String()
	for _, want := range []string{"draining workers", "port closed", "stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	out, _ := os.ReadFile(filepath.Join(d.dir, "wan.pcap"))
	if len(out) <= 24 {
		t.Errorf("wan.pcap holds nothing: the forwarded packets should be there")
	}
}

func TestControlSocketRefusesOtherUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to run a client as another user")
	}
	d := startDaemon(t, "")
	st, err := os.Stat(d.sock)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", st.Mode().Perm())
	}
	if s := st.Sys().(*syscall.Stat_t); s.Uid != uint32(os.Getuid()) {
		t.Errorf("socket owner %d, want %d", s.Uid, os.Getuid())
	}
	asNobody := func() result {
		cmd := exec.Command(nfgoBin, "ruleset", "list", "-s", d.sock)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		cmd.Run()
		return result{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
	}
	// The test's folders are 0700: open them, so that only the socket's
	// own mode stands in nobody's way.
	os.Chmod(d.dir, 0o755)
	os.Chmod(filepath.Dir(d.dir), 0o755)
	r := asNobody()
	if r.code == 0 || r.stdout != "" || !strings.Contains(r.stderr, "permission denied") {
		t.Errorf("nobody through the 0600 socket: %+v", r)
	}
	// Even with the file opened up, the daemon checks who is calling.
	os.Chmod(d.sock, 0o666)
	r = asNobody()
	if r.code == 0 || r.stdout != "" || !strings.Contains(r.stderr, "permission denied: this nfgo belongs to uid 0") {
		t.Errorf("nobody through an opened-up socket: %+v", r)
	}
	if !strings.Contains(d.logs.String(), "refused a connection from another user") {
		t.Error("the refusal is not logged")
	}
	if r := d.run(t, "ruleset", "list"); r.code != 0 {
		t.Errorf("the owner is refused too: %+v", r)
	}
}

func TestMetricsServesCountersFromTheEngine(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	startDaemon(t, "metrics:\n  address: "+addr+"\n  hook_counters: true\n")
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`nfgo_port_packets_total{direction="rx",port="lan0"} 5`,
		`nfgo_drops_total{reason="hook-drop"} 1`,
		`nfgo_conntrack_entries 4`,
		`nfgo_conntrack_max 262144`,
		`nfgo_ruleset_generation 1`,
		`nfgo_hook_packets_total{hook="prerouting"} 5`,
		`nfgo_nat_total{what="exhausted"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
