package ruleset

import (
	"encoding/binary"
	"net/netip"
	"strings"

	"github.com/nfgo/nfgo/packet"
)

// NATKind is the kind of a NAT statement.
type NATKind uint8

const (
	NATNone NATKind = iota
	NATSNAT
	NATDNAT
	NATMasquerade
	NATRedirect
)

var natNames = [...]string{"none", "snat", "dnat", "masquerade", "redirect"}

func (k NATKind) String() string { return natNames[k] }

// NATFlags are NF_NAT_RANGE_* flags.
type NATFlags uint8

const (
	NATRandom      NATFlags = 1 << iota // random
	NATFullyRandom                      // fully-random
	NATPersistent                       // persistent
)

func (f NATFlags) write(sb *strings.Builder) {
	sep := " "
	for _, x := range []struct {
		bit  NATFlags
		name string
	}{{NATRandom, "random"}, {NATFullyRandom, "fully-random"}, {NATPersistent, "persistent"}} {
		if f&x.bit != 0 {
			sb.WriteString(sep + x.name)
			sep = ","
		}
	}
}

// NATRequest is a NAT binding the engine is asked to set up.
type NATRequest struct {
	Kind             NATKind
	AddrMin, AddrMax netip.Addr // invalid when the statement names none
	PortMin, PortMax uint16     // 0 when the statement names none
	Flags            NATFlags
}

// NAT translates the connection: snat/dnat to ADDR[:PORT], masquerade,
// redirect [to :PORT]. Like the kernel's nft_nat, it ends the rule with
// accept once the binding is asked for.
type NAT struct {
	Kind   NATKind
	Family packet.Family // ip or ip6 when written in an inet table; else 0
	Addr   Expr          // *Const, *Range, *Prefix, *MapLookup, or nil
	Port   Expr          // *Const, *Range, *MapLookup, or nil
	Flags  NATFlags
}

func (*NAT) stmtNode() {}

func (n *NAT) write(sb *strings.Builder) {
	sb.WriteString(n.Kind.String())
	if n.Addr != nil || n.Port != nil {
		switch n.Family {
		case packet.FamilyIPv4:
			sb.WriteString(" ip")
		case packet.FamilyIPv6:
			sb.WriteString(" ip6")
		}
		sb.WriteString(" to")
	}
	if n.Addr != nil {
		sb.WriteByte(' ')
		v6 := len(exprFields(n.Addr)) == 1 && exprFields(n.Addr)[0].Type == TypeIPv6Addr
		switch a := n.Addr.(type) {
		case *Const:
			if v6 && n.Port != nil {
				sb.WriteString("[")
				a.write(sb)
				sb.WriteString("]")
			} else {
				a.write(sb)
			}
		case *Range:
			if v6 && n.Port != nil {
				sb.WriteString("[")
				a.Lo.write(sb)
				sb.WriteString("]-[")
				a.Hi.write(sb)
				sb.WriteString("]")
			} else {
				a.write(sb)
			}
		default:
			a.write(sb)
		}
	}
	if n.Port != nil {
		if n.Addr == nil {
			sb.WriteByte(' ')
		}
		sb.WriteByte(':')
		n.Port.write(sb)
	}
	n.Flags.write(sb)
}

func (n *NAT) eval(c *evalCtx) bool {
	req := NATRequest{Kind: n.Kind, Flags: n.Flags}
	if n.Addr != nil {
		lo, hi, ok := natBounds(n.Addr, c)
		if !ok {
			return false
		}
		req.AddrMin, req.AddrMax = bytesAddr(lo), bytesAddr(hi)
	}
	if n.Port != nil {
		lo, hi, ok := natBounds(n.Port, c)
		if !ok {
			return false
		}
		req.PortMin, req.PortMax = binary.BigEndian.Uint16(lo), binary.BigEndian.Uint16(hi)
	}
	c.res.NAT = req
	c.v = vAccept
	return false
}

func natBounds(e Expr, c *evalCtx) (lo, hi []byte, ok bool) {
	if m, isMap := e.(*MapLookup); isMap {
		el, found := mapLookup(m, c)
		if !found {
			return nil, nil, false
		}
		lo, hi = elemBounds(el.Data)
		return lo, hi, lo != nil
	}
	lo, hi = elemBounds(e)
	return lo, hi, lo != nil
}

func bytesAddr(b []byte) netip.Addr {
	switch len(b) {
	case 4:
		return netip.AddrFrom4([4]byte(b))
	case 16:
		return netip.AddrFrom16([16]byte(b))
	}
	return netip.Addr{}
}
