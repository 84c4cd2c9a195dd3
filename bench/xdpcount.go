package bench

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// Counter is a receiver that costs the receiving host next to nothing: an
// XDP program on an interface that counts IPv4 UDP frames and drops them
// before the kernel builds an skb, and passes every other frame (ARP,
// neighbor discovery) on to the kernel's stack. It is the far end of a
// forwarding benchmark, where only what arrives matters.
type Counter struct {
	counts *ebpf.Map // per-CPU array of one uint64
	prog   *ebpf.Program
	link   link.Link
}

// Offsets in struct xdp_md and the frame, and XDP actions.
const (
	xdpMdData    = 0
	xdpMdDataEnd = 4
	xdpDrop      = 1
	xdpPass      = 2
)

// counterInstructions is, in C:
//
//	if (data + 34 > data_end) return XDP_PASS;
//	if (eth->h_proto != htons(ETH_P_IP) || ip->protocol != IPPROTO_UDP) return XDP_PASS;
//	__u32 key = 0; __u64 *n = bpf_map_lookup_elem(&counts, &key);
//	if (n) *n += 1;          // per-CPU: no atomics needed
//	return XDP_DROP;
func counterInstructions(mapFD int) asm.Instructions {
	return countInstructions(mapFD, xdpMdData, xdpMdDataEnd, xdpDrop, xdpPass)
}

// countInstructions is counterInstructions for a program whose context has
// the packet's start and end at offsets data and end, and whose verdicts
// for a counted and another frame are drop and pass.
func countInstructions(mapFD int, data, end int16, drop, pass int32) asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, data, asm.Word),
		asm.LoadMem(asm.R3, asm.R1, end, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 14+20),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 12, asm.Half),
		asm.JNE.Imm(asm.R5, 0x0008, "pass"), // 0x0800 read in host (little-endian) order
		asm.LoadMem(asm.R5, asm.R2, 14+9, asm.Byte),
		asm.JNE.Imm(asm.R5, 17, "pass"),
		asm.StoreImm(asm.R10, -4, 0, asm.Word),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, mapFD),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "drop"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, drop).WithSymbol("drop"),
		asm.Return(),
		asm.Mov.Imm(asm.R0, pass).WithSymbol("pass"),
		asm.Return(),
	}
}

// NewCounter attaches a counting receiver to interface ifindex in native
// mode, or generic mode if generic is set. It must be called from a
// thread in the interface's network namespace. The program stays until
// Close, or until the process exits.
func NewCounter(ifindex int, generic bool) (*Counter, error) {
	flags := link.XDPDriverMode
	if generic {
		flags = link.XDPGenericMode
	}
	return newCounter(ebpf.XDP, counterInstructions, func(prog *ebpf.Program) (link.Link, error) {
		return link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: flags})
	}, ifindex)
}

// newCounter loads a counting program of type typ made by insns around a
// fresh counter map and attaches it with attach.
func newCounter(typ ebpf.ProgramType, insns func(mapFD int) asm.Instructions, attach func(*ebpf.Program) (link.Link, error), ifindex int) (*Counter, error) {
	counts, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: "nfgo_bench_cnt", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("bench: counter map: %w", err)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "nfgo_bench_cnt", Type: typ, License: "GPL", Instructions: insns(counts.FD()),
	})
	if err != nil {
		counts.Close()
		return nil, fmt.Errorf("bench: load %v counter program: %w", typ, err)
	}
	l, err := attach(prog)
	if err != nil {
		prog.Close()
		counts.Close()
		return nil, fmt.Errorf("bench: attach %v counter to ifindex %d: %w", typ, ifindex, err)
	}
	return &Counter{counts: counts, prog: prog, link: l}, nil
}

// Offsets in struct __sk_buff and tc verdicts.
const (
	skbData    = 76
	skbDataEnd = 80
	tcActOK    = 0
	tcActShot  = 2
)

// NewTCCounter is NewCounter at the interface's tc ingress hook (tcx)
// instead of XDP. The kernel builds an skb for every frame first, but
// takes it as it is: an XDP program on a veth device that receives an skb
// with less than 256 bytes of headroom copies it first, and the skbs a
// sender makes differ in headroom (AF_XDP transmit leaves little, a frame
// the kernel forwarded from XDP a lot), so a tc counter costs every sender
// the same.
func NewTCCounter(ifindex int) (*Counter, error) {
	insns := func(mapFD int) asm.Instructions {
		return countInstructions(mapFD, skbData, skbDataEnd, tcActShot, tcActOK)
	}
	return newCounter(ebpf.SchedCLS, insns, func(prog *ebpf.Program) (link.Link, error) {
		return link.AttachTCX(link.TCXOptions{Program: prog, Interface: ifindex, Attach: ebpf.AttachTCXIngress})
	}, ifindex)
}

// Count is the number of IPv4 UDP frames counted so far, over all CPUs.
func (c *Counter) Count() (uint64, error) {
	var per []uint64
	if err := c.counts.Lookup(uint32(0), &per); err != nil {
		return 0, fmt.Errorf("bench: read counter: %w", err)
	}
	var n uint64
	for _, v := range per {
		n += v
	}
	return n, nil
}

// Close detaches the program and frees it.
func (c *Counter) Close() error {
	return errors.Join(c.link.Close(), c.prog.Close(), c.counts.Close())
}
