package conntrack

import (
	"encoding/binary"
	"hash/maphash"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/nfgo/nfgo/packet"
)

// BenchmarkHash compares seeded hashes of a tuple: the hand mix in hash.go,
// xxhash with the seed prepended to the key bytes, and hash/maphash
// (Comparable and Bytes). hash.go keeps the fastest.
func BenchmarkHash(b *testing.B) {
	k := TupleFrom(client, server, packet.ProtoTCP)
	h := hasher{s: [6]uint64{1, 2, 3, 4, 5, 6}}
	var sink uint64
	b.Run("mix", func(b *testing.B) {
		for i := range b.N {
			k.SrcPort = uint16(i)
			sink += h.hash(&k)
		}
	})
	b.Run("xxhash", func(b *testing.B) {
		var buf [48]byte
		binary.LittleEndian.PutUint64(buf[:], 0x1234)
		for i := range b.N {
			k.SrcPort = uint16(i)
			tupleBytes(buf[8:], &k)
			sink += xxhash.Sum64(buf[:])
		}
	})
	seed := maphash.MakeSeed()
	b.Run("maphash.Comparable", func(b *testing.B) {
		for i := range b.N {
			k.SrcPort = uint16(i)
			sink += maphash.Comparable(seed, k)
		}
	})
	b.Run("maphash.Bytes", func(b *testing.B) {
		var buf [40]byte
		for i := range b.N {
			k.SrcPort = uint16(i)
			tupleBytes(buf[:], &k)
			sink += maphash.Bytes(seed, buf[:])
		}
	})
	_ = sink
}

func tupleBytes(b []byte, k *Tuple) {
	w0, w1, w2, w3, w4 := k.words()
	binary.LittleEndian.PutUint64(b[0:], w0)
	binary.LittleEndian.PutUint64(b[8:], w1)
	binary.LittleEndian.PutUint64(b[16:], w2)
	binary.LittleEndian.PutUint64(b[24:], w3)
	binary.LittleEndian.PutUint64(b[32:], w4)
}

func BenchmarkPieces(b *testing.B) {
	t := benchTable(b, 1024)
	fl := newBenchFlows(b, 1)
	fl.set(0, 5, false)
	p := fl.ps[0]
	var k Tuple
	b.Run("classify", func(b *testing.B) {
		for range b.N {
			p.CT = 0
			classify(p, &k)
		}
	})
	h := t.h.hash(&k)
	b.Run("find", func(b *testing.B) {
		for range b.N {
			t.find(&k, h, 1e9)
		}
	})
	w := t.NewWorker()
	ps := []*packet.Packet{p}
	d := []bool{false}
	b.Run("track1", func(b *testing.B) {
		for range b.N {
			p.CT = 0
			w.Track(ps, d)
		}
	})
	b.Run("track1+quiesce", func(b *testing.B) {
		for range b.N {
			p.CT = 0
			w.Track(ps, d)
			w.Quiesce()
		}
	})
}
