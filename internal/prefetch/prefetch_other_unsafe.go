//go:build !amd64 && !arm64

// Package prefetch asks the CPU to bring cache lines into its caches ahead
// of the loads that need them; on this architecture it does nothing.
package prefetch

import "unsafe"

// Line fetches the cache line that holds p.
func Line(unsafe.Pointer) {}

// Lines3 fetches the three cache lines from the one that holds p.
func Lines3(unsafe.Pointer) {}
