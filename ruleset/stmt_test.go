package ruleset

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/packet"
)

func inputChain(policy string, body ...string) string {
	return "table ip t {\n\tchain c {\n\t\ttype filter hook input priority 0; policy " + policy + ";\n\t\t" +
		strings.Join(body, "\n\t\t") + "\n\t}\n" + "}\n"
}

func TestTraversal(t *testing.T) {
	cases := []struct {
		name        string
		src         string
		want        NFVerdict
		chain       string
		handle      uint64
		policy      bool
		frame       []byte
		description string
	}{
		{name: "policy accept when nothing matches", src: inputChain("accept", "tcp dport 80 drop"), want: NFAccept, chain: "c", policy: true},
		{name: "policy drop when nothing matches", src: inputChain("drop", "tcp dport 80 accept"), want: NFDrop, chain: "c", policy: true},
		{name: "first matching rule wins", src: inputChain("drop", "tcp dport 22 accept", "tcp dport 22 drop"), want: NFAccept, chain: "c", handle: 2},
		{name: "continue goes on to the next rule", src: inputChain("drop", "tcp dport 22 continue", "accept"), want: NFAccept, handle: 3, chain: "c"},
		{name: "return in a base chain applies the policy", src: inputChain("drop", "return", "accept"), want: NFDrop, chain: "c", policy: true},
		{name: "jump returns to the rule after the jump",
			src:  "table ip t {\n chain c { type filter hook input priority 0; policy drop;\n jump sub\n accept\n }\n chain sub { tcp dport 80 drop\n }\n}\n",
			want: NFAccept, chain: "c", handle: 4},
		{name: "a verdict in the jumped-to chain ends evaluation",
			src:  "table ip t {\n chain c { type filter hook input priority 0; policy accept;\n jump sub\n accept\n }\n chain sub { tcp dport 22 drop\n }\n}\n",
			want: NFDrop, chain: "sub", handle: 5},
		{name: "return in a regular chain goes back",
			src:  "table ip t {\n chain c { type filter hook input priority 0; policy accept;\n jump sub\n drop\n }\n chain sub { return\n accept\n }\n}\n",
			want: NFDrop, chain: "c", handle: 4},
		{name: "goto does not come back: the end of the chain is the policy",
			src:  "table ip t {\n chain c { type filter hook input priority 0; policy drop;\n goto sub\n accept\n }\n chain sub { tcp dport 80 accept\n }\n}\n",
			want: NFDrop, chain: "c", policy: true},
		{name: "goto from a jumped chain returns to the jumper",
			src:  "table ip t {\n chain c { type filter hook input priority 0; policy drop;\n jump a\n accept\n }\n chain a { goto b\n drop\n }\n chain b { counter\n }\n}\n",
			want: NFAccept, chain: "c", handle: 5},
		{name: "verdict map jumps",
			src:  "table ip t {\n chain c { type filter hook input priority 0; policy accept;\n tcp dport vmap { 22 : jump ssh, 80 : accept }\n }\n chain ssh { drop\n }\n}\n",
			want: NFDrop, chain: "ssh", handle: 4},
		{name: "verdict map without an element goes on",
			src:  "table ip t {\n chain c { type filter hook input priority 0; policy drop;\n tcp dport vmap { 80 : drop }\n accept\n }\n}\n",
			want: NFAccept, chain: "c", handle: 3},
		{name: "named verdict map",
			src:  "table ip t {\n map m { type inet_service : verdict; elements = { 22 : drop } }\n chain c { type filter hook input priority 0; policy accept;\n tcp dport vmap @m\n }\n}\n",
			want: NFDrop, chain: "c", handle: 3},
		{name: "named set of ports",
			src:  "table ip t {\n set s { type inet_service; elements = { 21, 22 } }\n chain c { type filter hook input priority 0; policy accept;\n tcp dport @s drop\n }\n}\n",
			want: NFDrop, chain: "c", handle: 3},
		{name: "named interval set",
			src:  "table ip t {\n set s { type ipv4_addr; flags interval; elements = { 10.0.0.0/8, 198.18.0.0-198.18.0.9 } }\n chain c { type filter hook input priority 0; policy accept;\n ip saddr @s drop\n }\n}\n",
			want: NFDrop, chain: "c", handle: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, _, _ := evalChain(t, tc.src, tcpSyn)
			if res.Verdict != tc.want || res.Chain != tc.chain || res.Handle != tc.handle || res.Policy != tc.policy {
				t.Errorf("got %v in chain %s handle %d policy %v, want %v in chain %s handle %d policy %v",
					res.Verdict, res.Chain, res.Handle, res.Policy, tc.want, tc.chain, tc.handle, tc.policy)
			}
		})
	}
}

