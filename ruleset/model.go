package ruleset

import (
	"strconv"
	"strings"

	"github.com/nfgo/nfgo/packet"
)

// Hook is a netfilter hook point with the kernel's NF_INET_* numbering;
// HookIngress is netdev's (and inet's) ingress.
type Hook uint8

const (
	HookPrerouting  Hook = 0 // NF_INET_PRE_ROUTING
	HookInput       Hook = 1 // NF_INET_LOCAL_IN
	HookForward     Hook = 2 // NF_INET_FORWARD
	HookOutput      Hook = 3 // NF_INET_LOCAL_OUT
	HookPostrouting Hook = 4 // NF_INET_POST_ROUTING
	HookIngress     Hook = 5 // NF_INET_INGRESS / NF_NETDEV_INGRESS
)

var hookNames = [...]string{"prerouting", "input", "forward", "output", "postrouting", "ingress"}

func (h Hook) String() string {
	if int(h) < len(hookNames) {
		return hookNames[h]
	}
	return "hook(" + strconv.Itoa(int(h)) + ")"
}

// ChainType is the type of a base chain.
type ChainType uint8

const (
	ChainFilter ChainType = iota
	ChainNAT
	ChainRoute
)

func (t ChainType) String() string {
	switch t {
	case ChainFilter:
		return "filter"
	case ChainNAT:
		return "nat"
	case ChainRoute:
		return "route"
	}
	return "chaintype(" + strconv.Itoa(int(t)) + ")"
}

// Policy is a base chain's verdict when the packet reaches its end.
type Policy uint8

const (
	PolicyAccept Policy = iota
	PolicyDrop
)

func (p Policy) String() string {
	if p == PolicyDrop {
		return "drop"
	}
	return "accept"
}

// The standard priorities (NF_IP_PRI_*), by the names nft gives them.
const (
	PriorityRaw      = -300
	PriorityMangle   = -150
	PriorityDstNAT   = -100
	PriorityFilter   = 0
	PrioritySecurity = 50
	PrioritySrcNAT   = 100
)

var stdPriorities = []struct {
	name string
	val  int
}{
	{"raw", PriorityRaw}, {"mangle", PriorityMangle}, {"dstnat", PriorityDstNAT},
	{"filter", PriorityFilter}, {"security", PrioritySecurity}, {"srcnat", PrioritySrcNAT},
}

// stdPriorityOK says whether a standard priority's name may be used in a
// family and hook, as nft's std_prio_family_hook_compat.
func stdPriorityOK(val int, fam packet.Family, hook Hook) bool {
	ipFam := fam == packet.FamilyIPv4 || fam == packet.FamilyIPv6 || fam == packet.FamilyInet
	switch val {
	case PriorityFilter:
		return ipFam || fam == packet.FamilyNetdev
	case PriorityRaw, PriorityMangle, PrioritySecurity:
		return ipFam
	case PriorityDstNAT:
		return ipFam && hook == HookPrerouting
	case PrioritySrcNAT:
		return ipFam && hook == HookPostrouting
	}
	return false
}

// priorityString prints a priority as nft's prio2str: a standard name with
// an offset of at most 10, else the number.
func priorityString(prio int, fam packet.Family, hook Hook) string {
	for _, s := range stdPriorities {
		off := prio - s.val
		if off < -10 || off > 10 {
			continue
		}
		if !stdPriorityOK(s.val, fam, hook) {
			break
		}
		switch {
		case off > 0:
			return s.name + " + " + strconv.Itoa(off)
		case off < 0:
			return s.name + " - " + strconv.Itoa(-off)
		}
		return s.name
	}
	return strconv.Itoa(prio)
}

// BaseSpec makes a chain a base chain: it sits on a hook.
type BaseSpec struct {
	Type     ChainType
	Hook     Hook
	Device   string // netdev ingress
	Priority int
	Policy   Policy
}

