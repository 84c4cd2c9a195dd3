package conntrack

// ID is an identity of the entry now in slot that no other entry has had
// in that slot: the slot number and how many entries the slot has held.
// It is 0 when the slot holds no entry. Rules use it to tell a connection
// that has gone from a new one in the same slot (ct count).
func (t *Table) ID(slot uint32) uint64 {
	if slot == 0 || int(slot) >= len(t.slab) {
		return 0
	}
	if Status(t.slab[slot].status.Load())&(StatusConfirmed|statusAlloc) == 0 {
		return 0
	}
	return uint64(t.gens[slot].Load())<<32 | uint64(slot)
}

// Gen is how many entries slot has held, the count ID carries, read
// without touching the entry: a cache of slot numbers can tell with it that
// a slot was reused since it noted it.
func (t *Table) Gen(slot uint32) uint32 {
	if int(slot) >= len(t.gens) {
		return 0
	}
	return t.gens[slot].Load()
}