func TestStatementResults(t *testing.T) {
	t.Run("reject with tcp reset drops and asks for a reset", func(t *testing.T) {
		res, _, _ := evalChain(t, inputChain("accept", "tcp dport 22 reject with tcp reset"), tcpSyn)
		if res.Verdict != NFDrop || res.Reject != RejectTCPReset {
			t.Errorf("got %+v", res)
		}
	})
	t.Run("plain reject is icmpx port unreachable", func(t *testing.T) {
		res, _, _ := evalChain(t, inputChain("accept", "reject"), udp53)
		if res.Verdict != NFDrop || res.Reject != RejectICMPx || res.RejectCode != ICMPxPortUnreach {
			t.Errorf("got %+v", res)
		}
	})
	t.Run("reject with an icmp code", func(t *testing.T) {
		res, _, _ := evalChain(t, inputChain("accept", "reject with icmp host-prohibited"), udp53)
		if res.Reject != RejectICMP || res.RejectCode != 10 {
			t.Errorf("got %+v", res)
		}
	})
	t.Run("queue with bypass", func(t *testing.T) {
		res, _, _ := evalChain(t, inputChain("accept", "queue num 7 bypass"), udp53)
		if res.Verdict != NFQueue || res.QueueNum != 7 || !res.QueueBypass {
			t.Errorf("got %+v", res)
		}
	})
	t.Run("queue range keeps a flow on one queue", func(t *testing.T) {
		r1, _, _ := evalChain(t, inputChain("accept", "queue num 2-5"), udp53)
		r2, _, _ := evalChain(t, inputChain("accept", "queue num 2-5"), udp53)
		if r1.QueueNum < 2 || r1.QueueNum > 5 || r1.QueueNum != r2.QueueNum {
			t.Errorf("queues %d and %d", r1.QueueNum, r2.QueueNum)
		}
	})
	natSrc := func(rule string) string {
		return "table ip nat {\n chain pre { type nat hook prerouting priority dstnat; policy accept;\n " + rule + "\n }\n}\n"
	}
	t.Run("dnat asks for an address and port and accepts", func(t *testing.T) {
		res, _, _ := evalChain(t, natSrc("tcp dport 22 dnat to 198.18.1.1:2222"), tcpSyn)
		want := NATRequest{Kind: NATDNAT, AddrMin: addr("198.18.1.1"), AddrMax: addr("198.18.1.1"), PortMin: 2222, PortMax: 2222}
		if res.Verdict != NFAccept || res.NAT != want {
			t.Errorf("got %+v, want NAT %+v", res, want)
		}
	})
	t.Run("dnat with ranges and flags", func(t *testing.T) {
		res, _, _ := evalChain(t, natSrc("meta l4proto tcp dnat to 198.18.1.0/24:1000-2000 random"), tcpSyn)
		want := NATRequest{Kind: NATDNAT, AddrMin: addr("198.18.1.0"), AddrMax: addr("198.18.1.255"), PortMin: 1000, PortMax: 2000, Flags: NATRandom}
		if res.NAT != want {
			t.Errorf("got %+v, want %+v", res.NAT, want)
		}
	})
	t.Run("dnat through a map", func(t *testing.T) {
		res, _, _ := evalChain(t, natSrc("dnat to tcp dport map { 22 : 198.18.1.22, 80 : 198.18.1.80 }"), tcpSyn)
		if res.NAT.AddrMin != addr("198.18.1.22") {
			t.Errorf("got %+v", res.NAT)
		}
	})
	t.Run("dnat through a map, with a port", func(t *testing.T) {
		res, _, rs := evalChain(t, natSrc("dnat to tcp dport map { 22 : 198.18.1.22, 80 : 198.18.1.80 }:8000-8010"), tcpSyn)
		want := NATRequest{Kind: NATDNAT, AddrMin: addr("198.18.1.22"), AddrMax: addr("198.18.1.22"), PortMin: 8000, PortMax: 8010}
		if res.NAT != want {
			t.Errorf("got %+v, want %+v", res.NAT, want)
		}
		if out := rs.String(); !strings.Contains(out, "dnat to tcp dport map { 22 : 198.18.1.22, 80 : 198.18.1.80 }:8000-8010") {
			t.Errorf("printed as\n%s", out)
		}
	})
	t.Run("redirect to a port", func(t *testing.T) {
		res, _, _ := evalChain(t, natSrc("meta l4proto tcp redirect to :8022"), tcpSyn)
		if res.NAT.Kind != NATRedirect || res.NAT.PortMin != 8022 || res.NAT.AddrMin.IsValid() {
			t.Errorf("got %+v", res.NAT)
		}
	})
	t.Run("masquerade", func(t *testing.T) {
		src := "table ip nat {\n chain post { type nat hook postrouting priority srcnat; policy accept;\n oifname \"wan0\" masquerade fully-random\n }\n}\n"
		res, _, _ := evalChain(t, src, tcpSyn, toWan)
		if res.NAT.Kind != NATMasquerade || res.NAT.Flags != NATFullyRandom || res.Verdict != NFAccept {
			t.Errorf("got %+v", res)
		}
	})
	t.Run("meta mark set changes the packet and goes on", func(t *testing.T) {
		res, p, _ := evalChain(t, inputChain("accept", "meta mark set 0x2a", "meta mark 0x2a drop"), tcpSyn)
		if p.Mark != 0x2a || res.Verdict != NFDrop {
			t.Errorf("mark %#x, %+v", p.Mark, res)
		}
	})
	t.Run("ct mark set writes through ConnInfo", func(t *testing.T) {
		rs := mustLoad(t, "ct.nft", []byte(inputChain("accept", "ct mark set meta mark", "ct mark 0x10 drop")))
		env := newEnv()
		res := rs.Eval(0, mkpkt(t, tcpSyn, ctEst, marked), env)
		if env.marks[1] != 0x10 || res.Verdict != NFDrop {
			t.Errorf("ct mark %#x, %+v", env.marks[1], res)
		}
	})
	t.Run("meta mark set from a map", func(t *testing.T) {
		_, p, _ := evalChain(t, inputChain("accept", "meta mark set tcp dport map { 22 : 0x1, 80 : 0x2 }"), tcpSyn)
		if p.Mark != 1 {
			t.Errorf("mark %#x", p.Mark)
		}
	})
	t.Run("notrack marks the packet untracked", func(t *testing.T) {
		src := "table ip raw {\n chain pre { type filter hook prerouting priority raw; policy accept;\n notrack\n ct state untracked drop\n }\n}\n"
		res, p, _ := evalChain(t, src, udp53)
		if p.Flags&packet.FlagNoTrack == 0 || res.Verdict != NFDrop {
			t.Errorf("flags %v, %+v", p.Flags, res)
		}
	})
	t.Run("notrack leaves a tracked packet tracked", func(t *testing.T) {
		// At input conntrack has run: as nft_notrack_eval, the packet
		// keeps its entry.
		res, p, _ := evalChain(t, inputChain("accept", "notrack", "ct state untracked drop"), tcpSyn, ctEst)
		if p.Flags&packet.FlagNoTrack != 0 || p.CT != 1 || p.CTInfo != uint8(conntrack.InfoEstablished) || res.Verdict != NFAccept {
			t.Errorf("flags %v, ct %d info %d, %+v", p.Flags, p.CT, p.CTInfo, res)
		}
	})
}

