package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/nfgo/nfgo/cmd/nfgo/internal/config"
	"github.com/nfgo/nfgo/cmd/nfgo/internal/exitcode"
	"github.com/nfgo/nfgo/cmd/nfgo/internal/rulesetfile"
	"github.com/nfgo/nfgo/ruleset"
)

// defaultSocket is the control socket when neither the config nor -s
// names one.
const defaultSocket = "/run/nfgo.sock"

func cmdRun(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFile := fs.String("c", "/etc/nfgo/nfgo.yaml", "the config file")
	check := fs.Bool("check", false, "check the config and its ruleset, then exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitcode.Error{Code: 2, Err: errors.New("")}
	}
	cfg, err := config.Load(*cfgFile)
	if err != nil {
		return err
	}
	if cfg.Socket == "" {
		cfg.Socket = defaultSocket
	}
	if *check {
		d := &daemon{cfg: cfg}
		rs, err := loadRulesetIfAny(cfg)
		if err == nil {
			err = d.dryRun(rs)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "%s: ok\n", cfg.File)
		return nil
	}
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	// Signals are caught before anything starts, so that a SIGTERM during
	// start-up still stops cleanly.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	d, err := newDaemon(cfg, log)
	if err != nil {
		return fmt.Errorf("%s: %w (%w)", cfg.File, err, errNothingStarted)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reload := make(chan struct{}, 1)
	go func() {
		for s := range sigs {
			switch s {
			case syscall.SIGHUP:
				log.Info("SIGHUP: reloading the ruleset")
				select {
				case reload <- struct{}{}:
				default:
				}
			default:
				log.Info("signal: stopping", "signal", s.String())
				cancel()
			}
		}
	}()
	return d.run(ctx, reload)
}

// loadRulesetIfAny is the config's ruleset applied to an empty one.
func loadRulesetIfAny(cfg *config.Config) (*ruleset.Ruleset, error) {
	rs := ruleset.New(ruleset.Options{})
	if cfg.Ruleset == "" {
		return rs, nil
	}
	return rulesetfile.Load(rs, cfg.Ruleset, false)
}
