//go:build amd64 || arm64

package nat

import "unsafe"

// The header accesses of fastRun, through pointers into b without bounds
// checks: fastRun tests the offsets once before the first access. Sound:
// every access is inside b, whose backing array is alive through the
// caller's b, and the accesses are of plain bytes, unaligned loads and
// stores of which amd64 and arm64, the architectures this file is built
// for, take. xlat_other.go has the same accesses on slices.

func at(b []byte, off uint) unsafe.Pointer {
	return unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), off)
}

func load16(b []byte, off uint) uint16     { return *(*uint16)(at(b, off)) }
func load32(b []byte, off uint) uint32     { return *(*uint32)(at(b, off)) }
func store16(b []byte, off uint, v uint16) { *(*uint16)(at(b, off)) = v }
func store32(b []byte, off uint, v uint32) { *(*uint32)(at(b, off)) = v }

// equal128 tells whether b[off:off+16] holds a.
func equal128(b []byte, off uint, a *[16]byte) bool {
	x, y := (*[2]uint64)(at(b, off)), (*[2]uint64)(unsafe.Pointer(a))
	return x[0]^y[0]|x[1]^y[1] == 0
}

// store128 writes a at b[off:].
func store128(b []byte, off uint, a *[16]byte) { *(*[16]byte)(at(b, off)) = *a }
