package ruleset

import (
	"strconv"
	"strings"
	"sync"
)

// ConnLimit matches on the number of connections that passed it and still
// live: ct count [over] N. As the kernel's nft_connlimit, each rule keeps
// its own list of connections, adds the packet's connection to it, and
// forgets those that have gone.
type ConnLimit struct {
	Count uint32
	Over  bool

	state *connLimitState
}

type connLimitState struct {
	mu    sync.Mutex
	conns map[uint32]uint64 // slot to entry identity
}

func (*ConnLimit) stmtNode() {}

func (l *ConnLimit) write(sb *strings.Builder) {
	sb.WriteString("ct count ")
	if l.Over {
		sb.WriteString("over ")
	}
	sb.WriteString(strconv.FormatUint(uint64(l.Count), 10))
}

func (l *ConnLimit) eval(c *evalCtx) bool {
	if c.p.CT == 0 || c.env == nil {
		return false
	}
	id := c.env.CTID(c.p.CT)
	s := l.state
	s.mu.Lock()
	for slot, sid := range s.conns {
		if c.env.CTID(slot) != sid {
			delete(s.conns, slot)
		}
	}
	if id != 0 {
		s.conns[c.p.CT] = id
	}
	n := uint32(len(s.conns))
	s.mu.Unlock()
	// as nft_connlimit_do_eval: over when count > limit
	return (n > l.Count) == l.Over
}
