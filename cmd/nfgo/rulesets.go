package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/nfgo/nfgo/engine"
	"github.com/nfgo/nfgo/ruleset"
)

// parseRuleset reads nft syntax; errors name file:line:col.
func parseRuleset(name string, src []byte) ([]ruleset.Command, error) {
	return ruleset.Parse(name, src, ruleset.ParseOptions{})
}

// loadRulesetFile applies the file to cur and returns the result. With
// replace, the file replaces everything (a flush ruleset first, in the
// same transaction), as a reload does.
func loadRulesetFile(cur *ruleset.Ruleset, file string, replace bool) (*ruleset.Ruleset, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return applySource(cur, file, src, replace)
}

func applySource(cur *ruleset.Ruleset, name string, src []byte, replace bool) (*ruleset.Ruleset, error) {
	cmds, err := parseRuleset(name, src)
	if err != nil {
		return nil, err
	}
	if replace {
		cmds = append([]ruleset.Command{{Op: ruleset.CmdFlush, Obj: ruleset.ObjRuleset}}, cmds...)
	}
	return cur.Apply(cmds)
}

// setRuleset installs rs on the engine, saying plainly why the engine
// refuses it when that is how it is configured.
func setRuleset(e *engine.Engine, rs *ruleset.Ruleset) error {
	err := e.SetRuleset(rs)
	if errors.Is(err, engine.ErrNeedsConntrack) {
		return fmt.Errorf("%w: nat chains (masquerade, snat, dnat, redirect) keep their bindings on connections; turn connection tracking on", err)
	}
	return err
}

// loadRulesetIfAny is the config's ruleset applied to an empty one.
func loadRulesetIfAny(cfg *Config) (*ruleset.Ruleset, error) {
	rs := ruleset.New(ruleset.Options{})
	if cfg.Ruleset == "" {
		return rs, nil
	}
	return loadRulesetFile(rs, cfg.Ruleset, false)
}
