package ruleset

import (
	"strconv"
	"strings"
)

// Queue hands the packet to a userspace queue: queue num N [bypass].
type Queue struct {
	Num, NumHi uint16 // NumHi > Num spreads flows over a range of queues
	Bypass     bool   // accept when no one listens
	Fanout     bool
}

func (*Queue) stmtNode() {}

func (q *Queue) write(sb *strings.Builder) {
	sb.WriteString("queue")
	sep := " flags "
	if q.Bypass {
		sb.WriteString(sep + "bypass")
		sep = ","
	}
	if q.Fanout {
		sb.WriteString(sep + "fanout")
	}
	sb.WriteString(" to " + strconv.Itoa(int(q.Num)))
	if q.NumHi > q.Num {
		sb.WriteString("-" + strconv.Itoa(int(q.NumHi)))
	}
}

func (q *Queue) eval(c *evalCtx) bool {
	num := q.Num
	if q.NumHi > q.Num {
		// Spread by flow, as nfqueue_hash: the same flow, the same queue.
		h := uint32(c.p.SrcPort)<<16 | uint32(c.p.DstPort)
		if a, ok := packetAddr(c.p, true); ok {
			b := a.As16()
			h ^= getUint32(b[12:])
		}
		if a, ok := packetAddr(c.p, false); ok {
			b := a.As16()
			h ^= getUint32(b[12:])
		}
		h ^= h >> 16
		num += uint16(h % uint32(q.NumHi-q.Num+1))
	}
	c.v = vQueue
	c.res.QueueNum, c.res.QueueBypass = num, q.Bypass
	return false
}
