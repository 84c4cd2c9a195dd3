package nat

import (
	"net/netip"

	"github.com/nfgo/nfgo/conntrack"
)

// A masqueraded connection remembers the interface it was masqueraded on
// (the kernel's nf_conn_nat.masq_index) in the entry's NAT word. When that
// interface goes down, or the address the connection was masqueraded to
// goes away, its connections are deleted (nf_nat_masquerade's netdevice and
// inetaddr notifiers), so that clients open new ones with the current
// address instead of sending into a dead mapping.

// InterfaceDown deletes the connections masqueraded on interface ifindex
// and returns how many. The engine calls it when the interface goes down
// (NETDEV_DOWN). It walks the table; do not call it per packet.
func (n *NAT) InterfaceDown(ifindex uint32) int {
	if ifindex == 0 {
		return 0
	}
	k := n.t.Flush(conntrack.Filter{
		Status: conntrack.StatusSrcNATDone,
		Match:  func(e *conntrack.Entry) bool { return e.NATData == ifindex },
	})
	n.st[sMasqFlushed].Add(uint64(k))
	n.log.Info("nat: interface down, masqueraded connections deleted", "ifindex", ifindex, "deleted", k)
	return k
}

// AddressGone deletes the connections masqueraded on interface ifindex to
// address addr, and returns how many. The engine calls it when addr is
// removed from the interface (inetaddr / inet6addr NETDEV_DOWN).
func (n *NAT) AddressGone(ifindex uint32, addr netip.Addr) int {
	if ifindex == 0 || !addr.IsValid() {
		return 0
	}
	addr = addr.Unmap()
	k := n.t.Flush(conntrack.Filter{
		Status: conntrack.StatusSrcNATDone,
		Match: func(e *conntrack.Entry) bool {
			return e.NATData == ifindex && e.Reply.DstAddr() == addr
		},
	})
	n.st[sMasqFlushed].Add(uint64(k))
	n.log.Info("nat: address gone, masqueraded connections deleted", "ifindex", ifindex, "addr", addr, "deleted", k)
	return k
}

// oifChanged deletes a masqueraded connection whose packet leaves by
// another interface than it was masqueraded on (nf_nat_oif_changed): its
// source address belongs to the old interface.
func (n *NAT) oifChanged(slot uint32) {
	n.count(sOIFChanged)
	n.t.Delete(n.t.Tuple(slot, conntrack.DirOriginal))
}
