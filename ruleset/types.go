package ruleset

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Type is an nftables data type: what a selector yields and what the
// values compared with it mean. Values of every type are kept as
// big-endian byte strings of a fixed size, so that sets, ranges and
// concatenations compare them with bytes.Compare.
type Type uint8

const (
	TypeInvalid     Type = iota
	TypeVerdict          // verdict (map data only)
	TypeInteger          // integer; its size comes from the selector
	TypeIPv4Addr         // ipv4_addr
	TypeIPv6Addr         // ipv6_addr
	TypeInetService      // inet_service: a port
	TypeInetProto        // inet_proto
	TypeIfname           // ifname: 16 bytes, NUL padded
	TypeIfindex          // iface_index
	TypeMark             // mark
	TypeCTState          // ct_state (bitmask)
	TypeCTStatus         // ct_status (bitmask)
	TypeCTDir            // ct_dir
	TypeTCPFlags         // tcp_flag (bitmask)
	TypeICMPType         // icmp_type
	TypeICMPCode         // icmp_code
	TypeICMPv6Type       // icmpv6_type
	TypeICMPv6Code       // icmpv6_code
	TypeICMPxCode        // icmpx_code (reject only)
	TypeNFProto          // nf_proto
	TypePktType          // pkt_type
	TypeFibAddrType      // fib_addrtype
	TypeDSCP             // dscp
	numTypes
)

// symbol is a name of a constant of a type.
type symbol struct {
	name string
	val  uint64
}

type typeInfo struct {
	name    string
	size    int  // bytes; 0 for integer (the selector decides)
	bitmask bool // implicit match is (x & v) != 0; values print as a,b,c
	hex     bool // numbers print as 0x%0*x
	setType bool // may be used in a named set's "type"
	syms    []symbol
	// numericOnly symbols are accepted on input but values print as numbers.
	numericOnly bool
}

var typeInfos = [numTypes]typeInfo{
	TypeInvalid:     {name: "invalid"},
	TypeVerdict:     {name: "verdict", setType: true},
	TypeInteger:     {name: "integer"},
	TypeIPv4Addr:    {name: "ipv4_addr", size: 4, setType: true},
	TypeIPv6Addr:    {name: "ipv6_addr", size: 16, setType: true},
	TypeInetService: {name: "inet_service", size: 2, setType: true, syms: serviceSyms, numericOnly: true},
	TypeInetProto:   {name: "inet_proto", size: 1, setType: true, syms: protoSyms},
	TypeIfname:      {name: "ifname", size: 16, setType: true},
	TypeIfindex:     {name: "iface_index", size: 4, setType: true},
	TypeMark:        {name: "mark", size: 4, hex: true, setType: true},
	TypeCTState:     {name: "ct_state", size: 4, bitmask: true, setType: true, syms: ctStateSyms},
	TypeCTStatus:    {name: "ct_status", size: 4, bitmask: true, setType: true, syms: ctStatusSyms},
	TypeCTDir:       {name: "ct_dir", size: 1, setType: true, syms: ctDirSyms},
	TypeTCPFlags:    {name: "tcp_flag", size: 1, bitmask: true, setType: true, syms: tcpFlagSyms},
	TypeICMPType:    {name: "icmp_type", size: 1, setType: true, syms: icmpTypeSyms},
	TypeICMPCode:    {name: "icmp_code", size: 1, setType: true, syms: icmpCodeSyms},
	TypeICMPv6Type:  {name: "icmpv6_type", size: 1, setType: true, syms: icmpv6TypeSyms},
	TypeICMPv6Code:  {name: "icmpv6_code", size: 1, setType: true, syms: icmpv6CodeSyms},
	TypeICMPxCode:   {name: "icmpx_code", size: 1, syms: icmpxCodeSyms},
	TypeNFProto:     {name: "nf_proto", size: 1, setType: true, syms: nfprotoSyms},
	TypePktType:     {name: "pkt_type", size: 1, setType: true, syms: pktTypeSyms},
	TypeFibAddrType: {name: "fib_addrtype", size: 4, setType: true, syms: fibAddrTypeSyms},
	TypeDSCP:        {name: "dscp", size: 1, hex: true, setType: true, syms: dscpSyms},
}

