package config

import (
	"fmt"

	"github.com/nfgo/nfgo/engine"
	"github.com/nfgo/nfgo/packet"
)

// AddRoutes installs the configured routes and neighbors.
func AddRoutes(e *engine.Engine, routes []Route, neighs []Neighbor) error {
	for _, rc := range routes {
		rt := engine.Route{Prefix: rc.To, Type: rc.Type, Gateway: rc.Via}
		if rc.Type == engine.RouteUnicast {
			rt.OutIf = e.IfIndex(rc.Dev)
			if rt.OutIf == 0 {
				return fmt.Errorf("route %s: no interface %q", rc.To, rc.Dev)
			}
		}
		if err := e.AddRoute(rt); err != nil {
			return fmt.Errorf("route %s: %w", rc.To, err)
		}
	}
	for _, n := range neighs {
		if err := e.AddNeighbor(e.IfIndex(n.Dev), n.Addr, packet.MAC(n.MAC)); err != nil {
			return fmt.Errorf("neighbor %s on %s: %w", n.Addr, n.Dev, err)
		}
	}
	return nil
}
