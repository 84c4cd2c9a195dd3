package conntrack

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

func scannableHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/scan/heap:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func gcTime() time.Duration {
	best := time.Hour
	for range 5 {
		start := time.Now()
		runtime.GC()
		best = min(best, time.Since(start))
	}
	return best
}

// TestGCDoesNotScanTheTable builds a table of a million entries and checks
// that the garbage collector has no more to scan than without it: the slab
// and the index hold no pointers.
func TestGCDoesNotScanTheTable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a million entries")
	}
	runtime.GC()
	base, baseT := scannableHeap(), gcTime()
	tab := benchTable(t, 1<<20)
	runtime.GC()
	with, withT := scannableHeap(), gcTime()
	t.Logf("scannable heap: %d KiB without the table, %d KiB with %d entries (%d MiB of slab and index); full GC %v vs %v",
		base>>10, with>>10, tab.Count(), tab.memory()>>20, baseT, withT)
	if with > base+4<<20 {
		t.Fatalf("the table adds %d KiB of scannable heap", (with-base)>>10)
	}
	if per := tab.memory() / tab.Count(); per > 256 {
		t.Fatalf("%d bytes per entry", per)
	}
	runtime.KeepAlive(tab)
}
