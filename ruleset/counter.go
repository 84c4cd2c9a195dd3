package ruleset

import (
	"strconv"
	"strings"
	"sync/atomic"
)

// counterState is the live count of a counter, shared by the workers and
// kept across ruleset swaps by rules that did not change.
type counterState struct {
	packets atomic.Uint64
	bytes   atomic.Uint64
}

func newCounterState(packets, bytes uint64) *counterState {
	s := &counterState{}
	s.packets.Store(packets)
	s.bytes.Store(bytes)
	return s
}

func (s *counterState) add(n int) {
	s.packets.Add(1)
	s.bytes.Add(uint64(n))
}

// Counter counts the packets and bytes that reach it: anonymous
// (`counter`, its count printed with it) or named (`counter name "c"`,
// counting in the table's counter object).
type Counter struct {
	Name string // a named counter of the table; "" for an anonymous one

	state *counterState
}

// NewCounter returns an anonymous counter starting at the given counts.
func NewCounter(packets, bytes uint64) *Counter {
	return &Counter{state: newCounterState(packets, bytes)}
}

// Packets and Bytes read an anonymous counter's live count.
func (c *Counter) Packets() uint64 { return c.state.packets.Load() }
func (c *Counter) Bytes() uint64   { return c.state.bytes.Load() }

func (*Counter) stmtNode() {}

func (c *Counter) write(sb *strings.Builder) {
	if c.Name != "" {
		sb.WriteString(`counter name "` + c.Name + `"`)
		return
	}
	sb.WriteString("counter packets " + strconv.FormatUint(c.Packets(), 10) +
		" bytes " + strconv.FormatUint(c.Bytes(), 10))
}

func (c *Counter) eval(ec *evalCtx) bool {
	if c.Name != "" {
		if nc := ec.table.counter(c.Name); nc != nil {
			nc.state.add(ec.p.Len())
		}
		return true
	}
	c.state.add(ec.p.Len())
	return true
}

// NamedCounter is a counter object of a table: `counter NAME { }`.
type NamedCounter struct {
	Name    string
	Handle  uint64
	Comment string
	Pos     Pos

	state *counterState
}

// Packets and Bytes read the live count.
func (c *NamedCounter) Packets() uint64 { return c.state.packets.Load() }
func (c *NamedCounter) Bytes() uint64   { return c.state.bytes.Load() }

func (c *NamedCounter) write(sb *strings.Builder) {
	sb.WriteString("\tcounter " + c.Name + " {\n")
	if c.Comment != "" {
		sb.WriteString("\t\tcomment \"" + c.Comment + "\"\n")
	}
	sb.WriteString("\t\tpackets " + strconv.FormatUint(c.Packets(), 10) +
		" bytes " + strconv.FormatUint(c.Bytes(), 10) + "\n\t}\n")
}
