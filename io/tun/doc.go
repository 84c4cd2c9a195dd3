// Package tun is a port backend over a Linux TUN device, through
// golang.zx2c4.com/wireguard/tun: raw IP packets, one queue, for hosts
// where XDP is not available and for handing packets to the host's own
// stack.
//
// With offloads (the virtio-net header, TSO and USO negotiated), the
// kernel hands the device GSO packets of up to 64 KB, which ReadBatch
// returns split into MTU-sized packets, and WriteBatch coalesces runs of
// packets of one flow into GSO packets (GRO) before handing them to the
// kernel. Offloads have been broken on some kernels, so by default New
// probes them on a throwaway device first and falls back to plain I/O if
// the probe fails; Options.Offloads forces either.
//
// ReadBatch waits for the device with poll(2) and a timeout, so it returns
// within about 100 ms; reads then go through wireguard's batch Read.
package tun
