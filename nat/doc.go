// Package nat is nfgo's network address translation: SNAT, DNAT,
// MASQUERADE and REDIRECT bindings kept on conntrack entries
// (nf_nat_core.c), unique-tuple port and ICMP-id allocation
// (nf_nat_l4proto_unique_tuple), the rewrite of packets with incremental
// checksums (nf_nat_proto.c), the rewrite of ICMP errors about NATed
// connections inside and out (nf_nat_icmp_reply_translation), and the
// deletion of masqueraded connections when their interface or address goes
// away (nf_nat_masquerade.c). IPv4 and IPv6 (NAT66).
//
// # Where it runs
//
// As in the kernel, NAT rules are consulted for the first packet of a
// connection only; the binding is stored on the entry (its reply tuple,
// status bits, and for masquerade the out interface in the entry's NAT
// word) and every later packet, both ways, is rewritten from it. The
// engine calls a NAT at the nat hooks, per packet p with connection p.CT:
//
//	PREROUTING/OUTPUT   -100 (dstnat)  m = ManipDst
//	POSTROUTING/INPUT    100 (srcnat)  m = ManipSrc
//
//	if n.Pending(p, m) {                // new, unconfirmed, m not bound yet
//	    run the nat chain of the hook;
//	    rule asked for req:   ok = n.Setup(w, p, &req)   // binds and rewrites
//	    no rule asked:        ok = n.Null(w, p, m)       // null binding, rewrites
//	} else {
//	    ok = n.Do(p, m)                 // or n.DoBatch: every other packet
//	}
//	if !ok { drop p (and w.Abandon it) }
//
// all after conntrack's Track (-200) and before its Confirm (MaxInt), on
// the worker that tracked p, between Track and the batch's Quiesce. Both
// manips of a new connection must be bound (by a rule or the null binding)
// before Confirm, so that its reply tuple is final; a connection confirmed
// without NAT is never bound afterwards. After a destination manip the
// engine re-routes the packet if its destination changed (skb_dst_drop /
// ip_route_me_harder). The engine gives masquerade the out interface's
// address for the next hop and redirect the in interface's primary
// address (127.0.0.1 or ::1 at OUTPUT) in Request.Local, and calls
// InterfaceDown and AddressGone from its link and address events.
package nat
