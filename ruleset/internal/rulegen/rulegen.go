// Package rulegen writes the rulesets nfgo's matcher is measured and
// tested on, in nft syntax, from a seed: ClassBench-style ACL, firewall
// and IP-chain sets, a ruleset in the shape kube-proxy writes, and plain
// lists of /32 drops. The same seed gives the same text.
package rulegen

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Kind names a ClassBench seed family whose distributions Classic follows
// (after ClassBench's acl1, fw1 and ipc1 parameter files, coarsely).
type Kind int

const (
	ACL Kind = iota // long destination prefixes, exact destination ports, TCP mostly
	FW              // short prefixes and wildcards, port ranges, few rules per address
	IPC             // both addresses long, mixes of exact and range ports
)

func (k Kind) String() string { return [...]string{"acl", "fw", "ipc"}[k] }

// Rule is one generated 5-tuple rule: prefixes, inclusive port ranges, a
// protocol (0: any).
type Rule struct {
	Src, Dst       uint32
	SrcLen, DstLen int
	SportLo        uint16
	SportHi        uint16
	DportLo        uint16
	DportHi        uint16
	Proto          uint8 // 0: any
}

// Classic generates n rules of a kind.
func Classic(kind Kind, n int, seed uint64) []Rule {
	rng := rand.New(rand.NewPCG(seed, uint64(kind)))
	// Address pools, so that prefixes nest as in real rule sets.
	srcPool := make([]uint32, 64+n/20)
	dstPool := make([]uint32, 64+n/4)
	for i := range srcPool {
		srcPool[i] = rng.Uint32()
	}
	for i := range dstPool {
		dstPool[i] = rng.Uint32()
	}
	out := make([]Rule, 0, n)
	for len(out) < n {
		var r Rule
		switch kind {
		case ACL:
			r.SrcLen = pickW(rng, []int{0, 8, 16, 24, 28, 32}, []int{25, 3, 10, 15, 7, 40})
			r.DstLen = pickW(rng, []int{16, 24, 28, 30, 32}, []int{5, 20, 5, 10, 60})
		case FW:
			r.SrcLen = pickW(rng, []int{0, 8, 16, 24, 32}, []int{45, 5, 15, 15, 20})
			r.DstLen = pickW(rng, []int{0, 8, 16, 24, 32}, []int{30, 5, 15, 20, 30})
		case IPC:
			r.SrcLen = pickW(rng, []int{0, 16, 24, 32}, []int{15, 10, 25, 50})
			r.DstLen = pickW(rng, []int{0, 16, 24, 32}, []int{10, 10, 25, 55})
		}
		r.Src = srcPool[rng.IntN(len(srcPool))] + uint32(rng.IntN(256))
		r.Dst = dstPool[rng.IntN(len(dstPool))] + uint32(rng.IntN(4096))
		r.Src &= mask(r.SrcLen)
		r.Dst &= mask(r.DstLen)
		r.Proto = uint8(pickW(rng, []int{6, 17, 0, 1}, []int{70, 20, 8, 2}))
		r.SportLo, r.SportHi, r.DportLo, r.DportHi = 0, 65535, 0, 65535
		if r.Proto == 6 || r.Proto == 17 {
			switch kind {
			case ACL:
				r.DportLo, r.DportHi = portSpec(rng, []int{65, 15, 10, 10})
				r.SportLo, r.SportHi = portSpec(rng, []int{3, 2, 2, 93})
			case FW:
				r.DportLo, r.DportHi = portSpec(rng, []int{40, 30, 10, 20})
				r.SportLo, r.SportHi = portSpec(rng, []int{10, 10, 10, 70})
			case IPC:
				r.DportLo, r.DportHi = portSpec(rng, []int{50, 20, 10, 20})
				r.SportLo, r.SportHi = portSpec(rng, []int{20, 10, 10, 60})
			}
		}
		out = append(out, r)
	}
	return out
}

// portSpec draws an exact port, a range, the privileged or the
// unprivileged ports, or any, by weight (exact, range, half, any).
func portSpec(rng *rand.Rand, w []int) (uint16, uint16) {
	switch pickW(rng, []int{0, 1, 2, 3}, w) {
	case 0:
		p := uint16(pickW(rng, []int{22, 25, 53, 80, 443, 0}, []int{5, 3, 5, 10, 10, 67}))
		if p == 0 {
			p = uint16(1 + rng.IntN(65535))
		}
		return p, p
	case 1:
		lo := uint16(rng.IntN(60000))
		return lo, lo + uint16(rng.IntN(5000))
	case 2:
		if rng.IntN(2) == 0 {
			return 0, 1023
		}
		return 1024, 65535
	}
	return 0, 65535
}

