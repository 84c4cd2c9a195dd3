package ruleset

import (
	"errors"
	"testing"
)

// TestErrors pins the exact message, with file:line:col, of rulesets that
// are refused, by the parser or by the transaction.
func TestErrors(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		{"unknown command", "frobnicate table ip t",
			`in.nft:1:1: syntax error, unexpected "frobnicate", expecting command`},
		{"quoted table name", "table ip \"t\" {\n}",
			`in.nft:1:10: syntax error, unexpected string "t", expecting table name`},
		{"quoted chain name", "table ip t {\n chain \"my chain\" {\n }\n}",
			`in.nft:2:8: syntax error, unexpected string "my chain", expecting chain name`},
		{"two transport protocols", "table ip t {\n chain c {\n  tcp dport 22 udp dport 53 accept\n }\n}",
			`in.nft:3:3: conflicting protocols specified: tcp vs. udp`},
		{"tcp reset of udp", "table inet t {\n chain c {\n  udp dport 53 reject with tcp reset\n }\n}",
			`in.nft:3:3: you cannot use tcp reset with this protocol`},
		{"icmpx in an ip table", "table ip t {\n chain c {\n  reject with icmpx type port-unreachable\n }\n}",
			`in.nft:3:15: abstracted ICMP unreachable not supported`},
		{"inet nat address of no family", "table inet t {\n chain c {\n  type nat hook prerouting priority -100;\n  dnat to 198.18.0.1\n }\n}",
			`in.nft:4:3: ip or ip6 must be specified with address for inet tables.`},
		{"masquerade at input", "table ip t {\n chain c {\n  type nat hook input priority 100;\n  masquerade\n }\n}",
			`in.nft:4:3: masquerade is only valid in nat chains at postrouting (reached from chain c at input)`},
		{"nat chain before conntrack", "table ip t {\n chain c {\n  type nat hook output priority raw;\n }\n}",
			`in.nft:2:8: chain c: a nat chain's priority must be above conntrack's (-200), not -300`},
		{"constant set with timeouts", "table ip t {\n set s { type ipv4_addr; flags constant,timeout; }\n}",
			`in.nft:2:6: set s: flags constant and timeout cannot go together`},
		{"unterminated string", "add table ip t\nadd rule ip t c iifname \"eth0",
			`in.nft:2:25: syntax error, unterminated string`},
		{"port that is not a number", "add rule ip t c tcp dport 1.2.3.4 accept",
			`in.nft:1:27: invalid inet_service value "1.2.3.4": not a number`},
		{"port out of range", "add rule ip t c tcp dport 70000",
			`in.nft:1:27: invalid inet_service value "70000": value exceeds 16 bits`},
		{"address of the wrong family", "add rule ip t c ip saddr 2001:db8::1",
			`in.nft:1:26: invalid ipv4_addr "2001:db8::1"`},
		{"unknown field", "add rule ip t c tcp port 22",
			`in.nft:1:21: syntax error, unexpected "port", expecting tcp field`},
		{"unknown symbol", "add rule ip t c ct state establishd",
			`in.nft:1:26: "establishd" is not a valid ct_state`},
		{"missing brace", "table ip t {\n chain c {\n accept\n",
			`in.nft:4:1: syntax error, unexpected end of file, expecting '}'`},
		{"statement after a verdict", "add rule ip t c accept counter",
			`in.nft:1:24: statement after accept has no effect`},
		{"unknown variable", "add rule ip t c tcp dport $PORTS accept",
			`in.nft:1:27: unknown identifier 'PORTS'`},
		{"bad priority name", "table ip t {\n chain c { type filter hook input priority dstnat; }\n}",
			`in.nft:2:44: 'dstnat' is not a valid priority in this family and hook`},
		{"overlapping intervals", "add rule ip t c tcp dport { 1-10, 5-20 }",
			`in.nft:1:27: conflicting intervals specified: 1-10 and 5-20`},
		{"range upside down", "add rule ip t c tcp dport 20-10",
			`in.nft:1:27: invalid range 20-10: start is above end`},
		{"interval element without the flag", "table ip t {\n set s { type ipv4_addr; elements = { 10.0.0.0/8 } }\n}",
			`in.nft:2:6: set s: element 10.0.0.0/8 is an interval, but the set does not have the interval flag`},
		{"jump to a missing chain", "table ip t {\n chain c {\n  jump nowhere\n }\n}",
			`in.nft:3:3: jump to chain nowhere, which does not exist in table ip t`},
		{"jump loop", "table ip t {\n chain a {\n  jump b\n }\n chain b {\n  goto a\n }\n}",
			`in.nft:6:3: chain loop: a -> b -> a`},
		{"missing set", "table ip t {\n chain c {\n  ip saddr @nope drop\n }\n}",
			`in.nft:3:12: set nope does not exist in table ip t`},
		{"set of the wrong type", "table ip t {\n set s { type ipv4_addr; }\n chain c {\n  tcp dport @s drop\n }\n}",
			`in.nft:4:13: datatype mismatch: @s has type ipv4_addr, expression has type inet_service`},
		{"ip6 match in an ip table", "table ip t {\n chain c {\n  ip6 saddr ::1 drop\n }\n}",
			`in.nft:3:3: conflicting protocols specified: ip vs. ip6`},
		{"nat chain at forward", "table ip t {\n chain c { type nat hook forward priority 0; }\n}",
			`in.nft:2:8: chain c: type nat is not valid at hook forward`},
		{"route chain at input", "table ip t {\n chain c { type route hook input priority 0; }\n}",
			`in.nft:2:8: chain c: type route is only valid at hook output`},
		{"netdev chain without device", "table netdev t {\n chain c { type filter hook ingress priority 0; }\n}",
			`in.nft:2:8: chain c: a netdev ingress chain needs a device`},
		{"netdev chain at input", "table netdev t {\n chain c { type filter hook input device \"eth0\" priority 0; }\n}",
			`in.nft:2:8: chain c: hook input is not valid in a netdev table; use ingress`},
		{"snat in a filter chain", "table ip t {\n chain c { type filter hook postrouting priority 0; }\n chain c2 { type filter hook input priority 0;\n  jump sub }\n chain sub {\n  snat to 1.2.3.4\n }\n}",
			`in.nft:6:3: snat is only valid in nat chains at postrouting or input (reached from chain sub at input)`},
		{"dnat at postrouting", "table ip t {\n chain c { type nat hook postrouting priority srcnat;\n  dnat to 1.2.3.4\n }\n}",
			`in.nft:3:3: dnat is only valid in nat chains at prerouting or output (reached from chain c at postrouting)`},
		{"rule in a missing chain", "add table ip t\nadd rule ip t c accept",
			`in.nft:2:1: chain ip t c does not exist`},
		{"missing table", "add chain ip t c",
			`in.nft:1:1: table ip t does not exist`},
		{"create an existing table", "add table ip t\ncreate table ip t",
			`in.nft:2:1: table ip t already exists`},
		{"delete a missing rule", "add table ip t\nadd chain ip t c\ndelete rule ip t c handle 9",
			`in.nft:3:1: rule handle 9 does not exist in chain c`},
		{"timeout on a set without the flag", "table ip t {\n set s { type ipv4_addr; elements = { 1.2.3.4 timeout 1s } }\n}",
			`in.nft:2:6: set s does not have the timeout flag`},
		{"adding to a constant set", "table ip t {\n set s { type ipv4_addr; flags constant; elements = { 1.2.3.4 } }\n}\nadd element ip t s { 1.2.3.5 }",
			`in.nft:4:1: set s is constant`},
		{"element of the wrong type", "table ip t {\n set s { type inet_service; }\n}\nadd element ip t s { 1.2.3.4 }",
			`in.nft:4:22: invalid inet_service value "1.2.3.4": not a number`},
		{"policy in a regular chain", "table ip t {\n chain c { policy drop; }\n}",
			`in.nft:2:12: policy is only valid in a base chain`},
		{"jump to a base chain", "table ip t {\n chain b { type filter hook input priority 0; }\n chain c {\n  jump b\n }\n}",
			`in.nft:4:3: jump to base chain b is not allowed`},
		{"missing named counter", "table ip t {\n chain c {\n  counter name nope\n }\n}",
			`in.nft:3:3: counter nope does not exist in table ip t`},
		{"vmap on a plain set", "table ip t {\n set s { type inet_service; }\n chain c {\n  tcp dport vmap @s\n }\n}",
			`in.nft:4:18: @s is a set, not a map`},
		{"less-than on a set", "add rule ip t c tcp dport < { 1, 2 }",
			`in.nft:1:27: operator < needs a single value`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmds, err := Parse("in.nft", []byte(tc.src), ParseOptions{})
			if err == nil {
				_, err = New(Options{}).Apply(cmds)
			}
			if err == nil {
				t.Fatalf("accepted, want %q", tc.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("error %T is not an *Error", err)
			}
			if err.Error() != tc.want {
				t.Errorf("got  %s\nwant %s", err, tc.want)
			}
		})
	}
}
