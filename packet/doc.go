// Package packet owns the bytes of a packet and what nfgo knows about them.
//
// It has zero-copy header views (Ethernet, VLAN, ARP, IPv4, IPv6 and its
// extension headers, TCP, UDP, ICMPv4, ICMPv6): each is a named []byte
// type whose accessors read and write the frame in place. Parse checks a
// frame once, fills the parsed fields of a Packet and returns a Reason
// (ReasonNone when it is well formed); accessors do not check lengths
// again. checksum.go has the Internet checksum, full and incremental
// (RFC 1624).
//
// The package imports only the standard library, never allocates on the
// parse or checksum path, and never panics on any input to Parse.
package packet
