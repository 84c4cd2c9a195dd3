package conntrack

import "encoding/binary"

// TCPState is the kernel's enum tcp_conntrack.
type TCPState uint8

const (
	TCPNone        TCPState = iota // TCP_CONNTRACK_NONE
	TCPSynSent                     // SYN_SENT: SYN seen
	TCPSynRecv                     // SYN_RECV: SYN-ACK seen
	TCPEstablished                 // ESTABLISHED: ACK seen
	TCPFinWait                     // FIN_WAIT: FIN seen
	TCPCloseWait                   // CLOSE_WAIT: ACK seen after FIN
	TCPLastAck                     // LAST_ACK: FIN seen after FIN
	TCPTimeWait                    // TIME_WAIT: last ACK seen
	TCPClose                       // CLOSE: RST seen
	TCPSynSent2                    // SYN_SENT2: SYN from the reply side (simultaneous open)
	tcpStateMax

	tcpInvalid = tcpStateMax     // sIV
	tcpIgnore  = tcpStateMax + 1 // sIG

	tcpTimeoutRetrans = tcpStateMax     // TCP_CONNTRACK_RETRANS
	tcpTimeoutUnack   = tcpStateMax + 1 // TCP_CONNTRACK_UNACK
	tcpTimeoutMax     = tcpStateMax + 2
)

var tcpStateNames = [...]string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
	"CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"}

func (s TCPState) String() string {
	if int(s) < len(tcpStateNames) {
		return tcpStateNames[s]
	}
	return "TCP_STATE?"
}

// The segment classes that index the state table (enum tcp_bit_set).
const (
	tcpSynSet = iota
	tcpSynAckSet
	tcpFinSet
	tcpAckSet
	tcpRstSet
	tcpNoneSet
)

// Flags of a direction's window tracking (IP_CT_TCP_FLAG_*), and of
// lastFlags.
const (
	tcpFlagWindowScale  = 0x01
	tcpFlagSACKPerm     = 0x02
	tcpFlagCloseInit    = 0x04
	tcpFlagBeLiberal    = 0x08
	tcpFlagDataUnacked  = 0x10
	tcpFlagMaxAckSet    = 0x20
	tcpFlagChallengeAck = 0x40 // IP_CT_EXP_CHALLENGE_ACK
	tcpFlagSimOpen      = 0x80 // IP_CT_TCP_SIMULTANEOUS_OPEN
)

// TCP header flag bits.
const (
	thFIN = 0x01
	thSYN = 0x02
	thRST = 0x04
	thPSH = 0x08
	thACK = 0x10
	thURG = 0x20
	thECE = 0x40
	thCWR = 0x80
)

