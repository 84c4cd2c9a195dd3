package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nfgo/nfgo/cmd/nfgo/internal/exitcode"
	"github.com/nfgo/nfgo/hooks"
	"github.com/nfgo/nfgo/packet"
)

const captureUsage = `usage: nfgo capture --hook HOOK [-i IF] [--priority P] [-c COUNT] -w FILE.pcap

Writes the packets that reach HOOK (prerouting, input, forward, output,
postrouting, or ingress with -i) to a pcap file of raw IP packets, as
they are at that point: at a priority before the filter chains (the
default, first) a capture sees every packet that enters the hook; at
"last" only those the hook let through. -i keeps the packets of one
interface (in or out). -w - writes to standard output.`

func cmdCapture(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("capture", stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, captureUsage); fs.PrintDefaults() }
	sock := fs.String("s", "", "control socket")
	hook := fs.String("hook", "", "the hook: prerouting, input, forward, output, postrouting, ingress")
	ifName := fs.String("i", "", "only packets in or out of this interface")
	prio := fs.String("priority", "first", "where in the hook: first, last, a standard name (raw, mangle, filter...) or a number")
	count := fs.Int("c", 0, "stop after COUNT packets")
	file := fs.String("w", "", "the pcap file to write")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *hook == "" || *file == "" {
		return exitcode.Usage("capture needs --hook and -w\n%s", captureUsage)
	}
	if _, _, err := captureSpec(*hook, *prio); err != nil {
		return err
	}
	var w io.Writer = stdout
	if *file != "-" {
		f, err := os.Create(*file)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	pw := pcapgo.NewWriterNanos(bw)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		return err
	}
	n := 0
	err := call(socketPath(*sock), request{Cmd: "capture", Args: []string{*hook, *ifName, *prio, strconv.Itoa(*count)}},
		stderr, stderr, func(f *frame) error {
			n++
			ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, f.TS), CaptureLength: len(f.Pkt), Length: len(f.Pkt)}
			return pw.WritePacket(ci, f.Pkt)
		})
	fmt.Fprintf(stderr, "nfgo capture: %d packets written to %s\n", n, *file)
	return err
}

// captureSpec reads a hook and a priority.
func captureSpec(hook, prio string) (hooks.Hook, hooks.Priority, error) {
	h := hooks.Hook(255)
	for _, c := range []hooks.Hook{hooks.Prerouting, hooks.Input, hooks.Forward, hooks.Output, hooks.Postrouting, hooks.Ingress} {
		if c.String() == hook {
			h = c
		}
	}
	if h == 255 {
		return 0, 0, exitcode.Usage("unknown hook %q (prerouting, input, forward, output, postrouting, ingress)", hook)
	}
	names := map[string]hooks.Priority{"first": hooks.PriorityFirst, "last": hooks.PriorityLast - 1,
		"raw": hooks.PriorityRaw, "conntrack": hooks.PriorityConntrack, "mangle": hooks.PriorityMangle,
		"dstnat": hooks.PriorityNATDst, "filter": hooks.PriorityFilter, "security": hooks.PrioritySecurity,
		"srcnat": hooks.PriorityNATSrc}
	if p, ok := names[strings.ToLower(prio)]; ok {
		return h, p, nil
	}
	n, err := strconv.ParseInt(prio, 10, 32)
	if err != nil {
		return 0, 0, exitcode.Usage("bad priority %q", prio)
	}
	return h, hooks.Priority(n), nil
}

// serveCapture registers a callback at the hook that copies the packets
// it sees, and streams them to the client until it goes away or has its
// count. The callback never waits: when the client is slow, packets are
// left out of the capture (and counted), not held up.
func (d *daemon) serveCapture(ctx context.Context, args []string, out io.Writer, errOut io.Writer) int {
	if len(args) != 4 {
		fmt.Fprintln(errOut, "capture: bad request")
		return 2
	}
	h, prio, err := captureSpec(args[0], args[2])
	if err != nil {
		fmt.Fprintln(errOut, err)
		return 2
	}
	var dev uint32
	if args[1] != "" {
		if dev = d.eng.IfIndex(args[1]); dev == 0 {
			fmt.Fprintf(errOut, "capture: no interface %q\n", args[1])
			return 1
		}
	}
	if h == hooks.Ingress && dev == 0 {
		fmt.Fprintln(errOut, "capture: the ingress hook is per interface: give -i")
		return 2
	}
	max, _ := strconv.Atoi(args[3])
	type pkt struct {
		b  []byte
		ts int64
	}
	ch := make(chan pkt, 4096)
	var lost atomic.Uint64
	ops := &hooks.Ops{Name: "nfgo-capture", Family: packet.FamilyInet, Hook: h, Priority: prio,
		Func: func(p *packet.Packet, _ *hooks.State) hooks.Verdict {
			if dev != 0 && p.InIf != dev && p.OutIf != dev {
				return hooks.Accept
			}
			if p.Family != packet.FamilyIPv4 && p.Family != packet.FamilyIPv6 {
				return hooks.Accept
			}
			select {
			case ch <- pkt{append([]byte(nil), p.L3()...), time.Now().UnixNano()}:
			default:
				lost.Add(1)
			}
			return hooks.Accept
		}}
	if h == hooks.Ingress {
		ops.Family, ops.Device = packet.FamilyNetdev, dev
	}
	if err := d.eng.Hooks().Register(ops); err != nil {
		fmt.Fprintf(errOut, "capture: %v\n", err)
		return 1
	}
	defer d.eng.Hooks().Unregister(ops)
	r := out.(*replier)
	n := 0
	for stop := false; !stop && (max == 0 || n < max); {
		select {
		case <-ctx.Done():
			stop = true
		case p := <-ch:
			if err := r.send(frame{Pkt: p.b, TS: p.ts}); err != nil {
				return 0
			}
			n++
		}
	}
	if l := lost.Load(); l > 0 {
		fmt.Fprintf(errOut, "nfgo capture: %d packets were left out (the capture went faster than it was read)\n", l)
	}
	return 0
}
