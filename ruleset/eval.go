package ruleset

import (
	"net/netip"
	"sync"

	"github.com/nfgo/nfgo/packet"
	"github.com/nfgo/nfgo/ruleset/internal/classify"
)

// Env is what the evaluator needs from the engine around it. The engine
// implements it once; it must be safe for concurrent use by workers.
type Env interface {
	// IfName is the name of the interface with this index ("" if none).
	IfName(index uint32) string
	// AddrType says whether addr is an address of this host or the
	// broadcast address of one of its IPv4 subnets (fib daddr type), in
	// one lookup.
	AddrType(addr netip.Addr) AddrType
	ConnInfo
}

// AddrType is what the host's routing says of an address, as far as
// the fib expression's type needs.
type AddrType uint8

const (
	AddrOther     AddrType = iota // none of the others: unicast, multicast, or nothing
	AddrLocal                     // an address of this host
	AddrBroadcast                 // the broadcast address of one of this host's IPv4 subnets
)

// ConnInfo is the little of the connection tracker the rules read and
// write. slot is packet.Packet.CT, never 0 when called.
type ConnInfo interface {
	CTMark(slot uint32) uint32
	SetCTMark(slot, mark uint32)
	CTStatus(slot uint32) uint32 // IPS_* bits: expected 1, seen-reply 2, assured 4, confirmed 8, snat 16, dnat 32, dying 512
	// CTID is an identity of the entry now in slot that is not reused
	// while the entry lives; 0 when the slot holds no live entry. ct count
	// uses it to forget connections that have gone.
	CTID(slot uint32) uint64
}

// NFVerdict is a base chain's verdict on a packet, with the kernel's NF_*
// values.
type NFVerdict uint8

const (
	NFDrop   NFVerdict = 0 // NF_DROP
	NFAccept NFVerdict = 1 // NF_ACCEPT
	NFStolen NFVerdict = 2 // NF_STOLEN
	NFQueue  NFVerdict = 3 // NF_QUEUE
)

func (v NFVerdict) String() string {
	switch v {
	case NFDrop:
		return "drop"
	case NFAccept:
		return "accept"
	case NFStolen:
		return "stolen"
	case NFQueue:
		return "queue"
	}
	return "verdict?"
}

// Result is what one base chain decided about a packet, and what the
// engine must do that the rules do not do themselves.
type Result struct {
	Verdict NFVerdict

	// Queue: with NFQueue, the queue number and whether to accept the
	// packet when no one listens on it.
	QueueNum    uint16
	QueueBypass bool

	// Reject: with NFDrop, the reply the engine sends first.
	Reject     RejectKind
	RejectCode uint8 // ICMP, ICMPv6 or ICMPX code

	// NAT: with NFAccept, the binding the engine asks the NAT package for.
	NAT NATRequest

	// What decided: the rule (Handle != 0) or the chain's policy.
	Table  string
	Chain  string
	Handle uint64
	Policy bool
}

// vcode is a verdict inside the evaluator.
type vcode uint8

const (
	vNone     vcode = iota // no verdict: next statement, next rule
	vContinue              // continue: next rule
	vAccept
	vDrop
	vQueue
	vJump
	vGoto
	vReturn
)

// maxJumpDepth is the kernel's NFT_JUMP_STACK_SIZE.
const maxJumpDepth = 16

type evalCtx struct {
	rs     *Ruleset
	table  *tableIndex
	p      *packet.Packet
	env    Env
	now    int64
	res    *Result // points at result
	result Result
	rule   *Rule
	chain  string
	v      vcode
	target string
	kbuf   [64]byte
	vbuf   [16]byte

	// The compiled path's key: selector values loaded since the packet
	// last changed, and the key of the chain keyFor built from them.
	selOK  uint64 // loaded
	selHas uint64 // loaded, and the packet has it
	keyFor *chainProg
	key    classify.Key
	selVal [numSels][16]byte
}

// start readies a context for a packet.
func (c *evalCtx) start(rs *Ruleset, t *tableIndex, p *packet.Packet, env Env) {
	c.rs, c.table, c.p, c.env, c.now = rs, t, p, env, rs.now()
	c.result = Result{}
	c.res = &c.result
	c.rule, c.chain, c.v, c.target = nil, "", vNone, ""
	c.selOK, c.selHas, c.keyFor = 0, 0, nil
}