func TestCounters(t *testing.T) {
	src := "table ip t {\n counter named { }\n chain c { type filter hook input priority 0; policy accept;\n tcp dport 22 counter\n counter name named\n }\n}\n"
	rs := mustLoad(t, "c.nft", []byte(src))
	env := newEnv()
	for range 3 {
		rs.Eval(0, mkpkt(t, tcpSyn), env)
	}
	rs.Eval(0, mkpkt(t, udp53), env)
	out := rs.String()
	if !strings.Contains(out, "tcp dport 22 counter packets 3 bytes 120") {
		t.Errorf("anonymous counter:\n%s", out)
	}
	if !strings.Contains(out, "packets 4 bytes 149") {
		t.Errorf("named counter:\n%s", out)
	}
	// A swap that does not touch the rule keeps its count.
	cmds, err := Parse("add.nft", []byte("add rule ip t c accept"), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	next, err := rs.Apply(cmds)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(next.String(), "tcp dport 22 counter packets 3 bytes 120") {
		t.Errorf("count lost across a swap:\n%s", next)
	}
}

func TestLimit(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	cmds, err := Parse("l.nft", []byte(inputChain("drop", "limit rate 2/second burst 3 packets accept")), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := New(Options{Now: clock}).Apply(cmds)
	if err != nil {
		t.Fatal(err)
	}
	env := newEnv()
	accepted := func(n int) int {
		c := 0
		for range n {
			if rs.Eval(0, mkpkt(t, udp53), env).Verdict == NFAccept {
				c++
			}
		}
		return c
	}
	if got := accepted(10); got != 3 {
		t.Errorf("burst: %d accepted, want 3", got)
	}
	now = now.Add(time.Second)
	if got := accepted(10); got != 2 {
		t.Errorf("after a second: %d accepted, want 2", got)
	}
	now = now.Add(time.Hour)
	if got := accepted(10); got != 3 {
		t.Errorf("after an hour the bucket holds the burst only: %d accepted, want 3", got)
	}
}

func TestConnLimit(t *testing.T) {
	rs := mustLoad(t, "cc.nft", []byte(inputChain("accept", "ct count over 2 drop")))
	env := newEnv()
	verdict := func(slot uint32) NFVerdict {
		env.ids[slot] = uint64(slot) + 100
		return rs.Eval(0, mkpkt(t, tcpSyn, func(p *packet.Packet) { p.CT, p.CTInfo = slot, 3 }), env).Verdict
	}
	if verdict(1) != NFAccept || verdict(2) != NFAccept || verdict(1) != NFAccept {
		t.Fatal("two connections are not over 2")
	}
	if verdict(3) != NFDrop {
		t.Fatal("a third connection is over 2")
	}
	delete(env.ids, 1) // connection 1 ends
	delete(env.ids, 3)
	if verdict(4) != NFAccept {
		t.Fatal("after connections end, a new one is within the limit")
	}
}

func TestSetTimeouts(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	src := "table ip t {\n set s { type ipv4_addr; flags timeout; elements = { 198.18.0.1 timeout 10s } }\n" +
		" chain c { type filter hook input priority 0; policy accept;\n ip saddr @s drop\n }\n}\n"
	cmds, err := Parse("t.nft", []byte(src), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := New(Options{Now: func() time.Time { return now }}).Apply(cmds)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Eval(0, mkpkt(t, tcpSyn), newEnv()).Verdict != NFDrop {
		t.Fatal("element should match before it expires")
	}
	if !strings.Contains(rs.String(), "198.18.0.1 timeout 10s expires 10s") {
		t.Errorf("print:\n%s", rs)
	}
	now = now.Add(10 * time.Second)
	if rs.Eval(0, mkpkt(t, tcpSyn), newEnv()).Verdict != NFAccept {
		t.Fatal("element should have expired")
	}
	if strings.Contains(rs.String(), "198.18.0.1") {
		t.Errorf("expired element printed:\n%s", rs)
	}
}

func TestLogIsRateLimited(t *testing.T) {
	var buf bytes.Buffer
	cmds, err := Parse("log.nft", []byte(inputChain("accept", `log prefix "in: " level info`)), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := New(Options{Now: fixedClock(), Logger: slog.New(slog.NewTextHandler(&buf, nil))}).Apply(cmds)
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		rs.Eval(0, mkpkt(t, tcpSyn), newEnv())
	}
	lines := strings.Count(buf.String(), "\n")
	if lines != logBurst {
		t.Errorf("%d lines logged, want the burst of %d", lines, logBurst)
	}
	if !strings.Contains(buf.String(), `prefix="in: "`) || !strings.Contains(buf.String(), "src=198.18.0.1") || !strings.Contains(buf.String(), "dpt=22") {
		t.Errorf("log line: %s", buf.String())
	}
}

func TestFibUsesTheEnvironment(t *testing.T) {
	rs := mustLoad(t, "fib.nft", []byte(inputChain("accept", "fib daddr type local drop")))
	env := newEnv()
	env.local = map[netip.Addr]bool{}
	if rs.Eval(0, mkpkt(t, tcpSyn), env).Verdict != NFAccept {
		t.Error("198.18.0.2 is not local in this environment")
	}
}
