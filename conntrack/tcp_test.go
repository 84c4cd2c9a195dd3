package conntrack

import (
	"testing"
	"time"

	"github.com/nfgo/nfgo/internal/pktbuild"
)

// step is one segment of a scripted TCP conversation and what the kernel
// makes of it: the packet's ctinfo and the entry's state after it.
type step struct {
	orig    bool
	flags   uint8
	seq     uint32
	ack     uint32
	payload int
	opts    *pktbuild.Options
	info    CTInfo
	state   TCPState
}

func runScript(t *testing.T, tab *Table, steps []step) *conv {
	t.Helper()
	c := newConv(t, tab)
	for i, s := range steps {
		info, st := c.send(s.orig, s.flags, s.seq, s.ack, s.payload, s.opts)
		if info != s.info || st != s.state {
			t.Fatalf("step %d (orig=%v flags=%#x seq=%d ack=%d): got %v %v, want %v %v",
				i, s.orig, s.flags, s.seq, s.ack, info, st, s.info, s.state)
		}
	}
	return c
}

var (
	invalid = InfoNone
	est     = InfoEstablished
	estRep  = InfoEstablishedReply
	newInfo = InfoNew
)

func wscale(s uint8) *pktbuild.Options {
	return &pktbuild.Options{TCPOptions: []byte{1, 3, 3, s}}
}

// tcpScript is a scripted conversation, the kernel's verdicts and states
// for each step and the entry's timeout and assured bit at the end. The
// same scripts run against the kernel in TestTCPScriptsMatchTheKernel.
type tcpScript struct {
	name    string
	opts    Options
	steps   []step
	timeout time.Duration
	assured bool
}