func pickW(rng *rand.Rand, vals, weights []int) int {
	t := 0
	for _, w := range weights {
		t += w
	}
	x := rng.IntN(t)
	for i, w := range weights {
		if x < w {
			return vals[i]
		}
		x -= w
	}
	return vals[len(vals)-1]
}

func mask(l int) uint32 {
	if l == 0 {
		return 0
	}
	return ^uint32(0) << (32 - l)
}

func ip(a uint32) string { return fmt.Sprintf("%d.%d.%d.%d", a>>24, a>>16&255, a>>8&255, a&255) }

// Text writes rules as one base chain (input, policy accept), each rule
// ending with verdict.
func Text(rules []Rule, verdict string) string {
	var sb strings.Builder
	sb.WriteString("table ip filter {\n\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n")
	for i := range rules {
		sb.WriteString("\t\t")
		writeRule(&sb, &rules[i])
		sb.WriteString(" " + verdict + "\n")
	}
	sb.WriteString("\t}\n}\n")
	return sb.String()
}

func writeRule(sb *strings.Builder, r *Rule) {
	var parts []string
	if r.SrcLen > 0 {
		parts = append(parts, fmt.Sprintf("ip saddr %s/%d", ip(r.Src), r.SrcLen))
	}
	if r.DstLen > 0 {
		parts = append(parts, fmt.Sprintf("ip daddr %s/%d", ip(r.Dst), r.DstLen))
	}
	proto := map[uint8]string{6: "tcp", 17: "udp", 1: "icmp"}[r.Proto]
	switch {
	case proto != "":
		parts = append(parts, "meta l4proto "+proto)
	case r.Proto != 0:
		parts = append(parts, fmt.Sprintf("meta l4proto %d", r.Proto))
	}
	if r.Proto == 6 || r.Proto == 17 {
		if r.SportLo != 0 || r.SportHi != 65535 {
			parts = append(parts, proto+" sport "+portRange(r.SportLo, r.SportHi))
		}
		if r.DportLo != 0 || r.DportHi != 65535 {
			parts = append(parts, proto+" dport "+portRange(r.DportLo, r.DportHi))
		}
	}
	sb.WriteString(strings.Join(parts, " "))
}

func portRange(lo, hi uint16) string {
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d-%d", lo, hi)
}

// Kube writes a ruleset in the shape kube-proxy's iptables mode writes:
// a services chain with one rule per service (ClusterIP:port, tcp)
// jumping to the service's own chain, which marks and accepts (where
// kube-proxy would DNAT to an endpoint).
func Kube(services int, seed uint64) (text string, vips []uint32, ports []uint16) {
	rng := rand.New(rand.NewPCG(seed, 99))
	var sb strings.Builder
	sb.WriteString("table ip kube {\n\tchain services {\n\t\ttype filter hook prerouting priority 0; policy accept;\n")
	seen := map[uint64]bool{}
	for len(vips) < services {
		vip := 10<<24 | 96<<16 | uint32(rng.IntN(1<<16))
		port := uint16(pickW(rng, []int{80, 443, 8080, 0}, []int{30, 30, 10, 30}))
		if port == 0 {
			port = uint16(1024 + rng.IntN(30000))
		}
		if seen[uint64(vip)<<16|uint64(port)] {
			continue
		}
		seen[uint64(vip)<<16|uint64(port)] = true
		vips, ports = append(vips, vip), append(ports, port)
	}
	for i := range vips {
		fmt.Fprintf(&sb, "\t\tip daddr %s tcp dport %d jump svc%d\n", ip(vips[i]), ports[i], i)
	}
	sb.WriteString("\t}\n")
	for i := range vips {
		fmt.Fprintf(&sb, "\tchain svc%d {\n\t\tmeta mark set 0x%x accept\n\t}\n", i, i+1)
	}
	sb.WriteString("}\n")
	return sb.String(), vips, ports
}

// Drops writes n rules dropping single source addresses from 203.0.113.0
// upward (TEST-NET-3 and beyond), none of which the benchmark's traffic
// comes from: the worst case of a linear scan.
func Drops(n int) string {
	var sb strings.Builder
	sb.WriteString("table ip filter {\n\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n")
	base := uint32(203)<<24 | 113<<8
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "\t\tip saddr %s drop\n", ip(base+uint32(i)))
	}
	sb.WriteString("\t}\n}\n")
	return sb.String()
}
