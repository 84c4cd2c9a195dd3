// Command nfgo runs nfgo, Linux netfilter rebuilt as a Go packet engine, as
// a router and firewall, and is its command line: the daemon (run), the
// nft- and conntrack-style tools that talk to it over its control socket,
// offline replay of captures, and a demo.
//
//	nfgo run -c nfgo.yaml                    the router (examples/nfgo.yaml)
//	nfgo ruleset list|apply|check|flush|lint  like nft list ruleset, nft -f, nft -c -f
//	nfgo conntrack -L|-E|-S|-C|-D|-F ...      like conntrack(8), same output
//	nfgo counters | stats                     rule counters; ports, workers, drops
//	nfgo trace 'tcp dport 22'                 like nft monitor trace, for matching packets
//	nfgo capture --hook H [-i IF] -w F.pcap   a capture at any hook
//	nfgo replay -r rules.nft -i in.pcap -o out.pcap [--json -]
//	nfgo demo                                 client, router and server in namespaces
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/nfgo/nfgo/cmd/nfgo/internal/config"
	"github.com/nfgo/nfgo/cmd/nfgo/internal/exitcode"
	"github.com/nfgo/nfgo/cmd/nfgo/internal/replay"
)

const usage = `nfgo: netfilter as a Go packet engine

usage:
  nfgo run -c nfgo.yaml                      run the router (SIGHUP reloads the ruleset)
  nfgo ruleset list                          print the running ruleset (nft list ruleset)
  nfgo ruleset apply -f FILE                 apply an nft file (nft -f)
  nfgo ruleset check -f FILE [--offline]     check an nft file without applying it (nft -c -f)
  nfgo ruleset flush                         remove every table (nft flush ruleset)
  nfgo ruleset lint -f FILE                  shadowed and unreachable rules, jumps to missing chains
  nfgo conntrack -L|-E|-S|-C|-D|-F [filters] the connection table, as conntrack(8)
  nfgo counters                              rule and named counters
  nfgo stats                                 packets per port, worker and hook; drops by reason
  nfgo trace [EXPR]                          follow packets matching EXPR (nft syntax), as nft monitor trace
  nfgo capture --hook H [-i IF] -w FILE      capture packets at a hook to a pcap file
  nfgo replay -r RULES -i IN.pcap [-o OUT.pcap] [--json FILE|-]
                                             run a capture through the engine offline
  nfgo demo                                  a router in network namespaces, with traffic (root)

Commands that talk to a running nfgo take -s SOCKET (default /run/nfgo.sock,
or $NFGO_SOCKET).
`

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// runMain runs one command and returns the exit status.
func runMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "run":
		err = cmdRun(rest, stderr)
	case "ruleset":
		err = cmdRuleset(rest, stdout, stderr)
	case "conntrack":
		err = cmdConntrack(rest, stdout, stderr)
	case "counters", "stats":
		err = cmdSimple(cmd, rest, stdout, stderr)
	case "trace":
		err = cmdTrace(rest, stdout, stderr)
	case "capture":
		err = cmdCapture(rest, stdout, stderr)
	case "replay":
		err = replay.Main(rest, stdout, stderr)
	case "demo":
		err = cmdDemo(rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "nfgo: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err == nil {
		return 0
	}
	var ee *exitcode.Error
	if errors.As(err, &ee) {
		if ee.Err != nil && ee.Err.Error() != "" {
			fmt.Fprintf(stderr, "nfgo %s: %v\n", cmd, ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintf(stderr, "nfgo %s: %v\n", cmd, err)
	if errors.Is(err, exitcode.ErrUsage) {
		return 2
	}
	return 1
}

// newLogger makes the daemon's logger.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	lv, _ := config.LogLevel(level)
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args; -h is a clean exit, a bad flag a usage error
// (the flag package has printed why).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &exitcode.Error{Code: 0, Err: errors.New("")}
		}
		return &exitcode.Error{Code: 2, Err: errors.New("")}
	}
	return nil
}