func tcpScripts() []tcpScript {
	handshake := []step{
		{true, fS, 1000, 0, 0, nil, newInfo, TCPSynSent},
		{false, fSA, 5000, 1001, 0, nil, estRep, TCPSynRecv},
		{true, fA, 1001, 5001, 0, nil, est, TCPEstablished},
	}
	cat := func(a ...[]step) (r []step) {
		for _, x := range a {
			r = append(r, x...)
		}
		return r
	}
	return []tcpScript{
		{"a three-way handshake establishes and assures the connection", Options{}, handshake, 5 * 24 * time.Hour, true},
		{"a full close goes through FIN_WAIT, CLOSE_WAIT, LAST_ACK to TIME_WAIT", Options{}, cat(handshake, []step{
			{true, fFA, 1001, 5001, 0, nil, est, TCPFinWait},
			{false, fA, 5001, 1002, 0, nil, estRep, TCPCloseWait},
			{false, fFA, 5001, 1002, 0, nil, estRep, TCPLastAck},
			{true, fA, 1002, 5002, 0, nil, est, TCPTimeWait},
		}), 2 * time.Minute, true},
		{"a half-closed connection still carries data from the other side", Options{}, cat(handshake, []step{
			{true, fFA, 1001, 5001, 0, nil, est, TCPFinWait},
			{false, fA, 5001, 1002, 0, nil, estRep, TCPCloseWait},
			{false, fPA, 5001, 1002, 100, nil, estRep, TCPCloseWait},
			{true, fA, 1002, 5101, 0, nil, est, TCPCloseWait},
			{false, fFA, 5101, 1002, 0, nil, estRep, TCPLastAck},
			{true, fA, 1002, 5102, 0, nil, est, TCPTimeWait},
		}), 2 * time.Minute, true},
		{"simultaneous open goes through SYN_SENT2 to ESTABLISHED", Options{}, []step{
			{true, fS, 1000, 0, 0, nil, newInfo, TCPSynSent},
			{false, fS, 5000, 0, 0, nil, estRep, TCPSynSent2},
			{true, fSA, 1000, 5001, 0, nil, est, TCPSynRecv},
			{false, fA, 5001, 1001, 0, nil, estRep, TCPEstablished},
		}, 5 * 24 * time.Hour, true},
		{"a RST in the window closes the connection", Options{}, cat(handshake, []step{
			{false, fR, 5001, 0, 0, nil, estRep, TCPClose},
		}), 10 * time.Second, true},
		{"a RST far out of the window is invalid and changes nothing", Options{}, cat(handshake, []step{
			{false, fR, 5001 + 1<<20, 0, 0, nil, invalid, TCPEstablished},
		}), 5 * 24 * time.Hour, true},
		{"a RST before what the peer acknowledged is invalid", Options{}, cat(handshake, []step{
			{false, fR, 4000, 0, 0, nil, invalid, TCPEstablished},
		}), 5 * 24 * time.Hour, true},
		{"a RST in the window but not at the expected sequence keeps the state for a challenge ACK", Options{}, cat(handshake, []step{
			{false, fR, 5011, 0, 0, nil, estRep, TCPEstablished},
		}), 10 * time.Second, true},
		{"retransmitted data is accepted", Options{}, cat(handshake, []step{
			{true, fPA, 1001, 5001, 100, nil, est, TCPEstablished},
			{true, fPA, 1001, 5001, 100, nil, est, TCPEstablished},
			{false, fA, 5001, 1101, 0, nil, estRep, TCPEstablished},
		}), 5 * 24 * time.Hour, true},
		{"three retransmissions of the same ACK shorten the timeout to max_retrans", Options{}, cat(handshake, []step{
			{true, fA, 1001, 5001, 0, nil, est, TCPEstablished},
			{true, fA, 1001, 5001, 0, nil, est, TCPEstablished},
			{true, fA, 1001, 5001, 0, nil, est, TCPEstablished},
			{true, fA, 1001, 5001, 0, nil, est, TCPEstablished},
		}), 5 * time.Minute, true},
		{"unacknowledged data shortens the timeout to unacknowledged", Options{}, cat(handshake, []step{
			{true, fPA, 1001, 5001, 100, nil, est, TCPEstablished},
		}), 5 * time.Minute, true},
		{"data a little past the window is let through unchanged (IGNORE)", Options{}, cat(handshake, []step{
			{true, fPA, 1001 + 70000, 5001, 10, nil, est, TCPEstablished},
		}), 5 * 24 * time.Hour, true},
		{"data past the receiver's window is invalid", Options{}, cat(handshake, []step{
			{true, fPA, 1001 + 200000, 5001, 10, nil, invalid, TCPEstablished},
		}), 5 * 24 * time.Hour, true},
		{"an ACK for data not seen yet is invalid", Options{}, cat(handshake, []step{
			{true, fA, 1001, 9000, 0, nil, invalid, TCPEstablished},
		}), 5 * 24 * time.Hour, true},
		{"the liberal option accepts data past the window", Options{Liberal: true}, cat(handshake, []step{
			{true, fPA, 1001 + 200000, 5001, 10, nil, est, TCPEstablished},
		}), 5 * 24 * time.Hour, true},
		{"with window scaling on both sides a scaled window is honoured", Options{}, []step{
			{true, fS, 1000, 0, 0, wscale(10), newInfo, TCPSynSent},
			{false, fSA, 5000, 1001, 0, wscale(10), estRep, TCPSynRecv},
			{true, fA, 1001, 5001, 0, nil, est, TCPEstablished},
			{false, fA, 5001, 1001, 0, &pktbuild.Options{Window: 1000}, estRep, TCPEstablished},
			{true, fPA, 501001, 5001, 1, nil, est, TCPEstablished},
		}, 5 * time.Minute, true},
		{"window scaling offered by one side only is not applied", Options{}, []step{
			{true, fS, 1000, 0, 0, wscale(10), newInfo, TCPSynSent},
			{false, fSA, 5000, 1001, 0, nil, estRep, TCPSynRecv},
			{true, fA, 1001, 5001, 0, nil, est, TCPEstablished},
			{false, fA, 5001, 1001, 0, &pktbuild.Options{Window: 1000}, estRep, TCPEstablished},
			{true, fPA, 501001, 5001, 1, nil, invalid, TCPEstablished},
		}, 5 * 24 * time.Hour, true},
		{"an ACK without a SYN picks up a running connection (loose)", Options{}, []step{
			{true, fA, 1001, 5001, 0, nil, newInfo, TCPEstablished},
			{false, fA, 5001, 1001, 0, nil, estRep, TCPEstablished},
			{true, fA, 1001, 5001, 0, nil, est, TCPEstablished},
		}, 5 * 24 * time.Hour, true},
		{"a SYN-ACK cannot start a connection", Options{}, []step{
			{true, fSA, 1000, 1, 0, nil, invalid, TCPNone},
		}, 0, false},
		{"a SYN with FIN is an impossible flag combination", Options{}, []step{
			{true, fS | fF, 1000, 0, 0, nil, invalid, TCPNone},
		}, 0, false},
		{"an ACK in reply to a SYN only is ignored", Options{}, []step{
			{true, fS, 1000, 0, 0, nil, newInfo, TCPSynSent},
			{false, fA, 5000, 1001, 0, nil, estRep, TCPSynSent},
		}, 2 * time.Minute, false},
		{"a SYN reopens a connection in TIME_WAIT", Options{}, cat(handshake, []step{
			{true, fFA, 1001, 5001, 0, nil, est, TCPFinWait},
			{false, fFA, 5001, 1002, 0, nil, estRep, TCPLastAck},
			{true, fA, 1002, 5002, 0, nil, est, TCPTimeWait},
			{true, fS, 90000, 0, 0, nil, newInfo, TCPSynSent},
		}), 2 * time.Minute, false},
	}
}

