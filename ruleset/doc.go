// Package ruleset is nfgo's model of nftables rulesets: tables of base and
// regular chains, rules made of matches and statements, named sets, maps and
// verdict maps; the nft-syntax parser (the file format of `nft -f`) and the
// printer that writes the canonical form of `nft list ruleset`; validation
// and all-or-nothing transactions; and the reference evaluator that runs a
// base chain over one packet with netfilter's semantics.
//
// The life of a ruleset:
//
//	cmds, err := ruleset.Parse("fw.nft", src, ruleset.ParseOptions{})
//	next, err := current.Apply(cmds) // a new, validated *Ruleset, or an error and no change
//	live.Store(next)                 // the engine publishes it with one atomic store
//
// A *Ruleset is immutable once Apply returns it, except for what netfilter
// itself changes while packets flow: counters, limit and ct count state,
// and the elements of named sets (see [Ruleset.UpdateElements]).
//
// The evaluator ([Ruleset.Eval]) is deliberately straightforward: it walks
// the model. It is the reference every faster matcher is compared against.
package ruleset

// What the language covers, and where it knowingly differs from nft:
//
//   - Families ip, ip6, inet and netdev (ingress with one device). arp and
//     bridge tables, inet ingress, table flags, flowtables, quota, meters,
//     dynamic set updates from rules (add @s { ... }), typeof with integer
//     keys, log group/snaplen/flags and include globs are refused with an
//     error.
//   - Set and map elements print sorted by key, where nft prints them in
//     the kernel's order; interval elements are not merged (auto-merge), and
//     overlapping intervals are refused.
//   - In set elements and NAT addresses, address and mark ranges that are
//     exactly a prefix print as the prefix, as nft does; in a match a range
//     prints as written. Ports always print as numbers, protocols by name.
//   - A plain `reject` is icmpx port-unreachable (the kernel's reply is the
//     same in ip and ip6 tables); in an ip table `reject with icmp
//     port-unreachable` is the plain reject and prints as `reject`, as nft
//     prints it (in an ip6 table, icmpv6 port-unreachable).
//   - `iif "name"` is kept as a name and compared with Env.IfName when a
//     packet is evaluated, where nft resolves it once, when the rule is
//     added.
//   - A parsed []Command carries the state of its stateful statements
//     (counters, limits, ct count); apply it once.
//   - A rule's matches fix its network and transport protocols as nft's
//     evaluation does, and what contradicts them is refused with nft's
//     message (tcp dport 22 udp dport 53; reject with tcp reset after udp
//     sport 53; dnat to a port with no transport protocol fixed; in inet
//     tables, a NAT address whose family nothing fixes). One nft quirk is
//     not followed: nft takes one element of a set of transport protocols
//     (meta l4proto { tcp, udp }) as the rule's protocol and refuses a
//     match of another after it, where nfgo takes the rule.
//     Where nft completes a rule, so does nfgo: meta l4proto tcp in front
//     of a tcp reset that nothing else limits to TCP (listed, as nft lists
//     it, only in inet tables), meta nfproto in front of an icmp or icmpv6
//     reply in inet tables (not listed), th ports after tcp or udp become
//     that protocol's. TestAgreesWithNftOnWhatIsValid holds nfgo to the
//     kernel's nft on random rules: the same rules taken, and listed alike.
//   - A match of meta l4proto, ip protocol, ip6 nexthdr or meta nfproto
//     before a match of that protocol's header prints as written, where nft
//     folds it into the header match (meta l4proto tcp tcp dport 22 lists
//     as tcp dport 22).
