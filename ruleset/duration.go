package ruleset

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time as nft writes it: 1d2h3m4s500ms.
type Duration time.Duration

// String prints d as nft's time_print does: each non-zero unit from days
// down to milliseconds.
func (d Duration) String() string {
	ms := int64(time.Duration(d) / time.Millisecond)
	if ms <= 0 {
		return "0s"
	}
	var sb strings.Builder
	units := []struct {
		n    int64
		name string
	}{{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}}
	for _, u := range units {
		if v := ms / u.n; v > 0 {
			sb.WriteString(strconv.FormatInt(v, 10) + u.name)
			ms -= v * u.n
		}
	}
	return sb.String()
}

// parseDuration reads nft's time format. A bare number is seconds.
func parseDuration(s string) (Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty time")
	}
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return Duration(time.Duration(n) * time.Second), nil
	}
	var total time.Duration
	rest := s
	last := time.Duration(1 << 62)
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i > 9 {
			return 0, fmt.Errorf("invalid time %q", s)
		}
		n, _ := strconv.ParseInt(rest[:i], 10, 64)
		rest = rest[i:]
		var unit time.Duration
		switch {
		case strings.HasPrefix(rest, "ms"):
			unit, rest = time.Millisecond, rest[2:]
		case strings.HasPrefix(rest, "d"):
			unit, rest = 24*time.Hour, rest[1:]
		case strings.HasPrefix(rest, "h"):
			unit, rest = time.Hour, rest[1:]
		case strings.HasPrefix(rest, "m"):
			unit, rest = time.Minute, rest[1:]
		case strings.HasPrefix(rest, "s"):
			unit, rest = time.Second, rest[1:]
		default:
			return 0, fmt.Errorf("invalid time %q", s)
		}
		if unit >= last {
			return 0, fmt.Errorf("invalid time %q: units out of order", s)
		}
		last = unit
		total += time.Duration(n) * unit
	}
	if total > 1000*24*time.Hour {
		return 0, fmt.Errorf("time %q too large", s)
	}
	return Duration(total), nil
}
