package conntrack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/nfgo/nfgo/internal/pktbuild"
)

func TestIDChangesWhenASlotHoldsANewConnection(t *testing.T) {
	tb, clock := newTestTable(t, Options{})
	w := tb.NewWorker()
	p := pktbuild.Parsed(t, pktbuild.UDP4(client, server, nil))
	if !through(w, p) {
		t.Fatal("first packet dropped")
	}
	slot, id := p.CT, tb.ID(p.CT)
	if id == 0 || id&0xffffffff != uint64(slot) {
		t.Fatalf("ID %#x for slot %d", id, slot)
	}
	if tb.ID(0) != 0 || tb.ID(slot+1) != 0 {
		t.Fatal("an empty slot has an ID")
	}
	// The connection times out and the slot is taken by another one.
	clock.advance(10 * time.Minute)
	tb.Sweep()
	w.Idle()
	if tb.ID(slot) != 0 {
		t.Fatal("an expired entry keeps its ID")
	}
	for i := 0; i < 10000; i++ {
		q := pktbuild.Parsed(t, pktbuild.UDP4(netip.AddrPortFrom(client.Addr(), uint16(i)), server, nil))
		through(w, q)
		if q.CT == slot {
			if got := tb.ID(slot); got == 0 || got == id {
				t.Fatalf("slot %d reused with ID %#x, was %#x", slot, got, id)
			}
			return
		}
	}
	t.Fatal("the slot was never reused")
}
