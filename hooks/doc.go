// Package hooks holds the netfilter hook points and the priority-ordered
// callbacks registered on them.
//
// Each (family, hook) pair, and the ingress hook of each interface, has a
// list of entries sorted by priority, ties in registration order. Readers
// load the list through an atomic pointer, so registering and unregistering
// while packets flow is safe: a writer copies the list, changes the copy and
// publishes it. A packet sees the old list or the new one, never a mix.
//
// The packet's way through the engine, with the standard priorities:
//
//	port RX batch ─► parse ─► PREROUTING ─► route ─┬─► INPUT ─► local delivery
//	                         raw      -300         │
//	                         ct       -200         └─► FORWARD ─┐
//	                         mangle   -150                       │
//	                         dstnat   -100                       ▼
//	local/embedder ─► OUTPUT ─► route ───────────────────► POSTROUTING ─► neighbor ─► port TX batch
//	                                                     srcnat  100
//	                                                     confirm MaxInt
//
// Lists are run over a whole batch at a time: each entry sees every packet
// of the batch still alive before the next entry runs. For one packet the
// order of callbacks is exactly the kernel's.
package hooks
