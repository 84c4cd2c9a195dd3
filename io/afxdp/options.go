package afxdp

import (
	"log/slog"
	"time"
)

// AttachMode is how the XDP program that steers frames to the sockets is
// attached to the interface.
type AttachMode uint8

const (
	// ModeAuto tries native (driver) mode and falls back to generic.
	ModeAuto AttachMode = iota
	// ModeNative attaches in the driver's receive path (XDP_FLAGS_DRV_MODE).
	ModeNative
	// ModeGeneric attaches after the kernel has built an skb
	// (XDP_FLAGS_SKB_MODE); it works on every interface, slower.
	ModeGeneric
)

func (m AttachMode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeNative:
		return "native"
	case ModeGeneric:
		return "generic"
	}
	return "mode(?)"
}

// ZeroCopyMode says whether the sockets share the UMEM with the driver
// (zero-copy) or have the kernel copy frames in and out of it.
type ZeroCopyMode uint8

const (
	// ZeroCopyAuto uses zero-copy where the driver has it, copy otherwise.
	// Generic attach mode always copies.
	ZeroCopyAuto ZeroCopyMode = iota
	// ZeroCopyOn requires zero-copy; New fails where the driver lacks it.
	ZeroCopyOn
	// ZeroCopyOff always copies (XDP_COPY).
	ZeroCopyOff
)

func (z ZeroCopyMode) String() string {
	switch z {
	case ZeroCopyAuto:
		return "auto"
	case ZeroCopyOn:
		return "on"
	case ZeroCopyOff:
		return "off"
	}
	return "zerocopy(?)"
}

// Options configure a Port. The zero value of every field but Interface is
// a working default.
type Options struct {
	// Interface is the name of the network interface, in the network
	// namespace of the thread that calls New.
	Interface string
	// Queues is the number of RX/TX queues to open, starting at queue 0.
	// 0 opens every queue the device has (ethtool channels). Frames that
	// arrive on a queue without a socket go on to the kernel's stack.
	Queues int
	// Mode is the XDP attach mode. Zero: ModeAuto.
	Mode AttachMode
	// ZeroCopy selects zero-copy or copy sockets. Zero: ZeroCopyAuto.
	ZeroCopy ZeroCopyMode
	// FrameSize is the size of one UMEM frame, 2048 or 4096. Zero: 2048,
	// or 4096 when the interface MTU does not fit in 2048.
	FrameSize int
	// NumFrames is the number of UMEM frames per queue, a power of two of
	// at least 64; half of them serve RX and half TX. Zero: 4096.
	NumFrames int
	// BindTimeout bounds the retries of a bind that fails with EBUSY
	// because the queue was just released by another socket. Zero: 2s.
	BindTimeout time.Duration
	// Logger receives the modes chosen and other events of the port's
	// life, never per-packet messages. Nil: discard.
	Logger *slog.Logger
}

const (
	defaultNumFrames   = 4096
	defaultBindTimeout = 2 * time.Second
	minNumFrames       = 64
	// pollTimeoutMs is how long ReadBatch waits for frames.
	pollTimeoutMs = 100
)