func TestTCPScripts(t *testing.T) {
	tests := tcpScripts()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab, _ := newTestTable(t, tc.opts)
			c := runScript(t, tab, tc.steps)
			if tc.timeout == 0 {
				if tab.Count() != 0 {
					t.Fatalf("count = %d, want no entry", tab.Count())
				}
				return
			}
			e := c.entry()
			if e.Timeout != tc.timeout {
				t.Errorf("timeout = %v, want %v", e.Timeout, tc.timeout)
			}
			if got := e.Status&StatusAssured != 0; got != tc.assured {
				t.Errorf("assured = %v, want %v (status %#x)", got, tc.assured, e.Status)
			}
		})
	}
}

func TestTCPNoLooseRefusesPickup(t *testing.T) {
	tab, _ := newTestTable(t, Options{TCPNoLoose: true})
	c := newConv(t, tab)
	if info, _ := c.send(true, fA, 1001, 5001, 0, nil); info != InfoNone {
		t.Fatalf("ctinfo = %v, want invalid", info)
	}
	if tab.Count() != 0 {
		t.Fatalf("count = %d", tab.Count())
	}
}

func TestTCPRSTAnsweringSYNDeletesTheEntry(t *testing.T) {
	tab, _ := newTestTable(t, Options{})
	c := newConv(t, tab)
	c.send(true, fS, 1000, 0, 0, nil)
	if info, _ := c.send(false, fRA, 0, 1001, 0, nil); info != InfoEstablishedReply {
		t.Fatalf("ctinfo = %v", info)
	}
	if tab.Count() != 0 {
		t.Fatalf("count = %d, want 0: a RST as the only answer kills the entry", tab.Count())
	}
}

func TestTCPEntryExpiresAfterItsStateTimeout(t *testing.T) {
	tab, clk := newTestTable(t, Options{})
	c := newConv(t, tab)
	c.send(true, fS, 1000, 0, 0, nil)
	clk.advance(2*time.Minute - time.Second)
	tab.Sweep()
	if tab.Count() != 1 {
		t.Fatalf("expired too early")
	}
	clk.advance(time.Second)
	if n := tab.Sweep(); n != 1 || tab.Count() != 0 {
		t.Fatalf("sweep deleted %d, count %d", n, tab.Count())
	}
}
