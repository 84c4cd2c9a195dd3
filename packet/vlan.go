package packet

import "encoding/binary"

// VLAN is an 802.1Q/802.1ad tag without its TPID: the four bytes after a
// TPID, the tag control information and the EtherType of what follows.
type VLAN []byte

const (
	vlanTCI       = 0
	vlanEtherType = 2

	// VLANTagLen is the length of a tag (TPID + TCI) in a frame, and of
	// the VLAN view (TCI + inner EtherType).
	VLANTagLen = 4

	// MaxVLANs is how many stacked tags Parse accepts (QinQ).
	MaxVLANs = 2
)

func (b VLAN) tci() uint16 { return binary.BigEndian.Uint16(b[vlanTCI:]) }

// PCP is the priority code point (0-7).
func (b VLAN) PCP() uint8 { return uint8(b.tci() >> 13) }

// DEI is the drop-eligible indicator.
func (b VLAN) DEI() bool { return b.tci()&0x1000 != 0 }

// ID is the VLAN identifier (0-4095).
func (b VLAN) ID() uint16 { return b.tci() & 0x0fff }

// EtherType is the EtherType of what follows the tag.
func (b VLAN) EtherType() uint16 { return binary.BigEndian.Uint16(b[vlanEtherType:]) }

// SetTCI sets priority, DEI and identifier at once.
func (b VLAN) SetTCI(pcp uint8, dei bool, id uint16) {
	tci := uint16(pcp&7)<<13 | id&0x0fff
	if dei {
		tci |= 0x1000
	}
	binary.BigEndian.PutUint16(b[vlanTCI:], tci)
}

func (b VLAN) SetEtherType(t uint16) { binary.BigEndian.PutUint16(b[vlanEtherType:], t) }
