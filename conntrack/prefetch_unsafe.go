package conntrack

import (
	"unsafe"

	"github.com/nfgo/nfgo/internal/prefetch"
)

// prefetchBucket and prefetchEntry start fetching the cache line of b, or
// the three of e (see internal/prefetch). Sound: a prefetch reads nothing
// the program sees.
func prefetchBucket(b *bucket) { prefetch.Line(unsafe.Pointer(b)) }
func prefetchEntry(e *entry)   { prefetch.Lines3(unsafe.Pointer(e)) }
