package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/nfgo/nfgo/packet"
)

// MinFrameLen is the length of a minimum-sized Ethernet frame without its
// frame check sequence: a "64-byte frame" on the wire is 60 bytes in
// software plus the 4-byte FCS the NIC (or nobody, on veth) adds.
const MinFrameLen = 60

// UDPFlow says what the frames of a generated UDP stream carry.
type UDPFlow struct {
	DstMAC, SrcMAC packet.MAC
	Src, Dst       netip.AddrPort // both IPv4
	// Flows is how many source ports the frames cycle through, starting
	// at Src.Port(); 0 or 1 is one flow.
	Flows int
	// FrameLen is the length of each frame without FCS; 0 is
	// MinFrameLen, which is also the least.
	FrameLen int
}

// UDPFrames returns n prebuilt IPv4 UDP frames of f, with correct IPv4 and
// UDP checksums, the payload zero but for a sequence number.
func UDPFrames(f UDPFlow, n int) ([][]byte, error) {
	if !f.Src.Addr().Is4() || !f.Dst.Addr().Is4() {
		return nil, errors.New("bench: UDP frames are IPv4 only")
	}
	size := max(f.FrameLen, MinFrameLen)
	const hdrs = packet.EthernetHeaderLen + packet.IPv4MinHeaderLen + packet.UDPHeaderLen
	if size > 1514 {
		return nil, fmt.Errorf("bench: frame length %d is more than 1514", size)
	}
	flows := max(f.Flows, 1)
	frames := make([][]byte, n)
	for i := range frames {
		b := make([]byte, size)
		eth := packet.Ethernet(b)
		eth.SetDst(f.DstMAC)
		eth.SetSrc(f.SrcMAC)
		eth.SetEtherType(packet.EtherTypeIPv4)
		l3 := b[packet.EthernetHeaderLen:]
		ipLen := size - packet.EthernetHeaderLen
		l3[0] = 0x45
		binary.BigEndian.PutUint16(l3[2:], uint16(ipLen))
		binary.BigEndian.PutUint16(l3[4:], uint16(i))
		l3[8] = 64
		l3[9] = packet.ProtoUDP
		src, dst := f.Src.Addr().As4(), f.Dst.Addr().As4()
		copy(l3[12:16], src[:])
		copy(l3[16:20], dst[:])
		ip := packet.IPv4(l3)
		ip.SetChecksum(ip.ComputeChecksum())
		u := packet.UDP(l3[packet.IPv4MinHeaderLen:ipLen])
		binary.BigEndian.PutUint16(u[0:], f.Src.Port()+uint16(i%flows))
		binary.BigEndian.PutUint16(u[2:], f.Dst.Port())
		binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
		if len(b) >= hdrs+4 {
			binary.BigEndian.PutUint32(b[hdrs:], uint32(i))
		}
		u.SetChecksum(u.ComputeChecksum(f.Src.Addr(), f.Dst.Addr()))
		frames[i] = b
	}
	return frames, nil
}

// BatchWriter is the transmit half of a port: the engine's Port has it.
type BatchWriter interface {
	WriteBatch(q int, pkts []*packet.Packet) (int, error)
}

// SendResult is what Send did.
type SendResult struct {
	Sent    uint64        // frames the port accepted
	Refused uint64        // frames it did not (its ring was full)
	Elapsed time.Duration // from the first batch to the last
}

// PPS is the rate the port accepted frames at.
func (r SendResult) PPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Sent) / r.Elapsed.Seconds()
}

// Send writes frames to queue 0 of w over and over, in batches of up to
// 64, as fast as w takes them, until d has passed or ctx is done. It runs
// on the calling goroutine, which is best locked to a thread of its own.
func Send(ctx context.Context, w BatchWriter, frames [][]byte, d time.Duration) (SendResult, error) {
	if len(frames) == 0 {
		return SendResult{}, errors.New("bench: no frames to send")
	}
	const batch = 64
	pkts := make([]*packet.Packet, batch)
	for i := range pkts {
		pkts[i] = packet.New()
		f := frames[i%len(frames)]
		copy(pkts[i].SetFrame(len(f)), f)
	}
	var r SendResult
	start := time.Now()
	deadline := start.Add(d)
	for i := 0; ; i++ {
		n, err := w.WriteBatch(0, pkts)
		if err != nil {
			r.Elapsed = time.Since(start)
			return r, fmt.Errorf("bench: send: %w", err)
		}
		r.Sent += uint64(n)
		r.Refused += uint64(batch - n)
		// Look at the clock and the context every 16 batches (about
		// 1000 frames): often enough for a bounded run, rarely
		// enough not to cost.
		if i%16 == 15 {
			now := time.Now()
			if now.After(deadline) || ctx.Err() != nil {
				r.Elapsed = now.Sub(start)
				return r, nil
			}
		}
	}
}
