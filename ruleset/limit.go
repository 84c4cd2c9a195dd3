package ruleset

import (
	"strconv"
	"strings"
	"sync"
)

// Limit matches while the rate of packets (or bytes) that reach it stays
// under Rate per Unit, with Burst extra; with Over it matches the excess.
type Limit struct {
	Rate  uint64 // packets, or bytes with Bytes, per Unit
	Unit  LimitUnit
	Burst uint32 // packets (default 5), or bytes
	Over  bool
	Bytes bool

	state *limitState
}

// LimitUnit is the period of a limit rate.
type LimitUnit uint8

const (
	LimitSecond LimitUnit = iota
	LimitMinute
	LimitHour
	LimitDay
	LimitWeek
)

var limitUnits = [...]struct {
	name string
	secs uint64
}{{"second", 1}, {"minute", 60}, {"hour", 3600}, {"day", 86400}, {"week", 604800}}

func (u LimitUnit) String() string { return limitUnits[u].name }

// limitBurstDefault is NFT_LIMIT_PKT_BURST_DEFAULT.
const limitBurstDefault = 5

// limitState is the token bucket of nft_limit: tokens are nanoseconds of
// credit, a packet costs period/rate of them.
type limitState struct {
	mu        sync.Mutex
	tokens    int64
	tokensMax int64
	last      int64
	cost      int64 // per packet; per byte scaled by rate for byte limits
	nsecs     int64
}

func newLimitState(l *Limit, now int64) *limitState {
	nsecs := int64(limitUnits[l.Unit].secs) * 1e9
	s := &limitState{nsecs: nsecs, last: now}
	rate := int64(l.Rate)
	if rate <= 0 {
		rate = 1
	}
	if l.Bytes {
		// as nft_limit_init for byte limits
		s.tokens = nsecs / rate * (rate + int64(l.Burst))
	} else {
		burst := int64(l.Burst)
		if burst == 0 {
			burst = limitBurstDefault
		}
		s.cost = nsecs / rate
		s.tokens = s.cost * burst
	}
	s.tokensMax = s.tokens
	return s
}

func (*Limit) stmtNode() {}

func (l *Limit) write(sb *strings.Builder) {
	sb.WriteString("limit rate ")
	if l.Over {
		sb.WriteString("over ")
	}
	if !l.Bytes {
		sb.WriteString(strconv.FormatUint(l.Rate, 10) + "/" + l.Unit.String())
		if l.Burst != 0 && l.Burst != limitBurstDefault {
			sb.WriteString(" burst " + strconv.FormatUint(uint64(l.Burst), 10) + " packets")
		}
		return
	}
	r, u := byteUnit(l.Rate)
	sb.WriteString(strconv.FormatUint(r, 10) + " " + u + "/" + l.Unit.String())
	if l.Burst != 0 {
		r, u := byteUnit(uint64(l.Burst))
		sb.WriteString(" burst " + strconv.FormatUint(r, 10) + " " + u)
	}
}

// byteUnit writes a byte count in the largest unit that divides it, as
// nft's get_rate.
func byteUnit(v uint64) (uint64, string) {
	units := []string{"bytes", "kbytes", "mbytes"}
	i := 0
	for i < len(units)-1 && v != 0 && v%1024 == 0 {
		v /= 1024
		i++
	}
	return v, units[i]
}

// eval is nft_limit_eval: refill by the time passed, spend the cost.
func (l *Limit) eval(c *evalCtx) bool {
	s := l.state
	cost := s.cost
	if l.Bytes {
		cost = s.nsecs * int64(c.p.Len()) / int64(max(l.Rate, 1))
	}
	s.mu.Lock()
	tokens := s.tokens + c.now - s.last
	if tokens > s.tokensMax {
		tokens = s.tokensMax
	}
	s.last = c.now
	under := tokens-cost >= 0
	if under {
		s.tokens = tokens - cost
	} else {
		s.tokens = tokens
	}
	s.mu.Unlock()
	return under != l.Over
}
