package packet

// Reason says why Parse did not accept a frame. It is a small integer so
// that the engine can count drops in an array indexed by it, labelled with
// String.
type Reason uint8

const (
	// ReasonNone: the frame is well formed.
	ReasonNone Reason = iota
	// ReasonEmpty: a raw frame with no bytes.
	ReasonEmpty
	// ReasonTruncatedEthernet: shorter than an Ethernet header.
	ReasonTruncatedEthernet
	// ReasonTruncatedVLAN: a VLAN tag runs past the frame.
	ReasonTruncatedVLAN
	// ReasonTooManyVLANs: more than MaxVLANs stacked tags.
	ReasonTooManyVLANs
	// ReasonUnsupportedEtherType: neither IPv4, IPv6 nor ARP. Not a
	// malformation: the engine hands such frames to whatever handles
	// non-IP traffic (or lets them pass) rather than dropping them. Parse
	// has filled Link, EtherType, VLANs and L3Off.
	ReasonUnsupportedEtherType
	// ReasonTruncatedARP: shorter than ARPLen.
	ReasonTruncatedARP
	// ReasonBadARP: not an Ethernet/IPv4 ARP packet.
	ReasonBadARP
	// ReasonBadIPVersion: the version nibble does not match the EtherType
	// (or, on LinkRaw, is neither 4 nor 6).
	ReasonBadIPVersion
	// ReasonTruncatedIPv4: shorter than IPv4MinHeaderLen.
	ReasonTruncatedIPv4
	// ReasonBadIPv4HeaderLen: IHL below 5 or past the end of the frame.
	ReasonBadIPv4HeaderLen
	// ReasonBadIPv4TotalLen: total length below the header length or past
	// the end of the frame.
	ReasonBadIPv4TotalLen
	// ReasonTruncatedIPv6: shorter than IPv6HeaderLen.
	ReasonTruncatedIPv6
	// ReasonBadIPv6PayloadLen: the payload length runs past the frame.
	ReasonBadIPv6PayloadLen
	// ReasonTruncatedIPv6Ext: an extension header runs past the payload
	// length. Jumbograms (payload length 0 and a jumbo option) land here:
	// nfgo does not handle them.
	ReasonTruncatedIPv6Ext
	// ReasonIPv6ExtChainTooLong: more than MaxIPv6ExtHeaders extension
	// headers.
	ReasonIPv6ExtChainTooLong
	// ReasonIPv6HopByHopNotFirst: a hop-by-hop header after another
	// extension header.
	ReasonIPv6HopByHopNotFirst
	// ReasonFrameTooLong: the network packet ends beyond 65535 bytes into
	// the frame, past what Packet's 16-bit offsets hold.
	ReasonFrameTooLong
	// ReasonTruncatedTCP: shorter than TCPMinHeaderLen.
	ReasonTruncatedTCP
	// ReasonBadTCPDataOffset: data offset below 20 or past the packet.
	ReasonBadTCPDataOffset
	// ReasonTruncatedUDP: shorter than UDPHeaderLen.
	ReasonTruncatedUDP
	// ReasonBadUDPLength: UDP length below 8 or past the packet.
	ReasonBadUDPLength
	// ReasonTruncatedICMP: an ICMP or ICMPv6 message shorter than 8 bytes.
	ReasonTruncatedICMP
	// ReasonTruncatedL4: an SCTP, DCCP or UDP-Lite header shorter than
	// its fixed part.
	ReasonTruncatedL4

	// NumReasons is the number of reasons, for sizing counter arrays.
	NumReasons
)

var reasonNames = [NumReasons]string{
	ReasonNone:                 "none",
	ReasonEmpty:                "empty-frame",
	ReasonTruncatedEthernet:    "truncated-ethernet",
	ReasonTruncatedVLAN:        "truncated-vlan",
	ReasonTooManyVLANs:         "too-many-vlan-tags",
	ReasonUnsupportedEtherType: "unsupported-ethertype",
	ReasonTruncatedARP:         "truncated-arp",
	ReasonBadARP:               "bad-arp",
	ReasonBadIPVersion:         "bad-ip-version",
	ReasonTruncatedIPv4:        "truncated-ipv4",
	ReasonBadIPv4HeaderLen:     "bad-ipv4-header-length",
	ReasonBadIPv4TotalLen:      "bad-ipv4-total-length",
	ReasonTruncatedIPv6:        "truncated-ipv6",
	ReasonBadIPv6PayloadLen:    "bad-ipv6-payload-length",
	ReasonTruncatedIPv6Ext:     "truncated-ipv6-ext-header",
	ReasonIPv6ExtChainTooLong:  "ipv6-ext-chain-too-long",
	ReasonIPv6HopByHopNotFirst: "ipv6-hop-by-hop-not-first",
	ReasonFrameTooLong:         "frame-too-long",
	ReasonTruncatedTCP:         "truncated-tcp",
	ReasonBadTCPDataOffset:     "bad-tcp-data-offset",
	ReasonTruncatedUDP:         "truncated-udp",
	ReasonBadUDPLength:         "bad-udp-length",
	ReasonTruncatedICMP:        "truncated-icmp",
	ReasonTruncatedL4:          "truncated-l4",
}

// String is a short kebab-case name, fit for a metric label.
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "reason(" + itoa(int(r)) + ")"
}
