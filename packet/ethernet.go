package packet

import "encoding/binary"

// Ethernet is an Ethernet II header: destination, source, EtherType.
type Ethernet []byte

const (
	ethDst       = 0
	ethSrc       = 6
	ethEtherType = 12

	// EthernetHeaderLen is the length of an untagged Ethernet header.
	EthernetHeaderLen = 14
)

// EtherTypes nfgo knows.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeIPv6 = 0x86DD
	EtherTypeVLAN = 0x8100 // 802.1Q customer tag
	EtherTypeQinQ = 0x88A8 // 802.1ad service tag
)

func (b Ethernet) Dst() MAC { return MAC(b[ethDst : ethDst+6]) }
func (b Ethernet) Src() MAC { return MAC(b[ethSrc : ethSrc+6]) }

func (b Ethernet) SetDst(m MAC) { copy(b[ethDst:ethDst+6], m[:]) }
func (b Ethernet) SetSrc(m MAC) { copy(b[ethSrc:ethSrc+6], m[:]) }

// EtherType is the outer EtherType (a TPID when the frame is tagged).
func (b Ethernet) EtherType() uint16 { return binary.BigEndian.Uint16(b[ethEtherType:]) }

func (b Ethernet) SetEtherType(t uint16) { binary.BigEndian.PutUint16(b[ethEtherType:], t) }
