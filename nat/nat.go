package nat

import (
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/packet"
)

// Manip is which end of a packet NAT rewrites, with the kernel's values
// (enum nf_nat_manip_type).
type Manip uint8

const (
	ManipSrc Manip = 0 // NF_NAT_MANIP_SRC: at POSTROUTING and INPUT (srcnat, 100)
	ManipDst Manip = 1 // NF_NAT_MANIP_DST: at PREROUTING and OUTPUT (dstnat, -100)
)

func (m Manip) String() string {
	if m == ManipSrc {
		return "src"
	}
	return "dst"
}

// Hook numbers of the kernel's enum nf_inet_hooks, as packet.Packet.Hook
// holds them (the hooks package has the named constants; nat does not
// import it).
const (
	hookInput       = 1
	hookPostrouting = 4
)

// HookManip is the manip a NAT hook does (HOOK2MANIP): source at
// POSTROUTING and INPUT, destination at PREROUTING and OUTPUT.
func HookManip(hook uint8) Manip {
	if hook == hookPostrouting || hook == hookInput {
		return ManipSrc
	}
	return ManipDst
}

// Kind is the kind of a NAT statement. The values are ruleset.NATKind's, so
// the engine converts with a cast.
type Kind uint8

const (
	KindNone       Kind = iota
	KindSNAT            // snat to ADDR[-ADDR][:PORT[-PORT]]
	KindDNAT            // dnat to ADDR[-ADDR][:PORT[-PORT]]
	KindMasquerade      // masquerade [to :PORT[-PORT]]
	KindRedirect        // redirect [to :PORT[-PORT]]
)

var kindNames = [...]string{"none", "snat", "dnat", "masquerade", "redirect"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind?"
}

// Manip is the manip a kind of statement does.
func (k Kind) Manip() Manip {
	if k == KindSNAT || k == KindMasquerade {
		return ManipSrc
	}
	return ManipDst
}

// Flags are the NF_NAT_RANGE_* flags a statement may carry. The values are
// ruleset.NATFlags'.
type Flags uint8

const (
	// FlagRandom (random, NF_NAT_RANGE_PROTO_RANDOM) and FlagFullyRandom
	// (fully-random, NF_NAT_RANGE_PROTO_RANDOM_FULLY) skip keeping the
	// original port and start the port search at a random point. The
	// kernel no longer tells them apart in the search, nor does nfgo.
	FlagRandom Flags = 1 << iota
	FlagFullyRandom
	// FlagPersistent (persistent, NF_NAT_RANGE_PERSISTENT) picks the
	// address of an address range from the client's address alone, so a
	// client keeps one address whatever it talks to.
	FlagPersistent
)

const flagRandomAll = FlagRandom | FlagFullyRandom

// Request is a binding a NAT rule asks for, ruleset.NATRequest plus what
// only the engine knows.
type Request struct {
	Kind Kind
	// AddrMin..AddrMax is the address range (snat, dnat); invalid when the
	// statement names none (then only ports change). AddrMax invalid means
	// AddrMin alone.
	AddrMin, AddrMax netip.Addr
	// PortMin..PortMax is the port (or ICMP identifier) range; both 0 when
	// the statement names none. PortMax 0 means PortMin alone.
	PortMin, PortMax uint16
	Flags            Flags
	// Local is the address masquerade and redirect translate to, which the
	// engine picks: for masquerade, the out interface's address for the
	// packet's next hop (inet_select_addr / ipv6_dev_get_saddr); for
	// redirect, 127.0.0.1 or ::1 at OUTPUT and the in interface's primary
	// address at PREROUTING. Invalid: the interface has none, and the
	// packet is dropped and counted (Stats.NoAddress), as the kernel does.
	Local netip.Addr
}

// Options configure a NAT. The zero value is the kernel's behaviour.
type Options struct {
	// MaxSearch bounds the tuples one binding tries when it has to search
	// for a free port. 0: the whole range, so that every free port is used
	// before a binding fails (the kernel stops after about 250 tries, so
	// a nearly full range can fail while ports are free).
	MaxSearch int
	// BySource is the number of buckets of the cache that maps a client's
	// address and port to the translation its other connections use
	// (nf_nat_bysource), rounded up to a power of two. 0: Max/4 of the
	// conntrack table.
	BySource int
	// Rand returns random numbers for the start of the port search. nil:
	// math/rand/v2 (safe for concurrent use, no allocation).
	Rand func() uint32
	// HashSeed seeds the hashes that pick an address of a range and the
	// bysource bucket. 0: random.
	HashSeed uint64
	// Logger gets control-plane messages (masquerade flushes). Nothing is
	// logged per packet. nil: discard.
	Logger *slog.Logger
}

