package bench

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// LiveSender sends one frame out of an interface as fast as the kernel
// can, with BPF_PROG_RUN in live-frames mode (Linux 5.18): the kernel runs
// an XDP program on the frame over and over and transmits it by the
// program's XDP_TX, with no skb and no system call per frame. It is the
// sender of a benchmark that must saturate the router.
//
// On veth, the frames go to the peer device by XDP, so the peer must have
// NAPI: an XDP program attached, or GRO on (ethtool.GROOn).
type LiveSender struct {
	prog    *ebpf.Program
	frame   []byte
	ifindex int
}

// xdpAborted and xdpTX are XDP actions.
const (
	xdpAborted = 0
	xdpTX      = 3
)

// liveInstructions is an XDP program that writes frame over the packet
// and returns XDP_TX. The kernel recycles a live frame's page once the
// receiver is done with it, and does not restore its bytes: a kernel that
// forwarded the frame leaves new MAC addresses and TTL in it, so the
// program writes the whole frame each time.
func liveInstructions(frame []byte) (asm.Instructions, error) {
	if len(frame)%4 != 0 || len(frame) < 14 {
		return nil, fmt.Errorf("bench: live frame of %d bytes: want a multiple of 4, at least 14", len(frame))
	}
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, xdpMdData, asm.Word),
		asm.LoadMem(asm.R3, asm.R1, xdpMdDataEnd, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, int32(len(frame))),
		asm.JGT.Reg(asm.R4, asm.R3, "short"),
	}
	off := 0
	for ; off+8 <= len(frame); off += 8 {
		insns = append(insns,
			asm.LoadImm(asm.R5, int64(binary.LittleEndian.Uint64(frame[off:])), asm.DWord),
			asm.StoreMem(asm.R2, int16(off), asm.R5, asm.DWord))
	}
	if off < len(frame) {
		insns = append(insns,
			asm.Mov.Imm32(asm.R5, int32(binary.LittleEndian.Uint32(frame[off:]))),
			asm.StoreMem(asm.R2, int16(off), asm.R5, asm.Word))
	}
	return append(insns,
		asm.Mov.Imm(asm.R0, xdpTX),
		asm.Return(),
		asm.Mov.Imm(asm.R0, xdpAborted).WithSymbol("short"),
		asm.Return(),
	), nil
}

// NewLiveSender loads the program that sends frame out of interface
// ifindex.
func NewLiveSender(ifindex int, frame []byte) (*LiveSender, error) {
	insns, err := liveInstructions(frame)
	if err != nil {
		return nil, err
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "nfgo_bench_live", Type: ebpf.XDP, License: "GPL", Instructions: insns})
	if err != nil {
		return nil, fmt.Errorf("bench: load live sender: %w", err)
	}
	return &LiveSender{prog: prog, frame: append([]byte(nil), frame...), ifindex: ifindex}, nil
}

// xdpMd is struct xdp_md, the context of a BPF_PROG_RUN of an XDP program.
type xdpMd struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// Send transmits the frame for about d, in runs of 65,536 frames, from the
// calling thread, which must be in the interface's network namespace. It
// returns how many frames the program ran on: those the device refused
// (a full ring at the peer) are dropped by the kernel and not counted
// apart.
func (s *LiveSender) Send(d time.Duration) (uint64, error) {
	const run = 1 << 16
	var n uint64
	for start := time.Now(); time.Since(start) < d; n += run {
		// In live-frames mode the kernel reports no return value: what
		// arrives at the far end tells.
		_, err := s.prog.Run(&ebpf.RunOptions{
			Data:    s.frame,
			Repeat:  run,
			Flags:   unix.BPF_F_TEST_XDP_LIVE_FRAMES,
			Context: &xdpMd{DataEnd: uint32(len(s.frame)), IngressIfindex: uint32(s.ifindex)},
		})
		if err != nil {
			return n, fmt.Errorf("bench: live frames: %w", err)
		}
	}
	return n, nil
}

// Close frees the program.
func (s *LiveSender) Close() error { return s.prog.Close() }
