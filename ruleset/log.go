package ruleset

import (
	"context"
	"log/slog"
	"strings"
	"sync"

	"github.com/nfgo/nfgo/packet"
)

// LogLevel is a syslog level of the log statement.
type LogLevel uint8

var logLevelNames = [...]string{"emerg", "alert", "crit", "err", "warn", "notice", "info", "debug", "audit"}

// LogWarn is the default level, which nft does not print.
const LogWarn LogLevel = 4

func (l LogLevel) String() string { return logLevelNames[l] }

func (l LogLevel) slog() slog.Level {
	switch {
	case l <= 3:
		return slog.LevelError
	case l == 4:
		return slog.LevelWarn
	case l == 7:
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// Log writes a line about the packet to the ruleset's logger
// (Options.Logger), rate limited as the kernel's net_ratelimit.
type Log struct {
	Prefix string
	Level  LogLevel
}

func (*Log) stmtNode() {}

func (l *Log) write(sb *strings.Builder) {
	sb.WriteString("log")
	if l.Prefix != "" {
		sb.WriteString(` prefix "` + l.Prefix + `"`)
	}
	if l.Level != LogWarn {
		sb.WriteString(" level " + l.Level.String())
	}
}

func (l *Log) eval(c *evalCtx) bool {
	lg := c.rs.opts.Logger
	if lg == nil || !c.rs.shared.logLimit.allow(c.now) {
		return true
	}
	p := c.p
	attrs := []slog.Attr{slog.String("prefix", l.Prefix)}
	if c.env != nil {
		attrs = append(attrs, slog.String("in", c.env.IfName(p.InIf)), slog.String("out", c.env.IfName(p.OutIf)))
	}
	if src, ok := packetAddr(p, true); ok {
		dst, _ := packetAddr(p, false)
		attrs = append(attrs, slog.String("src", src.String()), slog.String("dst", dst.String()),
			slog.Int("len", p.Len()), slog.Int("proto", int(p.Proto)))
		if p.Proto == protoTCP || p.Proto == protoUDP {
			attrs = append(attrs, slog.Int("spt", int(p.SrcPort)), slog.Int("dpt", int(p.DstPort)))
		}
	}
	attrs = append(attrs, slog.Uint64("mark", uint64(p.Mark)))
	lg.LogAttrs(context.Background(), l.Level.slog(), "nft log", attrs...)
	return true
}

// logLimiter is net_ratelimit: a burst of 10 messages, then one every
// 5 seconds / 10.
type logLimiter struct {
	mu     sync.Mutex
	tokens int64
	last   int64
	missed uint64
}

const (
	logBurst    = 10
	logInterval = 5e9
)

func (l *logLimiter) allow(now int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	cost := int64(logInterval / logBurst)
	if l.last == 0 {
		l.tokens = cost * logBurst
	} else {
		l.tokens = min(l.tokens+now-l.last, cost*logBurst)
	}
	l.last = now
	if l.tokens >= cost {
		l.tokens -= cost
		return true
	}
	l.missed++
	return false
}

// Notrack exempts the packet from connection tracking.
type Notrack struct{}

func (*Notrack) stmtNode() {}

func (*Notrack) write(sb *strings.Builder) { sb.WriteString("notrack") }

// eval marks the packet untracked, unless conntrack has seen it already
// (nft_notrack_eval): at the hooks after conntrack's, a tracked packet
// keeps its entry.
func (*Notrack) eval(c *evalCtx) bool {
	if c.p.CT != 0 || c.p.CTInfo == uint8(ctInfoUntracked) {
		return true
	}
	c.p.Flags |= packet.FlagNoTrack
	c.p.CTInfo = uint8(ctInfoUntracked)
	return true
}
