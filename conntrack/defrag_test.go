package conntrack

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

func defragAll(t *testing.T, w *Worker, frags [][]byte) (*packet.Packet, []DefragVerdict) {
	t.Helper()
	var vs []DefragVerdict
	var done *packet.Packet
	for _, f := range frags {
		p := pktbuild.Parsed(t, f)
		v := w.Defrag(p)
		vs = append(vs, v)
		if v == DefragDone {
			done = p
		}
	}
	return done, vs
}

func TestDefragReassemblesIPv4AndIPv6(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		tab, _ := newTestTable(t, Options{})
		w := tab.NewWorker()
		payload := bytes.Repeat([]byte("0123456789abcdef"), 300) // 4800 bytes
		var whole []byte
		var frags [][]byte
		if v6 {
			c, s := netip.MustParseAddrPort("[2001:db8::1]:5000"), netip.MustParseAddrPort("[2001:db8::2]:53")
			whole = pktbuild.UDP6(c, s, payload)
			frags = pktbuild.FragmentIPv6(whole, 1280, 77)
		} else {
			whole = pktbuild.UDP4(client, server, payload)
			frags = pktbuild.FragmentIPv4(whole, 1400)
		}
		// Out of order: last first.
		frags[0], frags[len(frags)-1] = frags[len(frags)-1], frags[0]
		p, vs := defragAll(t, w, frags)
		if p == nil {
			t.Fatalf("v6=%v: not reassembled: %v", v6, vs)
		}
		if !bytes.Equal(p.Frame, whole) {
			t.Fatalf("v6=%v: reassembled %d bytes, differ from the %d sent", v6, len(p.Frame), len(whole))
		}
		through(w, p) // tracks it, then Quiesce repays the buffer
		if tab.Count() != 1 {
			t.Fatalf("reassembled datagram not tracked")
		}
		if len(p.Frame) != 0 {
			t.Fatalf("buffer not repaid at Quiesce")
		}
		if st := tab.Stats().Defrag; st.Reassembled != 1 || st.Fragments != uint64(len(frags)) {
			t.Fatalf("stats %+v", st)
		}
	}
}

func TestDefragDropsOverlapsOversizedAndTimesOut(t *testing.T) {
	tab, clk := newTestTable(t, Options{})
	w := tab.NewWorker()
	payload := bytes.Repeat([]byte{1}, 3000)
	frags := pktbuild.FragmentIPv4(pktbuild.UDP4(client, server, payload), 1000)
	// An overlapping fragment: the second again, moved 8 bytes back.
	o := &pktbuild.Options{ID: 0, MF: true, FragOff: 968}
	bad := pktbuild.IPv4(client.Addr(), server.Addr(), packet.ProtoUDP, make([]byte, 64), o)
	_, vs := defragAll(t, w, [][]byte{frags[0], frags[1], bad})
	if vs[2] != DefragDrop || tab.Stats().Defrag.Overlaps != 1 {
		t.Fatalf("overlap: %v %+v", vs, tab.Stats().Defrag)
	}
	// Oversized: offset near 64K.
	big := pktbuild.IPv4(client.Addr(), server.Addr(), packet.ProtoUDP, make([]byte, 1000), &pktbuild.Options{ID: 9, FragOff: 65000})
	if v := w.Defrag(pktbuild.Parsed(t, big)); v != DefragDrop || tab.Stats().Defrag.Oversized != 1 {
		t.Fatalf("oversized: %v", v)
	}
	// Timeout: an incomplete datagram expires.
	w.Defrag(pktbuild.Parsed(t, frags[0]))
	clk.advance(31 * time.Second)
	tab.Sweep()
	if st := tab.Stats().Defrag; st.Timeouts != 1 {
		t.Fatalf("timeouts %+v", st)
	}
}

func TestDefragMemoryLimit(t *testing.T) {
	tab, _ := newTestTable(t, Options{Defrag: DefragOptions{MaxMemory: 4000}})
	w := tab.NewWorker()
	for i := range 10 {
		o := &pktbuild.Options{ID: uint16(i), MF: true, FragOff: 1000}
		w.Defrag(pktbuild.Parsed(t, pktbuild.IPv4(client.Addr(), server.Addr(), packet.ProtoUDP, make([]byte, 1000), o)))
	}
	if st := tab.Stats().Defrag; st.MemoryFull != 6 {
		t.Fatalf("stats %+v", st)
	}
}
