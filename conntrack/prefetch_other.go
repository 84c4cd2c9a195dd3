//go:build !amd64 && !arm64

package conntrack

func prefetchBucket(*bucket) {}
func prefetchEntry(*entry)   {}
