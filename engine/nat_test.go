package engine

import (
	"net/netip"
	"testing"

	"github.com/nfgo/nfgo/conntrack"
	"github.com/nfgo/nfgo/internal/pktbuild"
	"github.com/nfgo/nfgo/packet"
)

const natRouter = `
table ip nat {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		iifname "wan0" tcp dport 8080 dnat to 198.18.0.10:80
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan0" masquerade
	}
}
table ip6 nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan0" snat to 2001:db8:2::1
	}
}
`

func natRig(t *testing.T) *rig {
	ct := conntrack.New(conntrack.Options{SweepInterval: -1})
	t.Cleanup(ct.Close)
	r := newRig(t, Options{Conntrack: ct})
	if err := r.e.SetRuleset(mustRuleset(t, natRouter)); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMasqueradeRewritesBothDirections(t *testing.T) {
	r := natRig(t)
	r.lan.Send(0, pktbuild.TCP4(insider, netip.AddrPortFrom(server, 443), packet.TCPFlagSYN, 100, 0, nil))
	r.step()
	out := r.recv(r.wan)
	if len(out) != 1 {
		t.Fatalf("%d packets out", len(out))
	}
	p := pktbuild.Parsed(t, out[0])
	if p.Src() != wanAddr.Addr() || !p.VerifyChecksums() {
		t.Fatalf("out from %v (checksums ok: %v), want the wan address", p.Src(), p.VerifyChecksums())
	}
	mapped := netip.AddrPortFrom(p.Src(), p.SrcPort)
	r.wan.Send(0, pktbuild.TCP4(netip.AddrPortFrom(server, 443), mapped, packet.TCPFlagSYN|packet.TCPFlagACK, 900, 101, nil))
	r.step()
	back := r.recv(r.lan)
	if len(back) != 1 {
		t.Fatalf("%d replies in", len(back))
	}
	q := pktbuild.Parsed(t, back[0])
	if netip.AddrPortFrom(q.Dst(), q.DstPort) != insider || !q.VerifyChecksums() {
		t.Fatalf("reply to %v:%d, want %v", q.Dst(), q.DstPort, insider)
	}
	if s := r.e.NAT().Stats(); s.Bindings == 0 {
		t.Fatalf("no binding counted: %+v", s)
	}
}

func TestDNATPortForwardAndICMPErrorsInside(t *testing.T) {
	r := natRig(t)
	// From outside to the router's wan address, port 8080: forwarded to
	// the inside host's port 80.
	r.wan.Send(0, pktbuild.TCP4(outsider, netip.AddrPortFrom(wanAddr.Addr(), 8080), packet.TCPFlagSYN, 1, 0, nil))
	r.step()
	in := r.recv(r.lan)
	if len(in) != 1 {
		t.Fatalf("%d packets forwarded in", len(in))
	}
	p := pktbuild.Parsed(t, in[0])
	if p.Dst() != client || p.DstPort != 80 || !p.VerifyChecksums() {
		t.Fatalf("forwarded to %v:%d", p.Dst(), p.DstPort)
	}
	// The inside host answers; the reply leaves from the router's address
	// and port 8080, not from the inside.
	r.lan.Send(0, pktbuild.TCP4(netip.AddrPortFrom(client, 80), outsider, packet.TCPFlagSYN|packet.TCPFlagACK, 50, 2, nil))
	r.step()
	out := r.recv(r.wan)
	if len(out) != 1 {
		t.Fatalf("%d replies out", len(out))
	}
	q := pktbuild.Parsed(t, out[0])
	if q.Src() != wanAddr.Addr() || q.SrcPort != 8080 || !q.VerifyChecksums() {
		t.Fatalf("reply from %v:%d", q.Src(), q.SrcPort)
	}
}

func TestSNAT66(t *testing.T) {
	r := natRig(t)
	r.lan.Send(0, pktbuild.UDP6(netip.AddrPortFrom(client6, 5353), netip.AddrPortFrom(server6, 53), []byte("q")))
	r.step()
	out := r.recv(r.wan)
	if len(out) != 1 {
		t.Fatalf("%d packets out", len(out))
	}
	p := pktbuild.Parsed(t, out[0])
	if p.Src() != wanAddr6.Addr() || !p.VerifyChecksums() {
		t.Fatalf("out from %v", p.Src())
	}
	r.wan.Send(0, pktbuild.UDP6(netip.AddrPortFrom(server6, 53), netip.AddrPortFrom(p.Src(), p.SrcPort), []byte("a")))
	r.step()
	back := r.recv(r.lan)
	if len(back) != 1 || pktbuild.Parsed(t, back[0]).Dst() != client6 {
		t.Fatalf("%d replies in", len(back))
	}
}
