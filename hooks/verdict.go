package hooks

import "strconv"

// Verdict is what a callback decides for a packet, encoded as the kernel
// encodes it: the kind in the low byte, a queue number in the high 16 bits,
// and the queue-bypass flag.
type Verdict uint32

const (
	Drop   Verdict = 0 // NF_DROP: stop; the packet is freed and counted
	Accept Verdict = 1 // NF_ACCEPT: go on to the next entry
	Stolen Verdict = 2 // NF_STOLEN: the callback now owns the packet
	queue  Verdict = 3 // NF_QUEUE: see Queue
	Repeat Verdict = 4 // NF_REPEAT: call the same entry again

	kindMask   Verdict = 0x000000ff
	flagBypass Verdict = 0x00008000 // NF_VERDICT_FLAG_QUEUE_BYPASS
	queueShift         = 16
)

// Queue hands the packet to the handler registered for queue num, which
// re-injects it later with a verdict of its own. With no handler the packet
// is dropped, or, when bypass is set, goes on as if accepted (NFQUEUE's
// --queue-bypass).
func Queue(num uint16, bypass bool) Verdict {
	v := queue | Verdict(num)<<queueShift
	if bypass {
		v |= flagBypass
	}
	return v
}

// Kind is the verdict without its queue number and flags.
func (v Verdict) Kind() Verdict { return v & kindMask }

// IsQueue reports whether v is a Queue verdict.
func (v Verdict) IsQueue() bool { return v.Kind() == queue }

// QueueNum is the queue number of a Queue verdict.
func (v Verdict) QueueNum() uint16 { return uint16(v >> queueShift) }

// Bypass reports whether a Queue verdict may pass when no handler listens.
func (v Verdict) Bypass() bool { return v&flagBypass != 0 }

func (v Verdict) String() string {
	switch v.Kind() {
	case Drop:
		return "drop"
	case Accept:
		return "accept"
	case Stolen:
		return "stolen"
	case queue:
		s := "queue " + strconv.Itoa(int(v.QueueNum()))
		if v.Bypass() {
			s += " bypass"
		}
		return s
	case Repeat:
		return "repeat"
	}
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}
