package packet

import (
	"encoding/binary"
	"net/netip"
)

// IPv4 is an IPv4 header and what follows it (RFC 791).
type IPv4 []byte

const (
	ipv4VersionIHL = 0
	ipv4TOS        = 1
	ipv4TotalLen   = 2
	ipv4ID         = 4
	ipv4FlagsFrag  = 6
	ipv4TTL        = 8
	ipv4Protocol   = 9
	ipv4Checksum   = 10
	ipv4Src        = 12
	ipv4Dst        = 16

	// IPv4MinHeaderLen is the length of a header without options.
	IPv4MinHeaderLen = 20
	// IPv4MaxHeaderLen is the length of a header with IHL 15.
	IPv4MaxHeaderLen = 60
)

// IPv4 flags, as Flags returns them (the top three bits of byte 6).
const (
	IPv4FlagMoreFragments = 1 << 0
	IPv4FlagDontFragment  = 1 << 1
	IPv4FlagReserved      = 1 << 2
)

const (
	ipv4FlagDFBit     = 0x4000
	ipv4FlagMFBit     = 0x2000
	ipv4FragOffsetMsk = 0x1fff
)

// IP protocol numbers (IANA), for IPv4 Protocol and IPv6 Next Header.
const (
	ProtoHopOpts      = 0 // IPv6 hop-by-hop options
	ProtoICMP         = 1
	ProtoIGMP         = 2
	ProtoIPIP         = 4
	ProtoTCP          = 6
	ProtoUDP          = 17
	ProtoIPv6         = 41
	ProtoDCCP         = 33
	ProtoRouting      = 43 // IPv6 routing header
	ProtoIPv6Fragment = 44 // IPv6 fragment header
	ProtoGRE          = 47
	ProtoESP          = 50
	ProtoAH           = 51
	ProtoICMPv6       = 58
	ProtoNoNext       = 59 // IPv6 no next header
	ProtoDstOpts      = 60 // IPv6 destination options
	ProtoSCTP         = 132
	ProtoUDPLite      = 136
)

// Version is the IP version nibble (4 for a valid header).
func (b IPv4) Version() uint8 { return b[ipv4VersionIHL] >> 4 }

// HeaderLen is IHL in bytes.
func (b IPv4) HeaderLen() int { return int(b[ipv4VersionIHL]&0xf) * 4 }

func (b IPv4) TOS() uint8       { return b[ipv4TOS] }
func (b IPv4) SetTOS(tos uint8) { b[ipv4TOS] = tos }

// DSCP is the differentiated services code point, the top six bits of TOS.
func (b IPv4) DSCP() uint8 { return b[ipv4TOS] >> 2 }

// ECN is the explicit congestion notification field, the low two bits of TOS.
func (b IPv4) ECN() uint8 { return b[ipv4TOS] & 3 }

func (b IPv4) TotalLen() uint16       { return binary.BigEndian.Uint16(b[ipv4TotalLen:]) }
func (b IPv4) SetTotalLen(n uint16)   { binary.BigEndian.PutUint16(b[ipv4TotalLen:], n) }
func (b IPv4) ID() uint16             { return binary.BigEndian.Uint16(b[ipv4ID:]) }
func (b IPv4) SetID(id uint16)        { binary.BigEndian.PutUint16(b[ipv4ID:], id) }
func (b IPv4) flagsFrag() uint16      { return binary.BigEndian.Uint16(b[ipv4FlagsFrag:]) }
func (b IPv4) Flags() uint8           { return b[ipv4FlagsFrag] >> 5 }
func (b IPv4) DontFragment() bool     { return b.flagsFrag()&ipv4FlagDFBit != 0 }
func (b IPv4) MoreFragments() bool    { return b.flagsFrag()&ipv4FlagMFBit != 0 }
func (b IPv4) TTL() uint8             { return b[ipv4TTL] }
func (b IPv4) SetTTL(ttl uint8)       { b[ipv4TTL] = ttl }
func (b IPv4) Protocol() uint8        { return b[ipv4Protocol] }
func (b IPv4) SetProtocol(p uint8)    { b[ipv4Protocol] = p }
func (b IPv4) Checksum() uint16       { return binary.BigEndian.Uint16(b[ipv4Checksum:]) }
func (b IPv4) SetChecksum(c uint16)   { binary.BigEndian.PutUint16(b[ipv4Checksum:], c) }
func (b IPv4) Src() netip.Addr        { return netip.AddrFrom4([4]byte(b[ipv4Src : ipv4Src+4])) }
func (b IPv4) Dst() netip.Addr        { return netip.AddrFrom4([4]byte(b[ipv4Dst : ipv4Dst+4])) }
func (b IPv4) SrcBytes() []byte       { return b[ipv4Src : ipv4Src+4 : ipv4Src+4] }
func (b IPv4) DstBytes() []byte       { return b[ipv4Dst : ipv4Dst+4 : ipv4Dst+4] }
func (b IPv4) Options() []byte        { return b[IPv4MinHeaderLen:b.HeaderLen()] }
func (b IPv4) Payload() []byte        { return b[b.HeaderLen():b.TotalLen()] }
func (b IPv4) IsFragment() bool       { return b.flagsFrag()&(ipv4FlagMFBit|ipv4FragOffsetMsk) != 0 }
func (b IPv4) SetFlags(flags uint8)   { b[ipv4FlagsFrag] = b[ipv4FlagsFrag]&0x1f | flags<<5 }
func (b IPv4) SetVersionIHL(hlen int) { b[ipv4VersionIHL] = 4<<4 | uint8(hlen/4)&0xf }

// FragmentOffset is the fragment offset in bytes.
func (b IPv4) FragmentOffset() uint16 { return (b.flagsFrag() & ipv4FragOffsetMsk) * 8 }

// SetFragment sets the fragment offset (in bytes, a multiple of 8) and the
// MF flag, keeping DF and the reserved bit.
func (b IPv4) SetFragment(offset uint16, more bool) {
	v := b.flagsFrag()&(ipv4FlagDFBit|0x8000) | (offset/8)&ipv4FragOffsetMsk
	if more {
		v |= ipv4FlagMFBit
	}
	binary.BigEndian.PutUint16(b[ipv4FlagsFrag:], v)
}

// SetSrc sets the source address; a must be IPv4. It does not touch the
// checksum (see SetSrcUpdate).
func (b IPv4) SetSrc(a netip.Addr) {
	v := a.As4()
	copy(b[ipv4Src:ipv4Src+4], v[:])
}

// SetDst sets the destination address; a must be IPv4.
func (b IPv4) SetDst(a netip.Addr) {
	v := a.As4()
	copy(b[ipv4Dst:ipv4Dst+4], v[:])
}

// ComputeChecksum returns the header checksum as it should be, reading the
// checksum field as zero. Over a correct header, Fold(Sum(header)) is 0.
func (b IPv4) ComputeChecksum() uint16 {
	hl := b.HeaderLen()
	return Fold(Sum(b[ipv4Checksum+2:hl], Sum(b[:ipv4Checksum], 0)))
}

// DecTTL decrements the TTL and updates the header checksum incrementally
// (ip_decrease_ttl; RFC 1624 eqn. 3, so the result equals a full
// recomputation). The caller checks that TTL is above 1 first.
func (b IPv4) DecTTL() {
	old := binary.BigEndian.Uint16(b[ipv4TTL:])
	b[ipv4TTL]--
	b.SetChecksum(UpdateChecksum16(b.Checksum(), old, old-0x100))
}
