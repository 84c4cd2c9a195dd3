// Package replay is nfgo replay: it runs the packets of captures through
// an engine offline, with a ruleset and connection tracking, one packet at
// a time in capture time order and on the captures' clock. What leaves the
// engine is written to pcap files, and a JSON record per input packet says
// its way: the hooks it walked, each base chain's decision, its verdict,
// its connection and the translation applied.
package replay