// Table holds chains, sets and named counters of one family.
type Table struct {
	Family   packet.Family
	Name     string
	Handle   uint64
	Comment  string
	Chains   []*Chain
	Sets     []*Set
	Counters []*NamedCounter

	nextHandle uint64
}

// Chain is a list of rules; with Base set it is a base chain.
type Chain struct {
	Name    string
	Handle  uint64
	Comment string
	Base    *BaseSpec
	Rules   []*Rule
	Pos     Pos

	prog *chainProg // the compiled matcher of Rules, set by Apply
}

// Rule is a list of statements: matches, stateful statements, and at most
// one verdict, last.
type Rule struct {
	Handle  uint64
	Stmts   []Stmt
	Comment string
	Pos     Pos
}

// Stmt is one statement of a rule. The kinds are closed: *Match, *Verdict,
// *VMap, *Counter, *Limit, *Log, *MetaSet, *CTSet, *Notrack, *Reject,
// *NAT, *Queue, *ConnLimit.
type Stmt interface {
	write(sb *strings.Builder)
	stmtNode()
	// eval runs the statement; false ends the rule: no match, or a
	// verdict (c.v) was reached.
	eval(c *evalCtx) bool
}

// StmtString prints a statement as nft does.
func StmtString(s Stmt) string {
	var sb strings.Builder
	s.write(&sb)
	return sb.String()
}

func (r *Rule) write(sb *strings.Builder) { r.writeIn(sb, 0) }

// writeIn prints the rule of a table of family fam.
func (r *Rule) writeIn(sb *strings.Builder, fam packet.Family) {
	stmts := r.Stmts
	if impliedDependency(stmts, fam) {
		stmts = stmts[1:]
	}
	for i, s := range stmts {
		if i > 0 {
			sb.WriteByte(' ')
		}
		s.write(sb)
	}
	if r.Comment != "" {
		if len(stmts) > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(`comment "` + r.Comment + `"`)
	}
}

// impliedDependency reports whether the rule, in a table of family fam,
// starts with a match that nft lists as implied by a reject later in it
// (the dependency addDependency adds, or the same match written): nft
// leaves it out when only matches come between them. That is meta nfproto
// before an icmp or icmpv6 reply, and in ip and ip6 tables meta l4proto
// tcp before a tcp reset. Parsing the listing puts it back.
func impliedDependency(stmts []Stmt, fam packet.Family) bool {
	if len(stmts) < 2 {
		return false
	}
	m, ok := stmts[0].(*Match)
	if !ok || m.Op != OpImplicit {
		return false
	}
	sel, ok := m.Left.(*Selector)
	v, one := m.Right.(*Const)
	if !ok || !one || len(v.B) != 1 {
		return false
	}
	for _, s := range stmts[1:] {
		switch s := s.(type) {
		case *Match:
			continue
		case *Reject:
			switch sel.Key {
			case SelMetaNfproto:
				return s.Kind == RejectICMP && v.B[0] == uint8(packet.FamilyIPv4) ||
					s.Kind == RejectICMPv6 && v.B[0] == uint8(packet.FamilyIPv6)
			case SelMetaL4proto:
				return s.Kind == RejectTCPReset && v.B[0] == protoTCP &&
					(fam == packet.FamilyIPv4 || fam == packet.FamilyIPv6)
			}
		}
		return false
	}
	return false
}

// String prints the rule as `nft list` does.
func (r *Rule) String() string {
	var sb strings.Builder
	r.write(&sb)
	return sb.String()
}

func familyName(f packet.Family) string { return f.String() }

// parseFamily reads a table family keyword.
func parseFamily(s string) (packet.Family, bool) {
	switch s {
	case "ip":
		return packet.FamilyIPv4, true
	case "ip6":
		return packet.FamilyIPv6, true
	case "inet":
		return packet.FamilyInet, true
	case "netdev":
		return packet.FamilyNetdev, true
	}
	return 0, false
}
