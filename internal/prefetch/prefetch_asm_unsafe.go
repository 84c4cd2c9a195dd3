//go:build amd64 || arm64

// Package prefetch asks the CPU to bring cache lines into its caches ahead
// of the loads that need them (PREFETCHT0 on amd64, PRFM PLDL1KEEP on
// arm64; nothing elsewhere).
//
// A load used as a prefetch (its value kept in a sink) brings the line as
// well, but it cannot retire before the line arrives: a few hundred
// instructions later the core stops behind it, so it overlaps a cache miss
// with little work. A prefetch instruction retires at once. Each call costs
// a call (a few nanoseconds): worth it for a line that would otherwise
// miss.
//
// Sound for any pointer: a prefetch reads nothing the program sees, and
// does not fault on an address that is not mapped.
package prefetch

import "unsafe"

// Line fetches the cache line that holds p.
//
//go:noescape
func Line(p unsafe.Pointer)

// Lines3 fetches the three cache lines from the one that holds p.
//
//go:noescape
func Lines3(p unsafe.Pointer)
