package hooks

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nfgo/nfgo/packet"
)

type trace struct{ calls []string }

func (t *trace) fn(name string, v Verdict) Func {
	return func(p *packet.Packet, _ *State) Verdict {
		t.calls = append(t.calls, name)
		return v
	}
}

func pkts(n int, f packet.Family) []*packet.Packet {
	ps := make([]*packet.Packet, n)
	for i := range ps {
		ps[i] = packet.New()
		ps[i].Family = f
	}
	return ps
}

func TestEntriesRunInPriorityOrderWithTiesInRegistrationOrder(t *testing.T) {
	r := NewRegistry()
	var tr trace
	reg := func(name string, prio Priority) {
		if err := r.Register(&Ops{Name: name, Family: packet.FamilyIPv4, Hook: Forward, Priority: prio, Func: tr.fn(name, Accept)}); err != nil {
			t.Fatal(err)
		}
	}
	reg("filter-a", PriorityFilter)
	reg("confirm", PriorityConntrackConfirm)
	reg("raw", PriorityRaw)
	reg("filter-b", PriorityFilter)
	reg("first", PriorityFirst)
	reg("mangle", PriorityMangle)
	out := make([]Outcome, 1)
	var run Runner
	run.Run(r.List(packet.FamilyIPv4, Forward), Forward, pkts(1, packet.FamilyIPv4), out)
	want := []string{"first", "raw", "mangle", "filter-a", "filter-b", "confirm"}
	if !slices.Equal(tr.calls, want) {
		t.Fatalf("order %v, want %v", tr.calls, want)
	}
	if out[0].Verdict != Accept {
		t.Fatalf("outcome %v, want accept", out[0].Verdict)
	}
}

func TestInetEntriesRunOnBothFamilies(t *testing.T) {
	r := NewRegistry()
	var tr trace
	r.Register(&Ops{Family: packet.FamilyInet, Hook: Input, Func: tr.fn("inet", Accept)})
	r.Register(&Ops{Family: packet.FamilyIPv6, Hook: Input, Priority: -1, Func: tr.fn("ip6", Accept)})
	if n := r.List(packet.FamilyIPv4, Input).Len(); n != 1 {
		t.Fatalf("ipv4 input has %d entries, want 1", n)
	}
	var run Runner
	out := make([]Outcome, 1)
	run.Run(r.List(packet.FamilyIPv6, Input), Input, pkts(1, packet.FamilyIPv6), out)
	if !slices.Equal(tr.calls, []string{"ip6", "inet"}) {
		t.Fatalf("calls %v", tr.calls)
	}
}

func TestVerdictsStopTheWalkAndNameTheEntry(t *testing.T) {
	for _, tc := range []struct {
		name    string
		verdict Verdict
		calls   []string
	}{
		{"accept goes on to the next entry", Accept, []string{"a", "b", "c"}},
		{"drop ends the walk", Drop, []string{"a", "b"}},
		{"stolen ends the walk", Stolen, []string{"a", "b"}},
		{"queue ends the walk", Queue(7, false), []string{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRegistry()
			var tr trace
			r.Register(&Ops{Family: packet.FamilyIPv4, Hook: Prerouting, Priority: -10, Func: tr.fn("a", Accept)})
			r.Register(&Ops{Family: packet.FamilyIPv4, Hook: Prerouting, Priority: 0, Func: tr.fn("b", tc.verdict)})
			r.Register(&Ops{Family: packet.FamilyIPv4, Hook: Prerouting, Priority: 10, Func: tr.fn("c", Accept)})
			var run Runner
			out := make([]Outcome, 1)
			p := pkts(1, packet.FamilyIPv4)
			run.Run(r.List(packet.FamilyIPv4, Prerouting), Prerouting, p, out)
			if !slices.Equal(tr.calls, tc.calls) {
				t.Fatalf("calls %v, want %v", tr.calls, tc.calls)
			}
			if out[0].Verdict != tc.verdict {
				t.Fatalf("verdict %v, want %v", out[0].Verdict, tc.verdict)
			}
			if tc.verdict != Accept && out[0].Entry != 1 {
				t.Fatalf("entry %d, want 1", out[0].Entry)
			}
			if p[0].Hook != uint8(Prerouting) {
				t.Fatalf("hook field %d", p[0].Hook)
			}
			// The single-packet walk agrees with the batch walk.
			tr.calls = nil
			o := RunFrom(r.List(packet.FamilyIPv4, Prerouting), Prerouting, p[0], 0, 0)
			if o != out[0] || !slices.Equal(tr.calls, tc.calls) {
				t.Fatalf("RunFrom %+v %v, batch %+v %v", o, tr.calls, out[0], tc.calls)
			}
		})
	}
}

