package ctcmd

import (
	"context"
	"sync"
	"time"

	"github.com/nfgo/nfgo/conntrack"
)

// EventHub reads the table's events and hands a copy of each to every
// subscriber; a subscriber that does not keep up loses events rather than
// holding the others back.
type EventHub struct {
	ct   *conntrack.Table
	mu   sync.Mutex
	subs map[chan conntrack.Event]struct{}
}

// NewEventHub makes the hub of a table; Run drains the table's events.
func NewEventHub(ct *conntrack.Table) *EventHub {
	return &EventHub{ct: ct, subs: map[chan conntrack.Event]struct{}{}}
}

func (h *EventHub) subscribe() (<-chan conntrack.Event, func()) {
	ch := make(chan conntrack.Event, 4096)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}

// Run drains the event ring until ctx is done; with no subscriber the
// events are dropped here, so that the ring never fills.
func (h *EventHub) Run(ctx context.Context) {
	buf := make([]conntrack.Event, 256)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.ct.EventNotify():
		case <-tick.C:
		}
		for {
			n := h.ct.ReadEvents(buf)
			if n == 0 {
				break
			}
			h.mu.Lock()
			for ch := range h.subs {
				for _, ev := range buf[:n] {
					select {
					case ch <- ev:
					default:
					}
				}
			}
			h.mu.Unlock()
		}
	}
}
