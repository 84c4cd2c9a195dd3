// Package afxdp is a port backend that moves Ethernet frames between a
// network interface and the engine through AF_XDP sockets.
//
// A Port attaches a small XDP program (built with cilium/ebpf's asm
// package) that redirects each frame to the socket of the queue it arrived
// on, through an XSKMAP; frames of queues without a socket go on to the
// kernel's stack. The program is attached through a BPF link, so the kernel
// detaches it when the port closes or the process exits or crashes.
//
// Each queue has its own socket and UMEM. The lower half of the UMEM's
// frames is lent to the kernel for RX, the upper half serves TX. ReadBatch
// copies received frames out and gives them straight back through the
// fill ring; WriteBatch copies frames into free TX frames and takes them
// back from the completion ring. Frames are never lost: Frames counts them
// by owner.
//
// Native XDP is tried before generic, zero-copy before copy (ModeAuto,
// ZeroCopyAuto); the modes chosen are logged and reported by Mode and
// Stats.
package afxdp
