package replay

import (
	"encoding/json"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nfgo/nfgo/cmd/nfgo/internal/pktdesc"
	"github.com/nfgo/nfgo/cmd/nfgo/internal/ruleindex"
	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/engine"
	"github.com/nfgo/nfgo/packet"
)

// record is the JSON line of one input packet of a replay.
type record struct {
	N       int              `json:"n"`    // frame number in its capture, from 1
	Time    time.Time        `json:"time"` // capture time
	Iif     string           `json:"iif"`  // the interface it entered by
	Pkt     *pktdesc.Flow    `json:"pkt"`  // its headers, as it entered; nil when not IP
	Skip    string           `json:"note,omitempty"`
	Hooks   []string         `json:"hooks"` // the hooks it walked, in order
	Rules   []ruleindex.Step `json:"rules"` // each base chain's decision
	Decided *ruleindex.Step  `json:"decided_by,omitempty"`
	Verdict string           `json:"verdict"` // accept, drop, stolen, queue
	Result  string           `json:"result"`  // transmit, deliver, drop, stolen, queue
	Oif     string           `json:"oif,omitempty"`
	Drop    string           `json:"drop_reason,omitempty"`
	Out     *pktdesc.Flow    `json:"out,omitempty"` // headers as it left, when they changed (NAT, TTL aside)
	CT      *ctInfo          `json:"ct,omitempty"`
	NAT     *natInfo         `json:"nat,omitempty"`
	Gen     []genPkt         `json:"generated,omitempty"` // packets the engine sent because of it (ICMP errors, resets, echo replies)

	in    *packet.Packet
	stats engine.Stats
}

// ctInfo is the packet's connection as the tracker saw it.
type ctInfo struct {
	Info     string   `json:"info"` // new, established, related, invalid, untracked; ",reply" in the reply direction
	State    string   `json:"state,omitempty"`
	Status   []string `json:"status,omitempty"`
	Mark     uint32   `json:"mark,omitempty"`
	Timeout  int64    `json:"timeout,omitempty"` // seconds left
	Orig     string   `json:"orig,omitempty"`
	Reply    string   `json:"reply,omitempty"`
	slot     uint32
	captured bool
}

// natInfo is the translation the connection carries, read from its
// conntrack entry (IPS_SRC_NAT, IPS_DST_NAT and the reply tuple).
type natInfo struct {
	SNAT string `json:"snat,omitempty"` // the original source, translated to
	DNAT string `json:"dnat,omitempty"` // the original destination, translated to
}

type genPkt struct {
	Pkt    pktdesc.Flow `json:"pkt"`
	Result string       `json:"result"`
	Oif    string       `json:"oif,omitempty"`
	Drop   string       `json:"drop_reason,omitempty"`
}

// recorder builds records from trace events and writes them.
type recorder struct {
	e     *engine.Engine
	ct    *conntrack.Table
	ix    *ruleindex.Index
	enc   *json.Encoder // nil without --json
	cur   *record
	gen   map[*packet.Packet]int // generated packets of cur, by index in cur.Gen
	total summary
	err   error
}

// summary counts what happened to the replayed packets.
type summary struct {
	Packets, Transmitted, Delivered, Dropped, Other int
	Reasons                                         map[string]int
	Generated                                       int
}

func newRecorder(e *engine.Engine, ct *conntrack.Table, ix *ruleindex.Index, w io.Writer) *recorder {
	r := &recorder{e: e, ct: ct, ix: ix, total: summary{Reasons: map[string]int{}}}
	if w != nil {
		r.enc = json.NewEncoder(w)
	}
	return r
}

// tracer selects every packet: each one's way is recorded.
func (r *recorder) tracer() *engine.Tracer {
	return &engine.Tracer{Select: func(*packet.Packet) bool { return true }, Event: r.event}
}

