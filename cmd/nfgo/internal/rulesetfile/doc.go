// Package rulesetfile reads rulesets in nft syntax for nfgo's commands,
// from a file or from source sent over the control socket, with errors
// that name file:line:col, applies them to the current ruleset, and
// installs the result on an engine.
package rulesetfile
