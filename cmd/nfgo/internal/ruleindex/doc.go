// Package ruleindex resolves the engine's TraceRule events, which name a
// rule by table, chain and handle, to the rule itself: each base chain's
// decision in a packet's way as a Step with the rule's text and line, for
// nfgo trace and nfgo replay.
package ruleindex