func (r *recorder) begin(in *replayInput, p *packet.Packet, stamp time.Time) {
	rec := &record{N: in.frames, Time: stamp.UTC(), Iif: in.name, in: p, Hooks: []string{}, Rules: []ruleindex.Step{}}
	var q packet.Packet
	q.Frame = p.Frame
	if q.Parse(packet.LinkRaw) == packet.ReasonNone && (q.Family == packet.FamilyIPv4 || q.Family == packet.FamilyIPv6) {
		f := pktdesc.FlowOf(&q)
		rec.Pkt = &f
	} else if len(p.Frame) == 0 {
		rec.Skip = "not an IP frame" + etherTypeNote(in.scratch[0].Frame)
	}
	rec.stats = r.e.Stats()
	r.cur, r.gen = rec, map[*packet.Packet]int{}
}

func etherTypeNote(f []byte) string {
	if len(f) < 14 {
		return ""
	}
	return " (ethertype 0x" + strconv.FormatUint(uint64(f[12])<<8|uint64(f[13]), 16) + ")"
}

// event is the tracer's callback, on the worker carrying the packet.
func (r *recorder) event(ev *engine.TraceEvent) {
	rec := r.cur
	if rec == nil {
		return
	}
	if ev.Packet != rec.in {
		r.genEvent(rec, ev)
		return
	}
	switch ev.Kind {
	case engine.TraceHook:
		rec.Hooks = append(rec.Hooks, ev.Hook.String())
	case engine.TraceRule:
		st := r.ix.Step(ev)
		rec.Rules = append(rec.Rules, st)
		if st.Decides(rec.Decided) {
			rec.Decided = &st
		}
	case engine.TraceTransmit:
		rec.Result, rec.Verdict, rec.Oif = "transmit", "accept", r.e.IfName(ev.Packet.OutIf)
		if rec.Pkt != nil {
			out := pktdesc.FlowOf(ev.Packet)
			if out.Src != rec.Pkt.Src || out.Dst != rec.Pkt.Dst || out.Sport != rec.Pkt.Sport || out.Dport != rec.Pkt.Dport {
				rec.Out = &out
			}
		}
	case engine.TraceDeliver:
		rec.Result, rec.Verdict = "deliver", "accept"
	case engine.TraceDrop:
		rec.Result, rec.Verdict, rec.Drop = "drop", "drop", ev.Reason.String()
	case engine.TraceStolen:
		rec.Result, rec.Verdict = "stolen", "stolen"
	case engine.TraceQueue:
		rec.Result, rec.Verdict = "queue", "queue"
	case engine.TraceAnswered, engine.TraceHeld, engine.TraceNeighWait:
		rec.Result, rec.Verdict = ev.Kind.String(), "accept"
	}
	if ev.Kind != engine.TraceHook && ev.Kind != engine.TraceRule {
		r.captureCT(rec, ev.Packet)
	}
}

// captureCT notes the packet's connection while the packet is at hand.
func (r *recorder) captureCT(rec *record, p *packet.Packet) {
	if r.ct == nil || rec.CT != nil && rec.CT.captured {
		return
	}
	info := conntrack.CTInfo(p.CTInfo)
	rec.CT = &ctInfo{Info: info.String(), slot: p.CT, captured: true}
}

func (r *recorder) genEvent(rec *record, ev *engine.TraceEvent) {
	i, ok := r.gen[ev.Packet]
	if !ok {
		if ev.Kind != engine.TraceHook {
			return
		}
		rec.Gen = append(rec.Gen, genPkt{Pkt: pktdesc.FlowOf(ev.Packet)})
		i = len(rec.Gen) - 1
		r.gen[ev.Packet] = i
	}
	g := &rec.Gen[i]
	switch ev.Kind {
	case engine.TraceTransmit:
		g.Result, g.Oif = "transmit", r.e.IfName(ev.Packet.OutIf)
	case engine.TraceDeliver:
		g.Result = "deliver"
	case engine.TraceDrop:
		g.Result, g.Drop = "drop", ev.Reason.String()
	}
}