// tcpConntracks is the kernel's tcp_conntracks table: [dir][class][old
// state] to the new state, sIV (invalid) or sIG (ignore), for Linux 6.x.
var tcpConntracks = func() (tab [2][6][tcpStateMax]TCPState) {
	const (
		sNO = TCPNone
		sSS = TCPSynSent
		sSR = TCPSynRecv
		sES = TCPEstablished
		sFW = TCPFinWait
		sCW = TCPCloseWait
		sLA = TCPLastAck
		sTW = TCPTimeWait
		sCL = TCPClose
		sS2 = TCPSynSent2
		sIV = tcpInvalid
		sIG = tcpIgnore
	)
	tab[DirOriginal] = [6][tcpStateMax]TCPState{
		// sNO, sSS, sSR, sES, sFW, sCW, sLA, sTW, sCL, sS2
		tcpSynSet:    {sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2},
		tcpSynAckSet: {sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR},
		tcpFinSet:    {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
		tcpAckSet:    {sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV},
		tcpRstSet:    {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
		tcpNoneSet:   {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
	}
	tab[DirReply] = [6][tcpStateMax]TCPState{
		tcpSynSet:    {sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2},
		tcpSynAckSet: {sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR},
		tcpFinSet:    {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
		tcpAckSet:    {sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG},
		tcpRstSet:    {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
		tcpNoneSet:   {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
	}
	return tab
}()

// tcpValidFlags are the valid combinations of FIN, SYN, RST, ACK and URG
// (tcp_valid_flags; PSH, ECE and CWR are always allowed).
var tcpValidFlags = func() (v [64]bool) {
	for _, f := range []uint8{thSYN, thSYN | thURG, thSYN | thACK, thRST, thRST | thACK,
		thFIN | thACK, thFIN | thACK | thURG, thACK, thACK | thURG} {
		v[f] = true
	}
	return v
}()

// tcpSeen is one direction's window tracking (ip_ct_tcp_state without the
// scale and flags bytes, which tcpState keeps apart so that it packs).
type tcpSeen struct {
	end    uint32 // td_end: max(seq + len) sent
	maxend uint32 // td_maxend: max(ack + max(win, 1)) seen from the peer
	maxwin uint32 // td_maxwin
	maxack uint32 // td_maxack
}

// tcpState is the kernel's ip_ct_tcp, in 56 bytes.
type tcpState struct {
	seen       [2]tcpSeen
	scale      [2]uint8
	flags      [2]uint8
	state      uint8
	lastDir    uint8
	lastIndex  uint8
	retrans    uint8
	lastWscale uint8
	lastFlags  uint8
	lastWin    uint16
	lastSeq    uint32
	lastAck    uint32
	lastEnd    uint32
}

// protoState is the per-protocol part of an entry, a union: UDP keeps its
// stream timestamp in the first words of tcp.
type protoState struct {
	tcp tcpState
}

func (p *protoState) udpStreamAt() int64 {
	return int64(uint64(p.tcp.seen[0].end) | uint64(p.tcp.seen[0].maxend)<<32)
}

func (p *protoState) setUDPStreamAt(v int64) {
	p.tcp.seen[0].end, p.tcp.seen[0].maxend = uint32(v), uint32(uint64(v)>>32)
}

func before(a, b uint32) bool { return int32(a-b) < 0 }
func after(a, b uint32) bool  { return int32(b-a) < 0 }

// tcpSeg is what the tracker reads from one segment.
type tcpSeg struct {
	l4      []byte // TCP header and payload, to L3End
	seq     uint32
	ack     uint32
	win     uint16
	flags   uint8
	hdrLen  int
	dataLen int
}

// parseTCP reads the segment and applies tcp_error: a truncated header or an
// impossible flag combination is invalid.
func parseTCP(l4 []byte) (s tcpSeg, ok bool) {
	if len(l4) < 20 {
		return s, false
	}
	s.hdrLen = int(l4[12]>>4) * 4
	if s.hdrLen < 20 || len(l4) < s.hdrLen {
		return s, false
	}
	s.l4 = l4
	s.seq = binary.BigEndian.Uint32(l4[4:])
	s.ack = binary.BigEndian.Uint32(l4[8:])
	s.flags = l4[13]
	s.win = binary.BigEndian.Uint16(l4[14:])
	s.dataLen = len(l4) - s.hdrLen
	if !tcpValidFlags[s.flags&^(thECE|thCWR|thPSH)] {
		return s, false
	}
	return s, true
}

func (s *tcpSeg) syn() bool        { return s.flags&thSYN != 0 }
func (s *tcpSeg) has(f uint8) bool { return s.flags&f != 0 }

// index is get_conntrack_index.
func (s *tcpSeg) index() int {
	switch {
	case s.flags&thRST != 0:
		return tcpRstSet
	case s.flags&thSYN != 0:
		if s.flags&thACK != 0 {
			return tcpSynAckSet
		}
		return tcpSynSet
	case s.flags&thFIN != 0:
		return tcpFinSet
	case s.flags&thACK != 0:
		return tcpAckSet
	}
	return tcpNoneSet
}

// end is segment_seq_plus_len.
func (s *tcpSeg) end() uint32 {
	e := s.seq + uint32(s.dataLen)
	if s.flags&thSYN != 0 {
		e++
	}
	if s.flags&thFIN != 0 {
		e++
	}
	return e
}

// options reads window scale and SACK-permitted (tcp_options) into scale
// and flags; flags keeps only its be-liberal bit otherwise.
func (s *tcpSeg) options(scale, flags *uint8) {
	opts := s.l4[20:s.hdrLen]
	if len(opts) == 0 {
		return
	}
	*scale = 0
	*flags &= tcpFlagBeLiberal
	for len(opts) > 0 {
		switch opts[0] {
		case 0: // EOL
			return
		case 1: // NOP
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || opts[1] < 2 || int(opts[1]) > len(opts) {
			return
		}
		kind, size := opts[0], int(opts[1])
		switch {
		case kind == 4 && size == 2: // SACK permitted
			*flags |= tcpFlagSACKPerm
		case kind == 3 && size == 3: // window scale
			*scale = min(opts[2], 14)
			*flags |= tcpFlagWindowScale
		}
		opts = opts[size:]
	}
}

// sack returns the highest right edge of the SACK blocks, or ack (tcp_sack).
func (s *tcpSeg) sack(ack uint32) uint32 {
	opts := s.l4[20:s.hdrLen]
	if len(opts) == 12 && binary.BigEndian.Uint32(opts) == 0x0101080a {
		return ack // timestamps only
	}
	for len(opts) > 0 {
		switch opts[0] {
		case 0:
			return ack
		case 1:
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || opts[1] < 2 || int(opts[1]) > len(opts) {
			return ack
		}
		kind, size := opts[0], int(opts[1])
		if kind == 5 && size >= 10 && (size-2)%8 == 0 {
			for i := 2; i < size; i += 8 {
				if r := binary.BigEndian.Uint32(opts[i+4:]); after(r, ack) {
					ack = r
				}
			}
			return ack
		}
		opts = opts[size:]
	}
	return ack
}
