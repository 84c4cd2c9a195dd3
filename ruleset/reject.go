package ruleset

import "strings"

// RejectKind is how a rejected packet is answered (NFT_REJECT_*).
type RejectKind uint8

const (
	RejectNone     RejectKind = iota
	RejectICMP                // ICMP destination unreachable with RejectCode (IPv4)
	RejectICMPv6              // ICMPv6 destination unreachable with RejectCode
	RejectICMPx               // the family's unreachable for an ICMPX code
	RejectTCPReset            // TCP RST
)

func (k RejectKind) String() string {
	switch k {
	case RejectICMP:
		return "icmp"
	case RejectICMPv6:
		return "icmpv6"
	case RejectICMPx:
		return "icmpx"
	case RejectTCPReset:
		return "tcp reset"
	}
	return "none"
}

// ICMPX codes (NFT_REJECT_ICMPX_*).
const (
	ICMPxNoRoute         = 0
	ICMPxPortUnreach     = 1
	ICMPxHostUnreach     = 2
	ICMPxAdminProhibited = 3
)

// Reject drops the packet and has the engine answer it. A plain `reject`
// is icmpx port-unreachable: port unreachable in the packet's family.
type Reject struct {
	Kind RejectKind
	Code uint8

	plain bool // written without "with": nft picks the reply (addDependency)
}

func (*Reject) stmtNode() {}

func (r *Reject) write(sb *strings.Builder) {
	sb.WriteString("reject")
	var f Field
	switch r.Kind {
	case RejectTCPReset:
		sb.WriteString(" with tcp reset")
		return
	case RejectICMP:
		f = fieldOf(TypeICMPCode)
	case RejectICMPv6:
		f = fieldOf(TypeICMPv6Code)
	case RejectICMPx:
		if r.Code == ICMPxPortUnreach {
			return
		}
		f = fieldOf(TypeICMPxCode)
	}
	sb.WriteString(" with " + r.Kind.String() + " ")
	formatValue(sb, f, []byte{r.Code}, false)
}

func (r *Reject) eval(c *evalCtx) bool {
	c.v = vDrop
	c.res.Reject, c.res.RejectCode = r.Kind, r.Code
	return false
}
