package engine

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/nfgo/nfgo/hooks"
	"github.com/nfgo/nfgo/packet"
)

// A worker owns one RX queue of one port and carries every batch it reads
// to its verdicts (run to completion).
type worker struct {
	e   *Engine
	ifc *iface
	q   int
	pp  *pipe
	rx  [hooks.MaxBatch]*packet.Packet
	n   int // packets used by the last batch
}

func newWorker(e *Engine, id int, ifc *iface, q int) *worker {
	w := &worker{e: e, ifc: ifc, q: q, pp: newPipe(e, id)}
	for i := range w.rx {
		w.rx[i] = packet.New()
	}
	return w
}

func (w *worker) loop(ctx context.Context) {
	bs := w.e.opts.BatchSize
	var lastErr time.Time
	for ctx.Err() == nil {
		n, err := w.ifc.port.ReadBatch(w.q, w.rx[:bs])
		if errors.Is(err, ErrClosed) || errors.Is(err, io.EOF) {
			// Closed, or a port with a finite input (a capture) at its end.
			w.ifc.running.Store(false)
			w.e.log.Info("port done", "if", w.ifc.name, "queue", w.q, "err", err)
			return
		}
		if err != nil {
			if now := time.Now(); now.Sub(lastErr) > time.Second {
				w.e.log.Warn("port read failed", "if", w.ifc.name, "queue", w.q, "err", err)
				lastErr = now
			}
			time.Sleep(time.Millisecond)
			continue
		}
		if n > 0 {
			w.process(w.rx[:n])
		} else if w.pp.ct != nil {
			w.pp.ct.Idle()
		}
	}
}

// process carries one batch of received frames to their verdicts.
func (w *worker) process(pkts []*packet.Packet) {
	e, pp := w.e, w.pp
	pp.begin(pkts)
	var bytes uint64
	var v4B, v6B [hooks.MaxBatch]*packet.Packet
	v4, v6 := v4B[:0], v6B[:0]
	ingress := e.hooks.IngressList(w.ifc.index)
	var allB [hooks.MaxBatch]*packet.Packet
	all := allB[:0]
	for _, p := range pkts {
		frame := p.Frame
		bytes += uint64(len(frame))
		reason := p.Parse(w.ifc.link)
		p.ResetMeta()
		p.InIf, p.Queue = w.ifc.index, uint16(w.q)
		if reason != packet.ReasonNone && reason != packet.ReasonUnsupportedEtherType {
			e.ctr.malformed[reason].Add(1)
			pp.discard(p, DropMalformed)
			continue
		}
		if p.Family == packet.FamilyIPv4 && packet.Fold(packet.Sum(p.IPv4()[:p.IPv4().HeaderLen()], 0)) != 0 {
			// The kernel drops these in ip_rcv_core (InCsumErrors).
			pp.discard(p, DropBadChecksum)
			continue
		}
		if w.ifc.link == packet.LinkEthernet {
			// A frame tagged with a VLAN ID (not 0, which carries only a
			// priority) is for a VLAN interface, which nfgo's ports do not
			// have: the kernel marks it PACKET_OTHERHOST
			// (__netif_receive_skb_core) and the stack drops it.
			dst := p.Ethernet().Dst()
			if dst != w.ifc.mac && !dst.IsMulticast() || p.VLANID[0]|p.VLANID[1] != 0 {
				pp.drop(DropOtherHost)
				continue
			}
		}
		all = append(all, p)
	}
	e.ctr.rxPackets.Add(uint64(len(pkts)))
	e.ctr.rxBytes.Add(bytes)
	if !w.ifc.host {
		pp.traceSelect(all)
	}
	if w.ifc.host {
		// The host's own packets: they were sent, not received.
		for _, p := range all {
			p.InIf = 0
			p.Flags |= packet.FlagLocalOut
		}
		pp.output(all)
		pp.end()
		return
	}
	if ingress.Len() > 0 {
		all = pp.ingress(ingress, all)
	}
	for _, p := range all {
		switch p.Family {
		case packet.FamilyIPv4:
			v4 = append(v4, p)
		case packet.FamilyIPv6:
			v6 = append(v6, p)
		case packet.FamilyARP:
			pp.arp(p, w.ifc)
		default:
			pp.drop(DropNotIP)
		}
	}
	if len(v4) > 0 {
		pp.prerouting(packet.FamilyIPv4, v4)
	}
	if len(v6) > 0 {
		pp.prerouting(packet.FamilyIPv6, v6)
	}
	pp.end()
}
