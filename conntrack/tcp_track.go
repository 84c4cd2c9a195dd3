package conntrack

// The TCP tracker proper: tcp_new, tcp_in_window and
// nf_conntrack_tcp_packet of net/netfilter/nf_conntrack_proto_tcp.c.

// verdict is what a protocol tracker says about a packet.
type verdict uint8

const (
	vAccept  verdict = iota // tracked: the entry is updated
	vInvalid                // -NF_ACCEPT: the packet is INVALID, the entry stays
	vRepeat                 // the entry was killed; look the packet up again
)

// windowResult is enum nf_ct_tcp_action.
type windowResult uint8

const (
	winAccept windowResult = iota
	winIgnore
	winInvalid
)

// tcpNew initialises the state of a new entry from its first segment (tcp_new);
// false means the segment cannot start a connection.
func (t *Table) tcpNew(st *tcpState, s *tcpSeg) bool {
	switch tcpConntracks[DirOriginal][s.index()][TCPNone] {
	case TCPSynSent:
		*st = tcpState{}
		st.seen[0].end = s.end()
		st.seen[0].maxwin = max(uint32(s.win), 1)
		st.seen[0].maxend = st.seen[0].end
		s.options(&st.scale[0], &st.flags[0])
	case tcpInvalid:
		return false
	default:
		if t.opts.TCPNoLoose {
			return false
		}
		// Picked up in the middle: its history is lost, take what the
		// segment tells and be liberal about the window.
		*st = tcpState{}
		st.seen[0].end = s.end()
		st.seen[0].maxwin = max(uint32(s.win), 1)
		st.seen[0].maxend = st.seen[0].end + st.seen[0].maxwin
		st.flags[0] = tcpFlagSACKPerm | tcpFlagBeLiberal
		st.flags[1] = tcpFlagSACKPerm | tcpFlagBeLiberal
	}
	st.lastIndex = tcpNoneSet
	return true
}

// initSender is tcp_init_sender: a SYN-ACK, or a SYN from the reply side.
func initSender(st *tcpState, d Dir, s *tcpSeg, end uint32) {
	snd := &st.seen[d]
	snd.end, snd.maxend = end, end
	snd.maxwin = max(uint32(s.win), 1)
	s.options(&st.scale[d], &st.flags[d])
	// RFC 1323: scaling only when both sides offer it.
	if d == DirReply && !(st.flags[d]&tcpFlagWindowScale != 0 && st.flags[1-d]&tcpFlagWindowScale != 0) {
		st.scale[0], st.scale[1] = 0, 0
	}
}

func maxAckWindow(maxwin uint32) uint32 { return max(maxwin, 66000) }

// inWindow is tcp_in_window.
func (t *Table) inWindow(st *tcpState, d Dir, index int, s *tcpSeg) windowResult {
	snd, rcv := &st.seen[d], &st.seen[1-d]
	liberal := t.opts.Liberal || st.flags[d]&tcpFlagBeLiberal != 0
	fail := func(r windowResult) windowResult {
		if liberal {
			return winAccept
		}
		return r
	}
	seq, ack := s.seq, s.ack
	win := uint32(s.win)
	end := s.end()
	sack := ack
	if st.flags[1-d]&tcpFlagSACKPerm != 0 {
		sack = s.sack(ack)
	}

	if snd.maxwin == 0 {
		if s.syn() {
			initSender(st, d, s, end)
			if !s.has(thACK) {
				return winAccept // simultaneous open
			}
		} else {
			// In the middle of a connection: use what the segment says.
			snd.end = end
			swin := win << st.scale[d]
			snd.maxwin = max(swin, 1)
			snd.maxend = end + snd.maxwin
			if rcv.maxwin == 0 {
				rcv.end, rcv.maxend = sack, sack
			} else if sack == rcv.end+1 {
				rcv.end++ // likely the answer to a keepalive
			}
		}
	} else if s.syn() && after(end, snd.end) &&
		(st.state == uint8(TCPSynSent) || st.state == uint8(TCPSynRecv)) {
		// A reinitialised SYN (RFC 793): take it as the first.
		initSender(st, d, s, end)
		if d == DirReply && !s.has(thACK) {
			return winAccept
		}
	}

	if !s.has(thACK) {
		ack, sack = rcv.end, rcv.end
	} else if s.flags&(thACK|thRST) == thACK|thRST && ack == 0 {
		ack, sack = rcv.end, rcv.end // broken stacks: RST+ACK with ack 0
	}
	if s.has(thRST) && seq == 0 && st.state == uint8(TCPSynSent) {
		seq, end = snd.end, snd.end // RST answering a SYN
	}

	if !before(seq, snd.maxend+1) {
		overshot := end - snd.maxend + 1
		ackOK := after(sack, rcv.end-maxAckWindow(snd.maxwin)-1)
		inRecv := rcv.maxwin != 0 && after(end, snd.end-rcv.maxwin-1)
		if inRecv && ackOK && overshot <= rcv.maxwin && before(sack, rcv.end+1) {
			// More than the window allows: let the peer's ACK catch up.
			snd.end = end
			st.flags[d] |= tcpFlagDataUnacked
			return fail(winIgnore)
		}
		return fail(winInvalid) // SEQ over the upper bound
	}
	if !before(sack, rcv.end+1) {
		return fail(winInvalid) // ACK of data not seen yet
	}
	if rcv.maxwin != 0 && !after(end, snd.end-rcv.maxwin-1) {
		return fail(winIgnore) // already ACKed data retransmitted
	}
	if !after(sack, rcv.end-maxAckWindow(snd.maxwin)-1) {
		return fail(winIgnore) // ACK under the lower bound
	}

	if !s.syn() {
		win <<= st.scale[d]
	}
	if swin := win + (sack - ack); snd.maxwin < swin {
		snd.maxwin = swin
	}
	if after(end, snd.end) {
		snd.end = end
		st.flags[d] |= tcpFlagDataUnacked
	}
	if s.has(thACK) {
		if st.flags[d]&tcpFlagMaxAckSet == 0 {
			snd.maxack = ack
			st.flags[d] |= tcpFlagMaxAckSet
		} else if after(ack, snd.maxack) {
			snd.maxack = ack
		}
	}
	if rcv.maxwin != 0 && after(end, snd.maxend) {
		rcv.maxwin += end - snd.maxend
	}
	if after(sack+win, rcv.maxend-1) {
		rcv.maxend = sack + win
		if win == 0 {
			rcv.maxend++
		}
	}
	if ack == rcv.end {
		st.flags[1-d] &^= tcpFlagDataUnacked
	}
	if index == tcpAckSet {
		if st.lastDir == uint8(d) && st.lastSeq == seq && st.lastAck == ack &&
			st.lastEnd == end && st.lastWin == s.win {
			st.retrans++
		} else {
			st.lastDir, st.lastSeq, st.lastAck, st.lastEnd, st.lastWin = uint8(d), seq, ack, end, s.win
			st.retrans = 0
		}
	}
	return winAccept
}