// reset drops the references a pooled context holds; the value arrays
// are not cleared, as start marks them all stale.
func (c *evalCtx) reset() {
	c.rs, c.table, c.p, c.env, c.res, c.rule, c.keyFor = nil, nil, nil, nil, nil, nil, nil
	c.result = Result{}
	c.chain, c.target = "", ""
}

// EvalReference runs base chain number chain (an index into BaseChains)
// over p the straightforward way: the rules in order, the first verdict
// wins; jump and goto with a return stack; the policy when the base chain
// runs out. Statements that change the packet's metadata (meta mark set,
// ct mark set, notrack) take effect on p at once.
//
// It is the reference that Eval, which asks the compiled matchers for the
// next rule that can match, must agree with.
func (rs *Ruleset) EvalReference(chain int, p *packet.Packet, env Env) Result {
	// The context escapes through the statements' interface methods; a
	// pool keeps the packet path free of allocations.
	c := ctxPool.Get().(*evalCtx)
	res := rs.evalLinear(c, chain, p, env)
	c.reset()
	ctxPool.Put(c)
	return res
}

var ctxPool = sync.Pool{New: func() any { return new(evalCtx) }}

func (rs *Ruleset) evalLinear(c *evalCtx, chain int, p *packet.Packet, env Env) Result {
	b := rs.base[chain]
	c.start(rs, b.table, p, env)
	res := c.res
	type frame struct {
		ch *Chain
		i  int
	}
	var stack [maxJumpDepth]frame
	depth := 0
	ch, i := b.chain, 0
	for {
		if i >= len(ch.Rules) {
			if depth == 0 {
				break
			}
			depth--
			ch, i = stack[depth].ch, stack[depth].i
			continue
		}
		r := ch.Rules[i]
		i++
		c.v, c.rule, c.chain = vNone, r, ch.Name
		for _, s := range r.Stmts {
			if !s.eval(c) {
				break
			}
		}
		switch st, next := c.verdict(b, ch, r, res, depth); st {
		case stepDone:
			return *res
		case stepJump:
			stack[depth] = frame{ch, i}
			depth++
			ch, i = next, 0
		case stepGoto:
			ch, i = next, 0
		case stepReturn:
			if depth == 0 {
				i = len(ch.Rules)
				continue
			}
			depth--
			ch, i = stack[depth].ch, stack[depth].i
		}
	}
	return b.policy()
}

// policy is the result of base chain b run out: its policy decides.
func (b baseRef) policy() Result {
	out := Result{Table: b.table.t.Name, Chain: b.chain.Name, Policy: true}
	if b.chain.Base.Policy == PolicyDrop {
		out.Verdict = NFDrop
	} else {
		out.Verdict = NFAccept
	}
	return out
}

// step is what a chain walk does after a rule.
type step uint8

const (
	stepNext   step = iota // on with the next rule
	stepDone               // res holds the verdict
	stepJump               // into chain next, coming back
	stepGoto               // into chain next, not coming back
	stepReturn             // back to the chain that jumped here
)

// finalVerdict is the netfilter verdict of the verdicts that end a walk.
var finalVerdict = [...]NFVerdict{vAccept: NFAccept, vDrop: NFDrop, vQueue: NFQueue}

// verdict turns what rule r of chain ch ended with (c.v) into the walk's
// next step, for both walks (EvalReference and Eval), at jump depth depth
// under base chain b. A broken jump target (validation forbids it) and a
// jump past maxJumpDepth drop, as the kernel does.
func (c *evalCtx) verdict(b baseRef, ch *Chain, r *Rule, res *Result, depth int) (step, *Chain) {
	switch c.v {
	case vAccept, vDrop, vQueue:
		res.Verdict = finalVerdict[c.v]
		res.Table, res.Chain, res.Handle = b.table.t.Name, ch.Name, r.Handle
		return stepDone, nil
	case vJump, vGoto:
		next := b.table.chain(c.target)
		if next == nil || c.v == vJump && depth == maxJumpDepth {
			res.Verdict, res.Table, res.Chain, res.Handle = NFDrop, b.table.t.Name, ch.Name, r.Handle
			return stepDone, nil
		}
		if c.v == vJump {
			return stepJump, next
		}
		return stepGoto, next
	case vReturn:
		return stepReturn, nil
	}
	return stepNext, nil // vNone, vContinue
}
