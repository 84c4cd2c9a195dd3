package ruleset

import (
	"net/netip"
	"testing"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

// testEnv is the engine's side of evaluation, in memory.
type testEnv struct {
	names  map[uint32]string
	local  map[netip.Addr]bool
	bcast  map[netip.Addr]bool
	marks  map[uint32]uint32
	status map[uint32]uint32
	ids    map[uint32]uint64
}

func newEnv() *testEnv {
	return &testEnv{
		names:  map[uint32]string{1: "lo", 2: "eth0", 3: "wan0"},
		local:  map[netip.Addr]bool{netip.MustParseAddr("198.18.0.2"): true},
		bcast:  map[netip.Addr]bool{netip.MustParseAddr("198.18.0.255"): true},
		marks:  map[uint32]uint32{},
		status: map[uint32]uint32{},
		ids:    map[uint32]uint64{},
	}
}

func (e *testEnv) IfName(i uint32) string { return e.names[i] }
func (e *testEnv) AddrType(a netip.Addr) AddrType {
	switch {
	case e.local[a]:
		return AddrLocal
	case e.bcast[a]:
		return AddrBroadcast
	}
	return AddrOther
}
func (e *testEnv) CTMark(slot uint32) uint32   { return e.marks[slot] }
func (e *testEnv) SetCTMark(slot, m uint32)    { e.marks[slot] = m }
func (e *testEnv) CTStatus(slot uint32) uint32 { return e.status[slot] }
func (e *testEnv) CTID(slot uint32) uint64     { return e.ids[slot] }
func ap(s string) netip.AddrPort               { return netip.MustParseAddrPort(s) }
func addr(s string) netip.Addr                 { return netip.MustParseAddr(s) }
func mkpkt(t testing.TB, frame []byte, opts ...func(*packet.Packet)) *packet.Packet {
	t.Helper()
	p := packet.New()
	copy(p.SetFrame(len(frame)), frame)
	if r := p.Parse(packet.LinkRaw); r != packet.ReasonNone {
		t.Fatalf("test packet does not parse: %v", r)
	}
	p.InIf = 2
	for _, o := range opts {
		o(p)
	}
	return p
}

var (
	tcpSyn   = pktbuild.TCP4(ap("198.18.0.1:40000"), ap("198.18.0.2:22"), packet.TCPFlagSYN, 1, 0, nil)
	tcpAck   = pktbuild.TCP4(ap("198.18.0.1:40000"), ap("198.18.0.2:80"), packet.TCPFlagACK, 1, 1, []byte("hello"))
	udp53    = pktbuild.UDP4(ap("198.18.0.1:5353"), ap("198.18.0.9:53"), []byte("q"))
	ping4    = pktbuild.ICMP4Echo(addr("198.18.0.1"), addr("198.18.0.2"), 7, 1, false)
	tcp6     = pktbuild.TCP6(ap("[2001:db8::1]:1234"), ap("[2001:db8:1::2]:443"), packet.TCPFlagSYN, 1, 0, nil)
	ping6    = pktbuild.ICMP6Echo(addr("2001:db8::1"), addr("2001:db8::2"), 7, 1, false)
	ttl1     = pktbuild.UDP(ap("198.18.0.1:1"), ap("198.18.0.9:2"), nil, &pktbuild.Options{TTL: 1, TOS: 46 << 2})
	ctNew    = func(p *packet.Packet) { p.CT, p.CTInfo = 1, uint8(conntrack.InfoNew) }
	ctEst    = func(p *packet.Packet) { p.CT, p.CTInfo = 1, uint8(conntrack.InfoEstablished) }
	ctReply  = func(p *packet.Packet) { p.CT, p.CTInfo = 1, uint8(conntrack.InfoEstablishedReply) }
	fromLo   = func(p *packet.Packet) { p.InIf = 1 }
	toWan    = func(p *packet.Packet) { p.OutIf = 3 }
	marked   = func(p *packet.Packet) { p.Mark = 0x10 }
	zone3    = func(p *packet.Packet) { p.Zone = 3 }
	noOption = func(*packet.Packet) {}
)

// TestMatches runs one match per case as `MATCH drop` in a chain with
// policy accept: the packet is dropped exactly when the match holds.
func TestMatches(t *testing.T) {
	cases := []struct {
		name  string
		match string
		frame []byte
		opt   func(*packet.Packet)
		want  bool
	}{
		{"ip saddr equal", "ip saddr 198.18.0.1", tcpSyn, noOption, true},
		{"ip saddr other", "ip saddr 198.18.0.3", tcpSyn, noOption, false},
		{"ip saddr not equal", "ip saddr != 198.18.0.3", tcpSyn, noOption, true},
		{"ip saddr prefix", "ip saddr 198.18.0.0/15", tcpSyn, noOption, true},
		{"ip saddr prefix outside", "ip saddr 10.0.0.0/8", tcpSyn, noOption, false},
		{"ip daddr range", "ip daddr 198.18.0.1-198.18.0.5", tcpSyn, noOption, true},
		{"ip daddr anonymous set", "ip daddr { 198.18.0.9, 198.18.0.2 }", tcpSyn, noOption, true},
		{"ip daddr not in set", "ip daddr != { 198.18.0.9, 198.18.0.2 }", tcpSyn, noOption, false},
		{"ip protocol", "ip protocol tcp", tcpSyn, noOption, true},
		{"ip protocol udp on tcp", "ip protocol udp", tcpSyn, noOption, false},
		{"ip ttl", "ip ttl 1", ttl1, noOption, true},
		{"ip ttl less than", "ip ttl < 2", ttl1, noOption, true},
		{"ip ttl greater", "ip ttl > 1", ttl1, noOption, false},
		{"ip dscp", "ip dscp ef", ttl1, noOption, true},
		{"ip length", "ip length 40", tcpSyn, noOption, true},
		{"ip saddr on ipv6", "ip saddr 198.18.0.1", tcp6, noOption, false},
		{"ip saddr != on ipv6 does not match either", "ip saddr != 198.18.0.1", tcp6, noOption, false},
		{"ip6 saddr prefix", "ip6 saddr 2001:db8::/32", tcp6, noOption, true},
		{"ip6 daddr", "ip6 daddr 2001:db8:1::2", tcp6, noOption, true},
		{"ip6 nexthdr", "ip6 nexthdr tcp", tcp6, noOption, true},
		{"ip6 hoplimit", "ip6 hoplimit 64", tcp6, noOption, true},
		{"tcp dport", "tcp dport 22", tcpSyn, noOption, true},
		{"tcp dport set", "tcp dport { 80, 443 }", tcpSyn, noOption, false},
		{"tcp dport range", "tcp dport 1-1023", tcpSyn, noOption, true},
		{"tcp sport", "tcp sport 40000", tcpSyn, noOption, true},
		{"tcp dport on udp", "tcp dport 53", udp53, noOption, false},
		{"tcp dport != on udp", "tcp dport != 22", udp53, noOption, false},
		{"tcp flags syn", "tcp flags syn", tcpSyn, noOption, true},
		{"tcp flags syn on ack", "tcp flags syn", tcpAck, noOption, false},
		{"tcp flags not syn", "tcp flags ! syn", tcpAck, noOption, true},
		{"tcp flags masked", "tcp flags & (fin|syn|rst|ack) == syn", tcpSyn, noOption, true},
		{"tcp flags masked ack", "tcp flags syn / fin,syn,rst,ack", tcpAck, noOption, false},
		{"tcp flags exact", "tcp flags == syn", tcpSyn, noOption, true},
		{"udp dport", "udp dport 53", udp53, noOption, true},
		{"udp sport", "udp sport 5353", udp53, noOption, true},
		{"th dport tcp", "th dport 22", tcpSyn, noOption, true},
		{"th dport udp", "th dport 53", udp53, noOption, true},
		{"th dport icmp", "th dport 7", ping4, noOption, false},
		{"icmp type", "icmp type echo-request", ping4, noOption, true},
		{"icmp code", "icmp code 0", ping4, noOption, true},
		{"icmp type on icmpv6", "icmp type echo-request", ping6, noOption, false},
		{"icmpv6 type", "icmpv6 type echo-request", ping6, noOption, true},
		{"icmpv6 type set", "icmpv6 type { nd-neighbor-solicit, echo-reply }", ping6, noOption, false},
		{"iifname", `iifname "eth0"`, tcpSyn, noOption, true},
		{"iifname wildcard", `iifname "eth*"`, tcpSyn, noOption, true},
		{"iifname wildcard miss", `iifname "wan*"`, tcpSyn, noOption, false},
		{"iifname set", `iifname { "lo", "eth0" }`, tcpSyn, noOption, true},
		{"oifname", `oifname "wan0"`, tcpSyn, toWan, true},
		{"oifname without output interface", `oifname != "wan0"`, tcpSyn, noOption, false},
		{"iif by name", `iif "lo"`, tcpSyn, fromLo, true},
		{"iif by index", `iif 2`, tcpSyn, noOption, true},
		{"oif", `oif 3`, tcpSyn, toWan, true},
		{"meta l4proto", "meta l4proto udp", udp53, noOption, true},
		{"meta l4proto set", "meta l4proto { tcp, udp }", ping4, noOption, false},
		{"meta nfproto", "meta nfproto ipv6", tcp6, noOption, true},
		{"meta mark", "meta mark 0x10", tcpSyn, marked, true},
		{"meta mark unqualified", "mark 0x11", tcpSyn, marked, false},
		{"meta mark masked", "meta mark & 0xf0 == 0x10", tcpSyn, marked, true},
		{"meta length", "meta length 40", tcpSyn, noOption, true},
		{"meta pkttype", "meta pkttype host", tcpSyn, noOption, true},
		{"ct state new", "ct state new", tcpSyn, ctNew, true},
		{"ct state established,related", "ct state established,related", tcpSyn, ctEst, true},
		{"ct state established,related on new", "ct state established,related", tcpSyn, ctNew, false},
		{"ct state without conntrack is invalid", "ct state invalid", tcpSyn, noOption, true},
		{"ct state set", "ct state { new, untracked }", tcpSyn, ctNew, true},
		{"ct direction reply", "ct direction reply", tcpSyn, ctReply, true},
		{"ct direction original", "ct direction original", tcpSyn, ctEst, true},
		{"ct direction without conntrack", "ct direction original", tcpSyn, noOption, false},
		{"ct zone", "ct zone 3", tcpSyn, func(p *packet.Packet) { ctEst(p); zone3(p) }, true},
		{"ct mark", "ct mark 0x00000005", tcpSyn, ctEst, true},
		{"ct status", "ct status assured", tcpSyn, ctEst, true},
		{"ct status missing", "ct status dnat", tcpSyn, ctEst, false},
		{"fib daddr type local", "fib daddr type local", tcpSyn, noOption, true},
		{"fib daddr type not local", "fib daddr type local", udp53, noOption, false},
		{"fib daddr type broadcast, a subnet's", "fib daddr type broadcast", pktbuild.UDP4(ap("198.18.0.1:68"), ap("198.18.0.255:67"), nil), noOption, true},
		{"fib daddr type broadcast, the limited one", "fib daddr type broadcast", pktbuild.UDP4(ap("198.18.0.1:68"), ap("255.255.255.255:67"), nil), noOption, true},
		{"fib daddr type not broadcast", "fib daddr type broadcast", udp53, noOption, false},
		{"concatenation", "ip saddr . tcp dport { 198.18.0.1 . 22, 198.18.0.1 . 80 }", tcpSyn, noOption, true},
		{"concatenation other port", "ip saddr . tcp dport { 198.18.0.1 . 23 }", tcpSyn, noOption, false},
		{"concatenation with intervals", "ip saddr . tcp dport { 198.18.0.0/24 . 20-30 }", tcpSyn, noOption, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := "table inet t {\n\tchain c {\n\t\ttype filter hook input priority 0; policy accept;\n\t\t" +
				tc.match + " drop\n\t}\n}\n"
			rs := mustLoad(t, "match.nft", []byte(src))
			env := newEnv()
			env.marks[1] = 5
			env.status[1] = 4 | 8
			res := rs.Eval(0, mkpkt(t, tc.frame, tc.opt), env)
			if got := res.Verdict == NFDrop; got != tc.want {
				t.Errorf("%q matched = %v, want %v (result %+v)", tc.match, got, tc.want, res)
			}
		})
	}
}

// evalChain loads src and runs base chain 0 over the packet.
func evalChain(t *testing.T, src string, frame []byte, opts ...func(*packet.Packet)) (Result, *packet.Packet, *Ruleset) {
	t.Helper()
	rs := mustLoad(t, "chain.nft", []byte(src))
	p := mkpkt(t, frame, opts...)
	return rs.Eval(0, p, newEnv()), p, rs
}
