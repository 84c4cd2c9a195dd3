//go:build !amd64 && !arm64

package nat

import "encoding/binary"

// The header accesses of fastRun on slices, for architectures that may not
// take unaligned loads and stores (xlat_unsafe.go has them through
// pointers). Values are in the machine's byte order, as fastRW keeps them.

func load16(b []byte, off uint) uint16     { return binary.NativeEndian.Uint16(b[off:]) }
func load32(b []byte, off uint) uint32     { return binary.NativeEndian.Uint32(b[off:]) }
func store16(b []byte, off uint, v uint16) { binary.NativeEndian.PutUint16(b[off:], v) }
func store32(b []byte, off uint, v uint32) { binary.NativeEndian.PutUint32(b[off:], v) }

// equal128 tells whether b[off:off+16] holds a.
func equal128(b []byte, off uint, a *[16]byte) bool { return string(b[off:off+16]) == string(a[:]) }

// store128 writes a at b[off:].
func store128(b []byte, off uint, a *[16]byte) { copy(b[off:off+16], a[:]) }
