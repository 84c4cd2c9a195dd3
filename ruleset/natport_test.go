package ruleset

import (
	"strings"
	"testing"
)

// TestNATPortNeedsATransportMatch: a NAT statement that maps ports is
// refused unless a match before it in the rule fixes the transport
// protocol. The answers are those of nft 1.0.6 (nft -c) for the same
// rules.
func TestNATPortNeedsATransportMatch(t *testing.T) {
	const refused = "transport protocol mapping is only valid after transport protocol match"
	for _, c := range []struct {
		rule string
		ok   bool
	}{
		{"dnat to 198.18.0.1:80", false},
		{"dnat to 198.18.0.1", true},
		{"tcp dport 80 dnat to 198.18.0.1:8080", true},
		{"tcp dport != 80 dnat to 198.18.0.1:8080", true},
		{"tcp flags syn dnat to 198.18.0.1:80", true},
		{"icmp type echo-request dnat to 198.18.0.1:80", true},
		{"ip saddr . tcp dport { 198.18.0.2 . 80 } dnat to 198.18.0.1:80", true},
		{"meta l4proto tcp dnat to 198.18.0.1:80", true},
		{"meta l4proto { tcp, udp } dnat to 198.18.0.1:80", true},
		{"ip protocol { tcp, udp } dnat to 198.18.0.1:80", true},
		{"meta l4proto tcp ip saddr 198.18.0.2 dnat to 198.18.0.1:80", true},
		{"meta l4proto != tcp dnat to 198.18.0.1:80", false},
		{"meta l4proto @protos dnat to 198.18.0.1:80", false},
		{"th dport 80 dnat to 198.18.0.1:80", false},
		{"meta l4proto . th dport { tcp . 80 } dnat to 198.18.0.1:80", false},
		{"ip saddr 198.18.0.2 dnat to 198.18.0.1 : tcp dport map { 80 : 8080 }", false},
		{"meta l4proto tcp dnat to 198.18.0.1 : tcp dport map { 80 : 8080 }", true},
		{"dnat to tcp dport map { 80 : 198.18.0.1 }", true},
		{"dnat to tcp dport map { 80 : 198.18.0.1 }:8080", true},
		{"dnat to ip saddr map { 198.18.0.2 : 198.18.0.1 }:8080", false},
		{"redirect to :8080", false},
		{"udp dport 53 redirect to :5353", true},
		{"redirect", true},
		{"meta l4proto tcp counter dnat to 198.18.0.1:80", true},
	} {
		src := "table ip t {\n set protos { type inet_proto; elements = { tcp } }\n chain c {\n  type nat hook prerouting priority -100;\n  " +
			c.rule + "\n }\n}\n"
		cmds, err := Parse("t.nft", []byte(src), ParseOptions{})
		if err != nil {
			t.Fatalf("%s: %v", c.rule, err)
		}
		_, err = New(Options{}).Apply(cmds)
		switch {
		case c.ok && err != nil:
			t.Errorf("%s: refused: %v", c.rule, err)
		case !c.ok && err == nil:
			t.Errorf("%s: taken, nft refuses it", c.rule)
		case !c.ok && !strings.Contains(err.Error(), refused):
			t.Errorf("%s: %v, want %q", c.rule, err, refused)
		}
	}
}
