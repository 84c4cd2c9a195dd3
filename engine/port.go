package engine

import (
	"net"

	"github.com/nfgo/nfgo/packet"
)

// ErrClosed is what a port's ReadBatch and WriteBatch return (or wrap)
// after Close. It is net.ErrClosed, so that ports, which do not import the
// engine, can return it.
var ErrClosed = net.ErrClosed

// Port is a network interface the engine reads frames from and writes
// frames to, through one or more queues. A worker owns one RX queue of one
// port; any worker may write to any TX queue, but never two at once on the
// same queue (the engine serializes writers per queue).
//
// Ports copy: ReadBatch copies received frames into the caller's packets and
// WriteBatch copies the caller's frames out, so a Packet always belongs to
// the engine and no buffer ownership crosses the interface.
type Port interface {
	// Name is the interface name shown in rules (iifname/oifname) and stats.
	Name() string
	// Link is what the port's frames start with.
	Link() packet.LinkType
	// MTU is the largest network-layer packet the port carries.
	MTU() int
	// HardwareAddr is the port's MAC address (zero on LinkRaw ports).
	HardwareAddr() packet.MAC
	// NumQueues is the number of RX/TX queue pairs (at least 1).
	NumQueues() int
	// ReadBatch waits for frames on queue q and stores up to len(pkts) of
	// them, each into pkts[i] through pkts[i].SetFrame (the buffer has room
	// for packet.Headroom + MTU + link header). It returns the number stored.
	// It waits at most about 100 ms and may return 0 with a nil error, so a
	// worker can notice it should stop. After Close it returns ErrClosed.
	ReadBatch(q int, pkts []*packet.Packet) (int, error)
	// WriteBatch transmits the frames of pkts on queue q and returns how many
	// it accepted; frames it could not take (ring full) are dropped and
	// counted by the port. The packets stay the caller's.
	WriteBatch(q int, pkts []*packet.Packet) (int, error)
	// Close releases the port; blocked ReadBatch calls return ErrClosed.
	Close() error
}

// PortStats are a port's own counters, for ports that keep them.
type PortStats struct {
	RxPackets, RxBytes, RxDropped uint64
	TxPackets, TxBytes, TxDropped uint64
}

// StatsPort is implemented by ports that count what they move.
type StatsPort interface {
	Stats() PortStats
}
