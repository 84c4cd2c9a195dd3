package conntrack

import (
	"testing"
)

// BenchmarkMemoryFloor measures what the lookup targets stand on: over
// 256 MiB (well past every cache), "dependent" is a chase through a random
// cycle of cache lines, each load's address coming from the one before (a
// single lookup's bucket-then-entry is two of these), and "independent" is
// random loads whose addresses are known ahead, which the core overlaps (a
// batch's). Both report ns/load. Skipped with -short: it allocates 256 MiB.
func BenchmarkMemoryFloor(b *testing.B) {
	if testing.Short() || oneShot() {
		b.Skip("256 MiB: not under -short or -benchtime=1x")
	}
	const words = 32 << 20 // 256 MiB of uint64
	const lines = words / 8
	a := make([]uint64, words)
	perm := make([]uint32, lines)
	for i := range perm {
		perm[i] = uint32(i)
	}
	r := rng(11)
	for i := lines - 1; i > 0; i-- {
		j := r.intn(uint64(i + 1))
		perm[i], perm[j] = perm[j], perm[i]
	}
	for i := range lines {
		a[perm[i]*8] = uint64(perm[(i+1)%lines]) * 8
	}
	b.Run("dependent", func(b *testing.B) {
		p := uint64(0)
		for range b.N {
			p = a[p]
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/load")
		if p == 1 {
			b.Log(p)
		}
	})
	b.Run("independent", func(b *testing.B) {
		var s uint64
		x := rng(5)
		for range b.N {
			s += a[x.intn(lines)*8]
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/load")
		if s == 1 {
			b.Log(s)
		}
	})
}