// NAT keeps SNAT/DNAT/MASQUERADE/REDIRECT bindings on the entries of a
// conntrack table and rewrites packets from them. Its methods are safe for
// concurrent use by the engine's workers.
type NAT struct {
	t     *conntrack.Table
	opts  Options
	rand  func() uint32
	seed  uint64
	log   *slog.Logger
	bysrc bySource
	xl    xlats
	st    [nStats]atomic.Uint64
}

// New makes a NAT over table t.
func New(t *conntrack.Table, opts Options) *NAT {
	n := &NAT{t: t, opts: opts, rand: opts.Rand, seed: opts.HashSeed, log: opts.Logger}
	if n.rand == nil {
		n.rand = rand.Uint32
	}
	if n.seed == 0 {
		n.seed = rand.Uint64() | 1
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	size := opts.BySource
	if size <= 0 {
		size = t.Max() / 4
	}
	n.bysrc.init(size)
	n.xl.init(t.Max())
	return n
}

// Stats are the NAT's counters.
type Stats struct {
	Bindings       uint64 // connections bound by a rule (snat, dnat, masquerade, redirect)
	NullBindings   uint64 // connections bound without a rule (nf_nat_alloc_null_binding)
	Remapped       uint64 // bindings that changed the port (or ICMP id): taken, or out of the rule's range
	Exhausted      uint64 // bindings that found no free tuple in range: packet dropped
	NoAddress      uint64 // masquerade or redirect with no interface address: packet dropped
	BadRequest     uint64 // requests that do not fit the packet (family, hook, bound twice): dropped
	SearchProbes   uint64 // candidate tuples looked up by bindings
	ICMPTranslated uint64 // ICMP errors about a NATed connection rewritten inside and out
	ICMPDropped    uint64 // such errors dropped: bad checksum, broken quote, or a redirect
	OIFChanged     uint64 // masqueraded connections killed as their packet left by another interface
	MasqFlushed    uint64 // masqueraded connections deleted by InterfaceDown and AddressGone
}

const (
	sBindings = iota
	sNullBindings
	sRemapped
	sExhausted
	sNoAddress
	sBadRequest
	sSearchProbes
	sICMPTranslated
	sICMPDropped
	sOIFChanged
	sMasqFlushed
	nStats
)

// Stats returns a copy of the counters.
func (n *NAT) Stats() Stats {
	return Stats{
		Bindings:       n.st[sBindings].Load(),
		NullBindings:   n.st[sNullBindings].Load(),
		Remapped:       n.st[sRemapped].Load(),
		Exhausted:      n.st[sExhausted].Load(),
		NoAddress:      n.st[sNoAddress].Load(),
		BadRequest:     n.st[sBadRequest].Load(),
		SearchProbes:   n.st[sSearchProbes].Load(),
		ICMPTranslated: n.st[sICMPTranslated].Load(),
		ICMPDropped:    n.st[sICMPDropped].Load(),
		OIFChanged:     n.st[sOIFChanged].Load(),
		MasqFlushed:    n.st[sMasqFlushed].Load(),
	}
}

func (n *NAT) count(i int) { n.st[i].Add(1) }

// Status bits nat reads and sets.
const (
	natMask  = conntrack.StatusSrcNAT | conntrack.StatusDstNAT
	doneMask = conntrack.StatusSrcNATDone | conntrack.StatusDstNATDone
)

// natBit is the status bit that says a packet travelling in direction d
// needs manip m (nf_nat_packet: the manip's bit, swapped in the reply
// direction).
func natBit(m Manip, d conntrack.Dir) conntrack.Status {
	b := conntrack.StatusDstNAT
	if m == ManipSrc {
		b = conntrack.StatusSrcNAT
	}
	if d == conntrack.DirReply {
		b ^= natMask
	}
	return b
}

func doneBit(m Manip) conntrack.Status {
	if m == ManipSrc {
		return conntrack.StatusSrcNATDone
	}
	return conntrack.StatusDstNATDone
}

func dirOf(p *packet.Packet) conntrack.Dir {
	if conntrack.CTInfo(p.CTInfo).IsReply() {
		return conntrack.DirReply
	}
	return conntrack.DirOriginal
}