func (t Type) String() string {
	if t < numTypes {
		return typeInfos[t].name
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

func (t Type) info() *typeInfo {
	if t < numTypes {
		return &typeInfos[t]
	}
	return &typeInfos[TypeInvalid]
}

// IsBitmask reports whether the type's values are sets of flags.
func (t Type) IsBitmask() bool { return t.info().bitmask }

// typeByName finds a type by the name a set declaration uses.
func typeByName(name string) (Type, bool) {
	for t := range numTypes {
		if typeInfos[t].setType && typeInfos[t].name == name {
			return t, true
		}
	}
	return TypeInvalid, false
}

// Field is the type of one value: its Type and its size in bytes, and for
// integers narrower than a byte boundary the number of bits.
type Field struct {
	Type Type
	Size int // bytes
	Bits int // significant bits; 0 means Size*8
}

func (f Field) bits() int {
	if f.Bits != 0 {
		return f.Bits
	}
	return f.Size * 8
}

func fieldOf(t Type) Field { return Field{Type: t, Size: t.info().size} }

// parseValue parses one textual constant of field f. quoted says the text
// was a "string" in the input.
func parseValue(f Field, text string, quoted bool) (*Const, error) {
	c := &Const{Field: f, B: make([]byte, f.Size)}
	switch f.Type {
	case TypeIPv4Addr, TypeIPv6Addr:
		a, err := netip.ParseAddr(text)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("invalid %s %q", f.Type, text)
		}
		if f.Type == TypeIPv4Addr {
			if !a.Is4() {
				return nil, fmt.Errorf("invalid %s %q", f.Type, text)
			}
			b := a.As4()
			copy(c.B, b[:])
		} else {
			if a.Is4() {
				return nil, fmt.Errorf("invalid %s %q", f.Type, text)
			}
			b := a.As16()
			copy(c.B, b[:])
		}
		return c, nil
	case TypeIfname:
		name := text
		if strings.HasSuffix(name, `\*`) {
			name = name[:len(name)-2] + "*"
		} else if strings.HasSuffix(name, "*") {
			c.Wildcard = true
			name = name[:len(name)-1]
		}
		if len(name) >= 16 || name == "" && !c.Wildcard || strings.ContainsRune(name, 0) {
			return nil, fmt.Errorf("invalid interface name %q", text)
		}
		copy(c.B, name)
		return c, nil
	case TypeIfindex:
		if n, err := parseUint(text, 32); err == nil && !quoted {
			binary.BigEndian.PutUint32(c.B, uint32(n))
			return c, nil
		}
		if text == "" || len(text) >= 16 {
			return nil, fmt.Errorf("invalid interface name %q", text)
		}
		c.Name = text
		return c, nil
	case TypeVerdict, TypeInvalid:
		return nil, fmt.Errorf("unexpected value %q", text)
	}
	info := f.Type.info()
	var v uint64
	found := false
	for _, s := range info.syms {
		if s.name == text {
			v, found = s.val, true
			break
		}
	}
	if !found {
		n, err := parseUint(text, f.bits())
		if err != nil {
			if info.syms != nil && !isNumber(text) {
				return nil, fmt.Errorf("%q is not a valid %s", text, f.Type)
			}
			return nil, fmt.Errorf("invalid %s value %q: %v", f.Type, text, err)
		}
		v = n
	}
	putUint(c.B, v)
	return c, nil
}

func isNumber(s string) bool {
	return s != "" && (s[0] >= '0' && s[0] <= '9')
}

func parseUint(s string, bits int) (uint64, error) {
	var n uint64
	var err error
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		n, err = strconv.ParseUint(s[2:], 16, 64)
	} else {
		n, err = strconv.ParseUint(s, 10, 64)
	}
	if err != nil {
		return 0, fmt.Errorf("not a number")
	}
	if bits < 64 && n>>uint(bits) != 0 {
		return 0, fmt.Errorf("value exceeds %d bits", bits)
	}
	return n, nil
}

func putUint(b []byte, v uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

func getUint(b []byte) uint64 {
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v
}

// formatValue writes b, a value of field f, as nft prints it.
func formatValue(sb *strings.Builder, f Field, b []byte, numeric bool) {
	switch f.Type {
	case TypeIPv4Addr:
		sb.WriteString(netip.AddrFrom4([4]byte(b)).String())
		return
	case TypeIPv6Addr:
		sb.WriteString(netip.AddrFrom16([16]byte(b)).String())
		return
	case TypeIfname:
		n := 0
		for n < len(b) && b[n] != 0 {
			n++
		}
		sb.WriteString(strconv.Quote(string(b[:n])))
		return
	}
	info := f.Type.info()
	v := getUint(b)
	if info.bitmask && !numeric {
		if v == 0 {
			// nft prints an empty flag set as its number.
			fmt.Fprintf(sb, "0x%x", v)
			return
		}
		rest := v
		first := true
		for _, s := range info.syms {
			if s.val != 0 && rest&s.val == s.val {
				if !first {
					sb.WriteByte(',')
				}
				sb.WriteString(s.name)
				first = false
				rest &^= s.val
			}
		}
		if rest != 0 {
			if !first {
				sb.WriteByte(',')
			}
			fmt.Fprintf(sb, "0x%x", rest)
		}
		return
	}
	if !numeric && !info.numericOnly {
		for _, s := range info.syms {
			if s.val == v {
				sb.WriteString(s.name)
				return
			}
		}
	}
	if info.hex {
		fmt.Fprintf(sb, "0x%0*x", f.Size*2, v)
		return
	}
	sb.WriteString(strconv.FormatUint(v, 10))
}
