package conntrack

import (
	"sync"
	"sync/atomic"
)

// EventType is the kind of an event, with ctnetlink's group bits
// (NFNLGRP_CONNTRACK_NEW, _UPDATE, _DESTROY).
type EventType uint8

const (
	EventNew     EventType = 1 // an entry was confirmed
	EventUpdate  EventType = 2 // status, TCP state or mark changed
	EventDestroy EventType = 4 // an entry was deleted (expired, killed, flushed, early-dropped)
)

func (e EventType) String() string {
	switch e {
	case EventNew:
		return "NEW"
	case EventUpdate:
		return "UPDATE"
	case EventDestroy:
		return "DESTROY"
	}
	return "EVENT?"
}

// Event is one change of one entry, with a copy of the entry as it was.
type Event struct {
	Type  EventType
	Entry Entry
}

// eventRing is a bounded FIFO of events. When it is full, new events are
// counted in lost and dropped, as ctnetlink does when its socket buffer is
// full (the kernel's "ENOBUFS").
type eventRing struct {
	mu     sync.Mutex
	buf    []Event
	head   int
	n      int
	lost   atomic.Uint64
	notify chan struct{}
}

func newEventRing(n int) *eventRing {
	return &eventRing{buf: make([]Event, n), notify: make(chan struct{}, 1)}
}

func (t *Table) emit(typ EventType, slot uint32, e *entry) {
	r := t.events
	if r == nil {
		return
	}
	ev := Event{Type: typ, Entry: t.snapshot(slot, e, Status(e.status.Load())&^statusPrivate)}
	r.mu.Lock()
	if r.n == len(r.buf) {
		r.mu.Unlock()
		r.lost.Add(1)
		return
	}
	r.buf[(r.head+r.n)%len(r.buf)] = ev
	r.n++
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// ReadEvents moves up to len(dst) events, oldest first, into dst and
// returns how many. It returns 0 when events are off (Options.EventBuffer).
func (t *Table) ReadEvents(dst []Event) int {
	r := t.events
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := min(len(dst), r.n)
	for i := range n {
		dst[i] = r.buf[r.head]
		r.buf[r.head] = Event{}
		r.head = (r.head + 1) % len(r.buf)
	}
	r.n -= n
	return n
}

// EventNotify returns a channel that receives a value after events were
// added; nil when events are off.
func (t *Table) EventNotify() <-chan struct{} {
	if t.events == nil {
		return nil
	}
	return t.events.notify
}