func TestRepeatCallsTheSameEntryAgainUntilItDecides(t *testing.T) {
	r := NewRegistry()
	n := 0
	r.Register(&Ops{Family: packet.FamilyIPv4, Hook: Output, Func: func(_ *packet.Packet, _ *State) Verdict {
		n++
		if n < 3 {
			return Repeat
		}
		return Accept
	}})
	var run Runner
	out := make([]Outcome, 1)
	run.Run(r.List(packet.FamilyIPv4, Output), Output, pkts(1, packet.FamilyIPv4), out)
	if n != 3 || out[0].Verdict != Accept {
		t.Fatalf("called %d times, verdict %v; want 3, accept", n, out[0].Verdict)
	}
}

func TestARepeatLoopIsCutOffAndDropped(t *testing.T) {
	r := NewRegistry()
	n := 0
	r.Register(&Ops{Family: packet.FamilyIPv4, Hook: Output, Func: func(_ *packet.Packet, _ *State) Verdict { n++; return Repeat }})
	var later bool
	r.Register(&Ops{Family: packet.FamilyIPv4, Hook: Output, Priority: 1, Func: func(_ *packet.Packet, _ *State) Verdict { later = true; return Accept }})
	var run Runner
	out := make([]Outcome, 1)
	run.Run(r.List(packet.FamilyIPv4, Output), Output, pkts(1, packet.FamilyIPv4), out)
	if out[0].Verdict != Drop || !out[0].RepeatCut {
		t.Fatalf("outcome %+v, want a drop cut off by the repeat bound", out[0])
	}
	if n != MaxRepeat+1 || later {
		t.Fatalf("called %d times (want %d), later entry ran: %v", n, MaxRepeat+1, later)
	}
	n = 0
	o := RunFrom(r.List(packet.FamilyIPv4, Output), Output, pkts(1, packet.FamilyIPv4)[0], 0, 0)
	if o.Verdict != Drop || !o.RepeatCut || n != MaxRepeat+1 {
		t.Fatalf("RunFrom %+v after %d calls", o, n)
	}
}

func TestBatchEntriesSeeOnlyLivePackets(t *testing.T) {
	r := NewRegistry()
	r.Register(&Ops{Family: packet.FamilyIPv4, Hook: Forward, Priority: -1, Func: func(p *packet.Packet, _ *State) Verdict {
		if p.Mark%2 == 1 {
			return Drop
		}
		return Accept
	}})
	var seen []uint32
	r.Register(&Ops{Family: packet.FamilyIPv4, Hook: Forward, Batch: func(ps []*packet.Packet, v []Verdict, _ *State) {
		for i, p := range ps {
			seen = append(seen, p.Mark)
			if p.Mark == 4 {
				v[i] = Stolen
			}
		}
	}})
	ps := pkts(6, packet.FamilyIPv4)
	for i, p := range ps {
		p.Mark = uint32(i)
	}
	out := make([]Outcome, 6)
	var run Runner
	run.Run(r.List(packet.FamilyIPv4, Forward), Forward, ps, out)
	if !slices.Equal(seen, []uint32{0, 2, 4}) {
		t.Fatalf("batch entry saw %v", seen)
	}
	want := []Verdict{Accept, Drop, Accept, Drop, Stolen, Drop}
	for i := range out {
		if out[i].Verdict != want[i] {
			t.Fatalf("packet %d: %v, want %v", i, out[i].Verdict, want[i])
		}
	}
}

func TestIngressListsArePerInterfaceAndInetSkipsNonIP(t *testing.T) {
	r := NewRegistry()
	var tr trace
	if err := r.Register(&Ops{Family: packet.FamilyIPv4, Hook: Ingress, Device: 3, Func: tr.fn("x", Accept)}); !errors.Is(err, ErrBadFamily) {
		t.Fatalf("ipv4 family at ingress: %v", err)
	}
	r.Register(&Ops{Family: packet.FamilyNetdev, Hook: Ingress, Device: 3, Func: tr.fn("netdev", Accept)})
	r.Register(&Ops{Family: packet.FamilyInet, Hook: Ingress, Device: 3, Priority: 1, Func: tr.fn("inet", Accept)})
	if r.IngressList(4).Len() != 0 || r.IngressList(3).Len() != 2 {
		t.Fatal("ingress lists are not per interface")
	}
	var run Runner
	out := make([]Outcome, 1)
	run.Run(r.IngressList(3), Ingress, pkts(1, packet.FamilyARP), out)
	if !slices.Equal(tr.calls, []string{"netdev"}) {
		t.Fatalf("calls for an ARP frame: %v", tr.calls)
	}
}

