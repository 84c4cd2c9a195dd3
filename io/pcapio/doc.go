// Package pcapio is a port backend over capture files: it replays a pcap
// or pcapng file as its RX and writes what the engine transmits to a pcap
// file as its TX, for replaying captures through the engine and capturing
// what it sends.
//
// The port has one queue. ReadBatch hands out the capture's frames in
// order, as fast as they are asked for, and at the end returns
// ErrEndOfCapture (which is io.EOF underneath). The link type comes from
// the input file: Ethernet captures give an Ethernet port, raw-IP captures
// (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6) a raw one, and Linux cooked
// captures (SLL, SLL2, as from tcpdump -i any) a raw one with the cooked
// header taken off.
//
// Timestamps are kept: Timestamps gives the capture time of each frame of
// the last batch, and by default a frame written is stamped with the
// capture time of the latest frame read, so a replay's output lines up with
// its input.
package pcapio
