package engine

import (
	"fmt"
	"net/netip"

	"github.com/gaissmai/bart"
)

// RouteType says what the FIB does with a destination, as the kernel's
// route types (RTN_*).
type RouteType uint8

const (
	RouteUnicast     RouteType = iota // forward, to Gateway or on-link
	RouteLocal                        // one of our own addresses: deliver locally
	RouteBlackhole                    // drop silently
	RouteUnreachable                  // drop with ICMP unreachable
	RouteProhibit                     // drop with ICMP administratively prohibited
	RouteBroadcast                    // the broadcast address of one of our IPv4 subnets: deliver locally, never forward
)

func (t RouteType) String() string {
	switch t {
	case RouteUnicast:
		return "unicast"
	case RouteLocal:
		return "local"
	case RouteBlackhole:
		return "blackhole"
	case RouteUnreachable:
		return "unreachable"
	case RouteProhibit:
		return "prohibit"
	case RouteBroadcast:
		return "broadcast"
	}
	return "route?"
}

// Route is one FIB entry.
type Route struct {
	Prefix  netip.Prefix
	Type    RouteType
	OutIf   uint32     // interface index of the out port (RouteUnicast)
	Gateway netip.Addr // next hop; invalid for an on-link route
	Src     netip.Addr // preferred source for packets we originate on this route
}

// fib is an immutable routing table: longest-prefix match over IPv4 and IPv6
// with github.com/gaissmai/bart (its Fast trie). Writers build a new one and swap the
// engine's pointer.
type fib struct {
	lpm    *bart.Fast[int32] // prefix → index into routes
	routes []Route
}

func newFIB() *fib { return &fib{lpm: new(bart.Fast[int32])} }

// lookup is the route for dst; ok is false when nothing covers it.
func (f *fib) lookup(dst netip.Addr) (*Route, bool) {
	i, ok := f.lpm.Lookup(dst)
	if !ok {
		return nil, false
	}
	return &f.routes[i], true
}

// is reports whether the route for a is of type t.
func (f *fib) is(a netip.Addr, t RouteType) bool {
	r, ok := f.lookup(a)
	return ok && r.Type == t
}

// with returns a copy of f with r added. A route already at the prefix is
// replaced unless it is a local or broadcast route, which only removing
// the address can take away (the kernel keeps them in its local table,
// looked up first).
func (f *fib) with(r Route) (*fib, error) {
	r.Prefix = r.Prefix.Masked()
	if !r.Prefix.IsValid() {
		return nil, fmt.Errorf("invalid prefix")
	}
	n := &fib{lpm: f.lpm.Clone(), routes: append([]Route(nil), f.routes...)}
	if i, ok := n.lpm.Get(r.Prefix); ok {
		if t := n.routes[i].Type; (t == RouteLocal || t == RouteBroadcast) && r.Type != RouteLocal {
			return nil, fmt.Errorf("route %s: %w", r.Prefix, ErrLocalRoute)
		}
		n.routes[i] = r
		return n, nil
	}
	n.routes = append(n.routes, r)
	n.lpm.Insert(r.Prefix, int32(len(n.routes)-1))
	return n, nil
}

// without returns a copy of f with the route at pfx removed.
func (f *fib) without(pfx netip.Prefix) (*fib, bool) {
	pfx = pfx.Masked()
	i, ok := f.lpm.Get(pfx)
	if !ok {
		return f, false
	}
	n := newFIB()
	for j, r := range f.routes {
		if int32(j) != i {
			n.routes = append(n.routes, r)
			n.lpm.Insert(r.Prefix, int32(len(n.routes)-1))
		}
	}
	return n, true
}

// all lists the routes.
func (f *fib) all() []Route { return append([]Route(nil), f.routes...) }
