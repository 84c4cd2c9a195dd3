// Package engine is nfgo's pipeline: it reads batches of frames from ports,
// walks them through the netfilter hooks, routes them with a FIB, and
// writes them out, delivers them locally, or answers them with ICMP.
//
// An Engine is also the embedding API: create one with New, add ports and
// addresses, register hooks on Hooks(), then Run it with a context. Packets
// the embedding program originates enter at OUTPUT through Inject; packets
// for the engine's own addresses reach Options.Deliver after INPUT.
//
// One worker goroutine per port RX queue, locked to its OS thread, carries
// each batch (up to 64 packets) to its verdicts. See hooks' package comment
// for the packet's way through the hooks.
package engine
