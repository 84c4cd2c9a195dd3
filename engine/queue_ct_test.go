package engine

import (
	"net/netip"
	"testing"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/hooks"
	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

// TestQueuedNewConnectionKeepsItsEntry: the first packet of a connection is
// queued at FORWARD, before its entry is confirmed, and re-injected only
// after its batch has ended. As in the kernel, the entry waits with the
// packet: re-injected with ACCEPT, it is confirmed (the reply is
// ESTABLISHED); with DROP, it is gone. Nothing stays held either way.
func TestQueuedNewConnectionKeepsItsEntry(t *testing.T) {
	for _, v := range []hooks.Verdict{hooks.Accept, hooks.Drop} {
		t.Run(v.String(), func(t *testing.T) {
			ct := conntrack.New(conntrack.Options{SweepInterval: -1})
			t.Cleanup(ct.Close)
			r := newRig(t, Options{Conntrack: ct})
			var infos []conntrack.CTInfo
			first := true
			r.e.Hooks().Register(&hooks.Ops{Family: packet.FamilyIPv4, Hook: hooks.Forward, Func: func(p *packet.Packet, _ *hooks.State) hooks.Verdict {
				infos = append(infos, conntrack.CTInfo(p.CTInfo))
				if first {
					first = false
					return hooks.Queue(3, false)
				}
				return hooks.Accept
			}})
			var q *QueuedPacket
			r.e.SetQueueHandler(3, func(qp *QueuedPacket) { q = qp })
			c, s := netip.AddrPortFrom(client, 1000), netip.AddrPortFrom(server, 53)
			r.lan.Send(0, pktbuild.UDP4(c, s, []byte("question")))
			r.step() // the batch ends with the packet queued
			if q == nil {
				t.Fatal("not queued")
			}
			if ct.Held() != 1 || ct.Count() != 1 {
				t.Fatalf("while queued: held %d, count %d; want 1, 1", ct.Held(), ct.Count())
			}
			if err := q.Reinject(v); err != nil {
				t.Fatal(err)
			}
			if ct.Held() != 0 {
				t.Fatalf("held %d after re-injection", ct.Held())
			}
			if v == hooks.Drop {
				if ct.Count() != 0 {
					t.Fatalf("count %d after the queued packet was dropped", ct.Count())
				}
				return
			}
			if len(r.recv(r.wan)) != 1 {
				t.Fatal("re-injected packet not sent")
			}
			e, ok := ct.Get(conntrack.TupleFrom(c, s, packet.ProtoUDP))
			if !ok || e.Status&conntrack.StatusConfirmed == 0 {
				t.Fatalf("entry after re-injection: %+v, %v", e, ok)
			}
			r.wan.Send(0, pktbuild.UDP4(s, c, []byte("answer")))
			r.step()
			if len(infos) != 2 || infos[1] != conntrack.InfoEstablishedReply {
				t.Fatalf("ctinfo at forward: %v, want the reply established", infos)
			}
		})
	}
}
