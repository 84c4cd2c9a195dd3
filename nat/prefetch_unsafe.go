package nat

import (
	"unsafe"

	"github.com/nfgo/nfgo/internal/prefetch"
)

// prefetchBucket starts fetching bysource bucket bk (see
// internal/prefetch). Sound: a prefetch reads nothing the program sees.
func prefetchBucket(bk *bsBucket) { prefetch.Line(unsafe.Pointer(bk)) }
