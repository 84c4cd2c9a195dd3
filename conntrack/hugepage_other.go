//go:build !linux

package conntrack

func adviseHuge([]entry, []bucket) {}
