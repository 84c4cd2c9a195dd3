//go:build amd64 || arm64

package conntrack

// prefetchBucket and prefetchEntry ask the CPU to bring the cache line of b,
// or the three of e, into the cache, and return at once. A load used as a
// prefetch (its value kept in a sink) brings the line as well, but it
// cannot retire before the line arrives: a few hundred instructions later
// the core stops behind it, so it overlaps a cache miss with little work.
// The prefetch instruction retires at once. They cost a call (a few
// nanoseconds): worth it for a line that would otherwise miss.

//go:noescape
func prefetchBucket(b *bucket)

//go:noescape
func prefetchEntry(e *entry)
