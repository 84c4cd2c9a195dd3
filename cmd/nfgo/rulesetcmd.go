package main

import (
	"fmt"
	"io"
	"os"

	"github.com/nfgo/nfgo/cmd/nfgo/internal/exitcode"
	"github.com/nfgo/nfgo/cmd/nfgo/internal/lint"
	"github.com/nfgo/nfgo/cmd/nfgo/internal/rulesetfile"
	"github.com/nfgo/nfgo/ruleset"
)

const rulesetUsage = `usage: nfgo ruleset list | apply -f FILE | check -f FILE [--offline] | flush | lint -f FILE [-s SOCKET]`

func cmdRuleset(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return exitcode.Usage("%s", rulesetUsage)
	}
	sub := args[0]
	fs := newFlagSet("ruleset "+sub, stderr)
	sock := fs.String("s", "", "control socket")
	file := fs.String("f", "", "the nft file")
	offline := fs.Bool("offline", false, "check: against an empty ruleset, without a running nfgo")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return exitcode.Usage("unexpected argument %q\n%s", fs.Arg(0), rulesetUsage)
	}
	needFile := func() ([]byte, error) {
		if *file == "" {
			return nil, exitcode.Usage("ruleset %s needs -f FILE", sub)
		}
		if *file == "-" {
			return io.ReadAll(os.Stdin)
		}
		return os.ReadFile(*file)
	}
	switch sub {
	case "list", "flush":
		return call(socketPath(*sock), request{Cmd: "ruleset." + sub}, stdout, stderr, nil)
	case "apply", "check":
		src, err := needFile()
		if err != nil {
			return err
		}
		if sub == "check" && *offline {
			_, err := rulesetfile.Apply(ruleset.New(ruleset.Options{}), *file, src, false)
			return err
		}
		return call(socketPath(*sock), request{Cmd: "ruleset." + sub, Name: *file, Data: src}, stdout, stderr, nil)
	case "lint":
		src, err := needFile()
		if err != nil {
			return err
		}
		cmds, err := rulesetfile.Parse(*file, src)
		if err != nil {
			return err
		}
		findings := lint.Check(cmds)
		for _, f := range findings {
			fmt.Fprintln(stdout, f.String())
		}
		if len(findings) > 0 {
			return &exitcode.Error{Code: 1, Err: fmt.Errorf("%d finding(s)", len(findings))}
		}
		return nil
	}
	return exitcode.Usage("unknown ruleset command %q\n%s", sub, rulesetUsage)
}
