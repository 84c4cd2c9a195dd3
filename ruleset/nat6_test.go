package ruleset

import (
	"strings"
	"testing"
)

func TestDNATToBracketedIPv6WithPort(t *testing.T) {
	for _, src := range []string{
		"table ip6 nat { chain pre { type nat hook prerouting priority dstnat; tcp dport 8080 dnat to [2001:db8::2]:80 } }",
		"table ip6 nat { chain pre { type nat hook prerouting priority dstnat; tcp dport 8080 dnat to [2001:db8::2]: 80 } }",
	} {
		cmds, err := Parse("t.nft", []byte(src), ParseOptions{})
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		rs, err := New(Options{}).Apply(cmds)
		if err != nil {
			t.Fatal(err)
		}
		if out := rs.String(); !strings.Contains(out, "dnat to [2001:db8::2]:80") {
			t.Fatalf("printed as\n%s", out)
		}
	}
}
