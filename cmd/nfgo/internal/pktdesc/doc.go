// Package pktdesc describes a packet's headers in words: as a Flow
// (addresses, protocol, ports, TCP flags, ICMP type and code) for nfgo
// replay's records, and as the packet line of nft monitor trace for nfgo
// trace.
package pktdesc
