package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nfgoBin is the nfgo binary the CLI tests run, built once by TestMain.
var nfgoBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nfgo-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Readable by everyone: the second-user test runs it as nobody.
	os.Chmod(dir, 0o755)
	nfgoBin = filepath.Join(dir, "nfgo")
	build := exec.Command("go", "build", "-o", nfgoBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building nfgo:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one run of the binary did.
type result struct {
	stdout, stderr string
	code           int
}

// nfgo runs the binary with args and a timeout.
func nfgo(t *testing.T, args ...string) result {
	t.Helper()
	return nfgoEnv(t, nil, args...)
}

func nfgoEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(nfgoBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("nfgo %s: still running after 60s", strings.Join(args, " "))
	}
	return result{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
}

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -run '%s' -update rewrites it)\n--- got\n%s\n--- want\n%s", path, t.Name(), got, want)
	}
}
