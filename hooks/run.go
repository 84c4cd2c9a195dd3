package hooks

import "github.com/nfgo/nfgo/packet"

// MaxRepeat bounds how many times in a row one entry may answer Repeat for
// one packet; past it the packet is dropped with Outcome.RepeatCut set, so
// a callback that always repeats cannot hang a worker.
const MaxRepeat = 16

// MaxBatch is the largest batch a Runner takes.
const MaxBatch = 64

// Outcome is where one packet's walk through a list ended.
type Outcome struct {
	// Verdict is Accept (the list let it through), Drop, Stolen, or a Queue
	// verdict. It is never Repeat.
	Verdict Verdict
	// Entry is the index of the entry that gave a verdict other than Accept.
	// A packet re-injected from a queue resumes at Entry+1 (or at Entry for
	// a Repeat verdict from the queue handler).
	Entry uint16
	// RepeatCut is set when the packet was dropped because an entry kept
	// answering Repeat.
	RepeatCut bool
}

// Runner walks batches through lists. It holds scratch space so that a walk
// allocates nothing; a worker owns one and uses it from one goroutine.
type Runner struct {
	// Worker is passed to callbacks in State.Worker.
	Worker int

	st    State
	live  [MaxBatch]uint8 // indexes into the batch of the packets still going on
	sub   [MaxBatch]*packet.Packet
	subV  [MaxBatch]Verdict
	nlive int
}

// Run walks pkts (at most MaxBatch) through l, from entry 0, setting each
// packet's Hook to h. out[i] receives the outcome of pkts[i]. Entries are run
// one after the other, each over every packet still alive, so for any one
// packet the callbacks run in the list's order.
func (r *Runner) Run(l *List, h Hook, pkts []*packet.Packet, out []Outcome) {
	n := len(pkts)
	r.st = State{Hook: h, Worker: r.Worker}
	for i, p := range pkts {
		p.Hook = uint8(h)
		out[i] = Outcome{Verdict: Accept}
		r.live[i] = uint8(i)
	}
	r.nlive = n
	if l.Len() == 0 {
		return
	}
	for e, ops := range l.ops {
		if r.nlive == 0 {
			return
		}
		if ops.Batch != nil {
			r.runBatch(ops, e, pkts, out)
		} else {
			r.runEach(ops, e, pkts, out)
		}
	}
}

func (r *Runner) runEach(ops *Ops, e int, pkts []*packet.Packet, out []Outcome) {
	kept := 0
	for k := 0; k < r.nlive; k++ {
		i := r.live[k]
		p := pkts[i]
		if !applies(ops, p) {
			r.live[kept] = i
			kept++
			continue
		}
		v := ops.Func(p, &r.st)
		for rep := 0; v.Kind() == Repeat; rep++ {
			if rep == MaxRepeat {
				break
			}
			v = ops.Func(p, &r.st)
		}
		if settle(v, e, &out[i]) {
			r.live[kept] = i
			kept++
		}
	}
	r.nlive = kept
}

func (r *Runner) runBatch(ops *Ops, e int, pkts []*packet.Packet, out []Outcome) {
	m := 0
	for k := 0; k < r.nlive; k++ {
		p := pkts[r.live[k]]
		r.sub[m] = p
		r.subV[m] = Accept
		m++
	}
	ops.Batch(r.sub[:m], r.subV[:m], &r.st)
	kept := 0
	for k := 0; k < r.nlive; k++ {
		i := r.live[k]
		v := r.subV[k]
		for rep := 0; v.Kind() == Repeat; rep++ {
			if rep == MaxRepeat {
				break
			}
			ops.Batch(r.sub[k:k+1], r.subV[k:k+1], &r.st)
			v = r.subV[k]
		}
		if settle(v, e, &out[i]) {
			r.live[kept] = i
			kept++
		}
	}
	for k := 0; k < m; k++ {
		r.sub[k] = nil
	}
	r.nlive = kept
}

// settle records a verdict and reports whether the packet goes on.
func settle(v Verdict, e int, o *Outcome) bool {
	switch v.Kind() {
	case Accept:
		return true
	case Repeat:
		*o = Outcome{Verdict: Drop, Entry: uint16(e), RepeatCut: true}
	case Drop, Stolen, queue:
		*o = Outcome{Verdict: v, Entry: uint16(e)}
	default:
		// An unknown verdict is a bug in the callback; the kernel warns
		// and treats it as a drop.
		*o = Outcome{Verdict: Drop, Entry: uint16(e)}
	}
	return false
}

// RunFrom walks one packet through l starting at entry from, for worker.
// It is the path of a packet re-injected from a queue and of single packets
// outside a batch.
func RunFrom(l *List, h Hook, p *packet.Packet, from int, worker int) Outcome {
	p.Hook = uint8(h)
	st := State{Hook: h, Worker: worker}
	var one [1]*packet.Packet
	var v1 [1]Verdict
	for e := from; e < l.Len(); e++ {
		ops := l.ops[e]
		if !applies(ops, p) {
			continue
		}
		var v Verdict
		for rep := 0; rep <= MaxRepeat; rep++ {
			if ops.Batch != nil {
				one[0], v1[0] = p, Accept
				ops.Batch(one[:], v1[:], &st)
				v = v1[0]
			} else {
				v = ops.Func(p, &st)
			}
			if v.Kind() != Repeat {
				break
			}
		}
		var o Outcome
		if v.Kind() == Accept {
			continue
		}
		settle(v, e, &o)
		return o
	}
	return Outcome{Verdict: Accept}
}

// applies reports whether an entry sees the packet: inet entries at the
// ingress hook see only IPv4 and IPv6 packets.
func applies(ops *Ops, p *packet.Packet) bool {
	if ops.Hook == Ingress && ops.Family == packet.FamilyInet {
		return p.Family == packet.FamilyIPv4 || p.Family == packet.FamilyIPv6
	}
	return true
}
