package rulesetfile

import (
	"errors"
	"fmt"
	"os"

	"github.com/nfgo/nfgo/engine"
	"github.com/nfgo/nfgo/ruleset"
)

// Parse reads nft syntax; errors name file:line:col.
func Parse(name string, src []byte) ([]ruleset.Command, error) {
	return ruleset.Parse(name, src, ruleset.ParseOptions{})
}

// Load applies the file to cur and returns the result. With replace, the
// file replaces everything (a flush ruleset first, in the same
// transaction), as a reload does.
func Load(cur *ruleset.Ruleset, file string, replace bool) (*ruleset.Ruleset, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return Apply(cur, file, src, replace)
}

// Apply is Load for source already read; name stands for the file in
// errors.
func Apply(cur *ruleset.Ruleset, name string, src []byte, replace bool) (*ruleset.Ruleset, error) {
	cmds, err := Parse(name, src)
	if err != nil {
		return nil, err
	}
	if replace {
		cmds = append([]ruleset.Command{{Op: ruleset.CmdFlush, Obj: ruleset.ObjRuleset}}, cmds...)
	}
	return cur.Apply(cmds)
}

// Install installs rs on the engine, saying plainly why the engine
// refuses it when that is how it is configured.
func Install(e *engine.Engine, rs *ruleset.Ruleset) error {
	err := e.SetRuleset(rs)
	if errors.Is(err, engine.ErrNeedsConntrack) {
		return fmt.Errorf("%w: nat chains (masquerade, snat, dnat, redirect) keep their bindings on connections; turn connection tracking on", err)
	}
	return err
}
