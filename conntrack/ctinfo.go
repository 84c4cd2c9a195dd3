package conntrack

// CTInfo is how the connection tracker saw one packet: the state the rules
// match with `ct state` and the direction. It is stored in
// packet.Packet.CTInfo. The zero value means no entry is attached, which the
// rules read as INVALID, as the kernel does for a packet without a conntrack.
type CTInfo uint8

const (
	InfoNone             CTInfo = iota // no entry: INVALID
	InfoEstablished                    // IP_CT_ESTABLISHED
	InfoRelated                        // IP_CT_RELATED
	InfoNew                            // IP_CT_NEW
	InfoEstablishedReply               // IP_CT_ESTABLISHED_REPLY
	InfoRelatedReply                   // IP_CT_RELATED_REPLY
	InfoUntracked                      // IP_CT_UNTRACKED (notrack)
)

// The bits of `ct state`, with the kernel's values (NF_CT_STATE_BIT and
// NF_CT_STATE_INVALID_BIT / NF_CT_STATE_UNTRACKED_BIT in nf_conntrack_common.h).
const (
	StateInvalid     uint32 = 1 << 0
	StateEstablished uint32 = 1 << 1
	StateRelated     uint32 = 1 << 2
	StateNew         uint32 = 1 << 3
	StateUntracked   uint32 = 1 << 6
)

// StateBit is the `ct state` bit of a packet with this info.
func (i CTInfo) StateBit() uint32 {
	switch i {
	case InfoEstablished, InfoEstablishedReply:
		return StateEstablished
	case InfoRelated, InfoRelatedReply:
		return StateRelated
	case InfoNew:
		return StateNew
	case InfoUntracked:
		return StateUntracked
	}
	return StateInvalid
}

// IsReply reports whether the packet travels in the reply direction.
func (i CTInfo) IsReply() bool {
	return i == InfoEstablishedReply || i == InfoRelatedReply
}

func (i CTInfo) String() string {
	switch i {
	case InfoNone:
		return "invalid"
	case InfoEstablished:
		return "established"
	case InfoRelated:
		return "related"
	case InfoNew:
		return "new"
	case InfoEstablishedReply:
		return "established,reply"
	case InfoRelatedReply:
		return "related,reply"
	case InfoUntracked:
		return "untracked"
	}
	return "ctinfo?"
}