func TestRegisterAndUnregisterErrors(t *testing.T) {
	r := NewRegistry()
	ops := &Ops{Family: packet.FamilyIPv4, Hook: Input, Func: func(_ *packet.Packet, _ *State) Verdict { return Accept }}
	if err := r.Register(&Ops{Family: packet.FamilyIPv4, Hook: Input}); !errors.Is(err, ErrNoFunc) {
		t.Fatalf("no func: %v", err)
	}
	if err := r.Register(&Ops{Family: packet.FamilyARP, Hook: Input, Func: ops.Func}); !errors.Is(err, ErrBadFamily) {
		t.Fatalf("arp family: %v", err)
	}
	if err := r.Register(&Ops{Family: packet.FamilyIPv4, Hook: 9, Func: ops.Func}); !errors.Is(err, ErrBadHook) {
		t.Fatalf("bad hook: %v", err)
	}
	if err := r.Unregister(ops); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("unregister unknown: %v", err)
	}
	if err := r.Register(ops); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(ops); !errors.Is(err, ErrRegistered) {
		t.Fatalf("double register: %v", err)
	}
	if err := r.Unregister(ops); err != nil {
		t.Fatal(err)
	}
	if r.List(packet.FamilyIPv4, Input).Len() != 0 {
		t.Fatal("entry still listed")
	}
}

// Registering and unregistering while packets flow: each walk sees a whole
// list, old or new. The two entries are always registered together, so a
// walk that sees one but not the other saw a torn list.
func TestRegistrationWhilePacketsFlowNeverTearsAList(t *testing.T) {
	r := NewRegistry()
	var calls atomic.Int64
	a := &Ops{Family: packet.FamilyIPv4, Hook: Forward, Func: func(p *packet.Packet, _ *State) Verdict { p.Mark++; return Accept }}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				r.Register(a)
			} else {
				r.Unregister(a)
			}
		}
	}()
	var run Runner
	ps := pkts(8, packet.FamilyIPv4)
	out := make([]Outcome, 8)
	for i := 0; i < 20000; i++ {
		for _, p := range ps {
			p.Mark = 0
		}
		l := r.List(packet.FamilyIPv4, Forward)
		run.Run(l, Forward, ps, out)
		for _, p := range ps {
			if int(p.Mark) != l.Len() {
				t.Fatalf("packet marked %d times by a list of %d", p.Mark, l.Len())
			}
		}
		calls.Add(1)
	}
	close(stop)
	wg.Wait()
}

func TestVerdictEncoding(t *testing.T) {
	v := Queue(513, true)
	if !v.IsQueue() || v.QueueNum() != 513 || !v.Bypass() || v.String() != "queue 513 bypass" {
		t.Fatalf("queue verdict %#x decodes as %v", uint32(v), v)
	}
	if Queue(1, false).Bypass() || Accept.IsQueue() {
		t.Fatal("flags leak")
	}
	if uint32(Drop) != 0 || uint32(Accept) != 1 || uint32(Stolen) != 2 || uint32(Repeat) != 4 {
		t.Fatal("verdict values differ from the kernel's")
	}
}

func TestRunAllocatesNothing(t *testing.T) {
	r := NewRegistry()
	for h := Prerouting; h < NumInetHooks; h++ {
		r.Register(&Ops{Family: packet.FamilyIPv4, Hook: h, Func: func(_ *packet.Packet, _ *State) Verdict { return Accept }})
	}
	ps := pkts(64, packet.FamilyIPv4)
	out := make([]Outcome, 64)
	var run Runner
	allocs := testing.AllocsPerRun(100, func() {
		for h := Prerouting; h < NumInetHooks; h++ {
			run.Run(r.List(packet.FamilyIPv4, h), h, ps, out)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per batch", allocs)
	}
}

func TestCallbacksSeeTheirHookAndWorker(t *testing.T) {
	r := NewRegistry()
	var got []State
	r.Register(&Ops{Family: packet.FamilyIPv4, Hook: Postrouting, Func: func(_ *packet.Packet, s *State) Verdict {
		got = append(got, *s)
		return Accept
	}})
	r.Register(&Ops{Family: packet.FamilyIPv4, Hook: Postrouting, Priority: 1, Batch: func(ps []*packet.Packet, _ []Verdict, s *State) {
		got = append(got, *s)
	}})
	run := Runner{Worker: 7}
	run.Run(r.List(packet.FamilyIPv4, Postrouting), Postrouting, pkts(1, packet.FamilyIPv4), make([]Outcome, 1))
	RunFrom(r.List(packet.FamilyIPv4, Postrouting), Postrouting, pkts(1, packet.FamilyIPv4)[0], 0, 3)
	want := []State{{Postrouting, 7}, {Postrouting, 7}, {Postrouting, 3}, {Postrouting, 3}}
	if !slices.Equal(got, want) {
		t.Fatalf("states %v, want %v", got, want)
	}
}
