//go:build linux

package conntrack

import (
	"os"
	"syscall"
	"unsafe"
)

// adviseHuge asks the kernel to back the slab and the index with huge pages
// (MADV_HUGEPAGE; it matters when transparent_hugepage is "madvise"). A
// lookup is two dependent random loads into a table of hundreds of
// megabytes: with 4 KiB pages each load also misses the TLB and pays a page
// walk, which costs more than the load itself (see BenchmarkLookup/1M).
//
// Sound: the byte slices cover exactly the memory of the slices they come
// from, which stay alive in the Table, and madvise neither reads nor writes
// that memory. The call is made before the memory is first touched; it is
// advice, and an error is ignored.
func adviseHuge(slab []entry, buckets []bucket) {
	if os.Getenv("NFGO_NOHUGE") != "" {
		return
	}
	if len(slab) > 0 {
		b := unsafe.Slice((*byte)(unsafe.Pointer(&slab[0])), len(slab)*int(unsafe.Sizeof(slab[0])))
		_ = syscall.Madvise(b, syscall.MADV_HUGEPAGE)
	}
	if len(buckets) > 0 {
		b := unsafe.Slice((*byte)(unsafe.Pointer(&buckets[0])), len(buckets)*int(unsafe.Sizeof(buckets[0])))
		_ = syscall.Madvise(b, syscall.MADV_HUGEPAGE)
	}
}