// tcpResult is what tcpPacket tells the caller to do besides the verdict.
type tcpResult struct {
	v       verdict
	timeout int64 // new timeout; 0: leave the timeout as it is
	kill    bool  // kill the entry after accepting (RST without a reply)
	assured bool  // set ASSURED
	changed bool  // the TCP state changed (UPDATE event)
	expires int64 // for an invalid segment: a shortened expiry, or 0
}

// tcpPacket is nf_conntrack_tcp_packet for an entry whose state is locked.
func (t *Table) tcpPacket(st *tcpState, status Status, d Dir, s *tcpSeg, expires, now int64) tcpResult {
	oldState := TCPState(st.state)
	index := s.index()
	newState := tcpConntracks[d][index][oldState]
	to := &t.tcpTimeouts

	switch newState {
	case TCPSynSent:
		if oldState < TCPTimeWait {
			break
		}
		// Reopening a closed or aborted connection: kill it, look again.
		if (st.flags[0]|st.flags[1])&tcpFlagCloseInit != 0 ||
			(st.lastDir == uint8(d) && st.lastIndex == tcpRstSet) {
			return tcpResult{v: vRepeat}
		}
		fallthrough
	case tcpIgnore:
		if index == tcpSynAckSet && st.lastIndex == tcpSynSet && st.lastDir != uint8(d) &&
			s.ack == st.lastEnd {
			// The SYN-ACK answers a SYN we ignored: client and server are
			// in sync, we are not; take the values we noted.
			oldState, newState = TCPSynSent, TCPSynRecv
			ld := st.lastDir
			st.seen[ld] = tcpSeen{end: st.lastEnd, maxend: st.lastEnd, maxwin: max(uint32(st.lastWin), 1)}
			st.scale[ld] = st.lastWscale
			st.lastFlags &^= tcpFlagChallengeAck
			st.flags[ld] = st.lastFlags
			st.seen[d] = tcpSeen{}
			st.scale[d] = 0
			st.flags[d] &= tcpFlagBeLiberal
			break
		}
		st.lastIndex, st.lastDir = uint8(index), uint8(d)
		st.lastSeq, st.lastEnd, st.lastWin = s.seq, s.end(), s.win
		if index == tcpSynSet && d == DirOriginal {
			var scale, flags uint8
			s.options(&scale, &flags)
			st.lastFlags, st.lastWscale = 0, 0
			if flags&tcpFlagWindowScale != 0 {
				st.lastFlags |= tcpFlagWindowScale
				st.lastWscale = scale
			}
			if flags&tcpFlagSACKPerm != 0 {
				st.lastFlags |= tcpFlagSACKPerm
			}
			if oldState == TCPLastAck {
				st.lastFlags |= tcpFlagChallengeAck
			}
		}
		if oldState == TCPSynSent && index == tcpAckSet && d == DirReply {
			st.lastAck = s.ack // possible challenge ACK to the SYN
		}
		return tcpResult{v: vAccept} // ignored: accepted, nothing updated
	case tcpInvalid:
		return tcpResult{v: vInvalid}
	case TCPTimeWait:
		if oldState == TCPLastAck && index == tcpAckSet && st.lastDir != uint8(d) &&
			st.lastIndex == tcpSynSet && st.lastFlags&tcpFlagChallengeAck != 0 {
			st.lastFlags &^= tcpFlagChallengeAck // RFC 5961 challenge ACK
			return tcpResult{v: vAccept}
		}
	case TCPSynSent2:
		st.lastFlags |= tcpFlagSimOpen
	case TCPSynRecv:
		if d == DirReply && index == tcpAckSet && st.lastFlags&tcpFlagSimOpen != 0 {
			newState = TCPEstablished
		}
	case TCPClose:
		if index != tcpRstSet {
			break
		}
		if tcpCanEarlyDrop(oldState) {
			goto inWindow
		}
		if st.flags[1-d]&tcpFlagMaxAckSet != 0 && st.lastIndex != tcpSynSet {
			established := oldState == TCPEstablished && status&StatusAssured != 0
			switch {
			case s.seq == 0 && !established:
			case before(s.seq, st.seen[1-d].maxack):
				return tcpResult{v: vInvalid} // RST before what the peer ACKed
			case !established || s.seq == st.seen[1-d].maxack:
			case st.lastIndex == tcpAckSet && st.lastDir == uint8(d) && s.seq == st.lastEnd:
				// RST right after our last data: part of a train.
			default:
				// Not the exact sequence number: keep the state for a
				// possible challenge ACK.
				newState = oldState
			}
		}
		if ((status&StatusSeenReply != 0 && st.lastIndex == tcpSynSet) ||
			(status&StatusAssured == 0 && st.lastIndex == tcpAckSet)) && s.ack == st.lastEnd {
			goto inWindow // RST to a SYN or ACK we let through as ignored
		}
		if oldState == TCPSynSent && st.lastIndex == tcpAckSet && st.lastDir == uint8(DirReply) &&
			s.seq == st.lastAck {
			goto inWindow // RST answering a challenge ACK
		}
	}

	switch t.inWindow(st, d, index, s) {
	case winIgnore:
		return tcpResult{v: vAccept}
	case winInvalid:
		return tcpResult{v: vInvalid, expires: t.tcpHandleInvalid(st, status, d, index, expires, now)}
	}

inWindow:
	st.lastIndex, st.lastDir = uint8(index), uint8(d)
	st.state = uint8(newState)
	if oldState != newState && newState == TCPFinWait {
		st.flags[d] |= tcpFlagCloseInit
	}
	var timeout int64
	switch {
	case int(st.retrans) >= t.maxRetrans && to[newState] > to[tcpTimeoutRetrans]:
		timeout = to[tcpTimeoutRetrans]
	case index == tcpRstSet:
		timeout = to[TCPClose]
	case (st.flags[0]|st.flags[1])&tcpFlagDataUnacked != 0 && to[newState] > to[tcpTimeoutUnack]:
		timeout = to[tcpTimeoutUnack]
	case st.lastWin == 0 && to[newState] > to[tcpTimeoutRetrans]:
		timeout = to[tcpTimeoutRetrans]
	default:
		timeout = to[newState]
	}
	r := tcpResult{v: vAccept, timeout: timeout, changed: oldState != newState}
	if status&StatusSeenReply == 0 {
		if s.has(thRST) {
			// Only a RST came back: there never was a connection.
			r.kill = true
			return r
		}
		if index == tcpSynSet && oldState == TCPSynSent {
			r.timeout = 0 // a retransmitted SYN does not renew the timeout
			return r
		}
		if newState == TCPEstablished && timeout > to[tcpTimeoutUnack] {
			r.timeout = to[tcpTimeoutUnack] // picked up, not answered yet
		}
	} else if status&StatusAssured == 0 && (oldState == TCPSynRecv || oldState == TCPEstablished) &&
		newState == TCPEstablished {
		r.assured = true
	}
	return r
}

