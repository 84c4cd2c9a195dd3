package afxdp

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// xdpPass is the XDP_PASS action.
const xdpPass = 2

// xdpMdRxQueueIndex is the offset of rx_queue_index in struct xdp_md.
const xdpMdRxQueueIndex = 16

// steering is the XDP program that sends each frame to the AF_XDP socket of
// the queue it arrived on, the XSKMAP it looks sockets up in, and the BPF
// link that holds the program on the interface. Because the attachment is a
// link, the kernel detaches the program when the link's last file
// descriptor closes, which includes the process exiting or crashing: the
// interface is never left redirecting into sockets that are gone.
type steering struct {
	xsks *ebpf.Map
	prog *ebpf.Program
	link link.Link
	mode AttachMode // ModeNative or ModeGeneric once attached
}

// steeringInstructions is, in C:
//
//	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
//
// The low bits of bpf_redirect_map's flags are the action it returns when
// the map has no socket at the key (Linux 5.3 and later), so frames on a
// queue without a socket go on to the kernel's stack.
func steeringInstructions(mapFD int) asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, xdpMdRxQueueIndex, asm.Word),
		asm.LoadMapPtr(asm.R1, mapFD),
		asm.Mov.Imm(asm.R3, xdpPass),
		asm.FnRedirectMap.Call(),
		asm.Return(),
	}
}

// newSteering loads the program with an XSKMAP of maxQueues entries and
// attaches it to ifindex in the requested mode; ModeAuto tries native
// first, then generic.
func newSteering(ifindex, maxQueues int, mode AttachMode) (*steering, error) {
	xsks, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       "nfgo_xsks",
		Type:       ebpf.XSKMap,
		KeySize:    4,
		ValueSize:  4,
		MaxEntries: uint32(maxQueues),
	})
	if err != nil {
		return nil, fmt.Errorf("create XSKMAP: %w", err)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "nfgo_xsk_steer",
		Type:         ebpf.XDP,
		Instructions: steeringInstructions(xsks.FD()),
		License:      "GPL",
	})
	if err != nil {
		xsks.Close()
		return nil, fmt.Errorf("load XDP program: %w", err)
	}
	s := &steering{xsks: xsks, prog: prog}
	var tries []AttachMode
	switch mode {
	case ModeAuto:
		tries = []AttachMode{ModeNative, ModeGeneric}
	case ModeNative, ModeGeneric:
		tries = []AttachMode{mode}
	default:
		s.close()
		return nil, fmt.Errorf("unknown attach mode %d", mode)
	}
	var errs []error
	for _, m := range tries {
		flags := link.XDPDriverMode
		if m == ModeGeneric {
			flags = link.XDPGenericMode
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: flags})
		if err == nil {
			s.link, s.mode = l, m
			return s, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", m, err))
	}
	s.close()
	return nil, fmt.Errorf("attach XDP program: %w", errors.Join(errs...))
}

// setSocket makes the program redirect frames of queue q to socket fd.
func (s *steering) setSocket(q, fd int) error {
	return s.xsks.Put(uint32(q), uint32(fd))
}

// close detaches the program first, so that from then on frames go to the
// kernel's stack, then releases the program and the map.
func (s *steering) close() error {
	var errs []error
	if s.link != nil {
		errs = append(errs, s.link.Close())
		s.link = nil
	}
	errs = append(errs, s.prog.Close(), s.xsks.Close())
	return errors.Join(errs...)
}