// finish completes the record of the packet whose way has ended.
func (r *recorder) finish() {
	rec := r.cur
	r.cur = nil
	if rec == nil {
		return
	}
	after := r.e.Stats()
	if rec.Result == "" {
		// No end event: dropped before the tracer saw it.
		rec.Result, rec.Verdict = "drop", "drop"
		for i := range after.Drops {
			if rec.Skip != "" {
				rec.Drop = engine.DropNotIP.String()
				break
			}
			if after.Drops[i] > rec.stats.Drops[i] {
				rec.Drop = engine.DropReason(i).String()
			}
		}
		for i := range after.Malformed {
			if after.Malformed[i] > rec.stats.Malformed[i] && rec.Skip == "" {
				rec.Drop += " (" + packet.Reason(i).String() + ")"
			}
		}
	}
	if rec.CT != nil && rec.CT.slot != 0 {
		r.fillCT(rec)
	}
	r.total.Packets++
	switch rec.Result {
	case "transmit":
		r.total.Transmitted++
	case "deliver":
		r.total.Delivered++
	case "drop":
		r.total.Dropped++
		r.total.Reasons[rec.Drop]++
	default:
		r.total.Other++
	}
	r.total.Generated += len(rec.Gen)
	if r.enc != nil && r.err == nil {
		r.err = r.enc.Encode(rec)
	}
}

// fillCT reads the packet's conntrack entry after its way.
func (r *recorder) fillCT(rec *record) {
	x, ok := r.ct.Entry(rec.CT.slot)
	if !ok {
		return
	}
	c := rec.CT
	if x.Orig.Proto == packet.ProtoTCP {
		c.State = x.TCPState.String()
	}
	c.Status = statusNames(x.Status)
	c.Mark = x.Mark
	c.Timeout = int64(x.Timeout / time.Second)
	c.Orig, c.Reply = x.Orig.String(), x.Reply.String()
	if x.Status&(conntrack.StatusSrcNAT|conntrack.StatusDstNAT) != 0 {
		rec.NAT = natOf(&x)
	}
}

// natOf reads a connection's translation from its tuples: the reply
// tuple's destination is where replies go (the source after SNAT), its
// source where they come from (the destination after DNAT).
func natOf(x *conntrack.Entry) *natInfo {
	n := &natInfo{}
	hasPorts := x.Orig.Proto == packet.ProtoTCP || x.Orig.Proto == packet.ProtoUDP
	ap := func(a netip.Addr, port uint16) string {
		if hasPorts {
			return netip.AddrPortFrom(a, port).String()
		}
		return a.String()
	}
	if x.Status&conntrack.StatusSrcNAT != 0 {
		n.SNAT = ap(x.Orig.SrcAddr(), x.Orig.SrcPort) + " -> " + ap(x.Reply.DstAddr(), x.Reply.DstPort)
	}
	if x.Status&conntrack.StatusDstNAT != 0 {
		n.DNAT = ap(x.Orig.DstAddr(), x.Orig.DstPort) + " -> " + ap(x.Reply.SrcAddr(), x.Reply.SrcPort)
	}
	return n
}

// statusNames names the status bits as the kernel's IPS_* without the
// prefix.
func statusNames(s conntrack.Status) []string {
	names := map[conntrack.Status]string{
		conntrack.StatusExpected: "EXPECTED", conntrack.StatusSeenReply: "SEEN_REPLY", conntrack.StatusAssured: "ASSURED",
		conntrack.StatusConfirmed: "CONFIRMED", conntrack.StatusSrcNAT: "SRC_NAT", conntrack.StatusDstNAT: "DST_NAT",
		conntrack.StatusSeqAdjust: "SEQ_ADJUST", conntrack.StatusSrcNATDone: "SRC_NAT_DONE", conntrack.StatusDstNATDone: "DST_NAT_DONE",
		conntrack.StatusDying: "DYING", conntrack.StatusFixedTimeout: "FIXED_TIMEOUT", conntrack.StatusNATClash: "NAT_CLASH",
	}
	var out []string
	for bit, n := range names {
		if s&bit != 0 {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return statusOrder(out[i]) < statusOrder(out[j]) })
	return out
}

func statusOrder(n string) int {
	return strings.Index("EXPECTED SEEN_REPLY ASSURED CONFIRMED SRC_NAT DST_NAT SEQ_ADJUST SRC_NAT_DONE DST_NAT_DONE DYING FIXED_TIMEOUT NAT_CLASH", n)
}
