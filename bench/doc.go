// Package bench measures and exercises nfgo on real traffic: traffic
// generation, scenarios, comparison with the kernel's own forwarding, and
// the end-to-end router tests.
//
// Its tests build hosts in network namespaces joined by veth pairs or TUN
// devices (client — router — server), run an nfgo engine in-process as the
// router, and send real traffic through it: ping, UDP, TCP over IPv4 and
// IPv6, over AF_XDP ports in native and generic mode and over TUN ports; a
// pcap replayed through pcapio ports; and a router process killed with
// SIGKILL. BenchmarkForwardUDP64 compares nfgo's forwarding rate of
// 64-byte frames with the kernel's on the same topology, and
// BenchmarkForwardUDP64Saturated does with a sender that saturates the
// router. See README.md for the commands and the figures.
//
// The package's non-test code is what a benchmark command can reuse: a
// UDP frame builder, a sender over an AF_XDP port, a live-frames sender
// (BPF_PROG_RUN), and a counting XDP receiver.
package bench
