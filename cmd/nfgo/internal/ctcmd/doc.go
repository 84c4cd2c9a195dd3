// Package ctcmd is the daemon's half of nfgo conntrack, which works as
// conntrack(8) does: it parses a conntrack command line (-L, -E, -S, -C,
// -G, -D, -F and their filters), carries it out against the connection
// table, prints entries in conntrack-tools' format, and hands the table's
// events to each -E session through an EventHub. The client's half, which
// only forwards the command line over the control socket, is main's.
package ctcmd