// tcpHandleInvalid is nf_tcp_handle_invalid: when an assured entry sees an
// out-of-window FIN or RST answering one from the other side, its timeout is
// cut to the unacknowledged-data timeout, so that a dead connection does not
// linger for days. It returns the new expiry, or 0 to keep it.
func (t *Table) tcpHandleInvalid(st *tcpState, status Status, d Dir, index int, expires, now int64) int64 {
	if status&StatusAssured == 0 || status&StatusFixedTimeout != 0 {
		return 0
	}
	if index != tcpRstSet && index != tcpFinSet {
		return 0
	}
	if st.lastDir != uint8(d) && (st.lastIndex == tcpFinSet || st.lastIndex == tcpRstSet) {
		left := expires - now
		if unack := t.tcpTimeouts[tcpTimeoutUnack]; left >= int64(120e9) && left > unack {
			return now + unack
		}
		return 0
	}
	st.lastIndex, st.lastDir = uint8(index), uint8(d)
	return 0
}

// tcpCanEarlyDrop is tcp_can_early_drop: closing states may be dropped even
// when assured.
func tcpCanEarlyDrop(s TCPState) bool {
	switch s {
	case TCPFinWait, TCPLastAck, TCPTimeWait, TCPClose, TCPCloseWait:
		return true
	}
	return false
}
