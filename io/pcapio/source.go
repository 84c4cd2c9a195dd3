package pcapio

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nfgo/nfgo/packet"
)

// pcapngMagic is the block type of a pcapng section header, the first four
// bytes of every pcapng file.
var pcapngMagic = []byte{0x0a, 0x0d, 0x0d, 0x0a}

// Link types of raw-IP captures other than layers' names: DLT_RAW as most
// systems number it (12) and as OpenBSD does (14).
const (
	linkTypeDLTRaw        layers.LinkType = 12
	linkTypeDLTRawOpenBSD layers.LinkType = 14
)

// Lengths of the Linux cooked-capture headers.
const (
	sllLen  = 16
	sll2Len = 20
)

// source reads frames from a pcap or pcapng capture and turns them into
// the port's link type.
type source struct {
	pcap  *pcapgo.Reader
	ng    *pcapgo.NgReader
	file  layers.LinkType
	link  packet.LinkType
	strip int // cooked header length to take off, 0 for none
}

func newSource(r io.Reader) (*source, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("pcapio: read capture header: %w", err)
	}
	s := &source{}
	if string(magic) == string(pcapngMagic) {
		s.ng, err = pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{SkipUnknownVersion: true})
		if err == nil {
			s.file = s.ng.LinkType()
		}
	} else {
		s.pcap, err = pcapgo.NewReader(br)
		if err == nil {
			s.file = s.pcap.LinkType()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("pcapio: %w", err)
	}
	switch s.file {
	case layers.LinkTypeEthernet:
		s.link = packet.LinkEthernet
	case layers.LinkTypeRaw, linkTypeDLTRaw, linkTypeDLTRawOpenBSD, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		s.link = packet.LinkRaw
	case layers.LinkTypeLinuxSLL:
		s.link, s.strip = packet.LinkRaw, sllLen
	case layers.LinkTypeLinuxSLL2:
		s.link, s.strip = packet.LinkRaw, sll2Len
	default:
		return nil, fmt.Errorf("%w %d (%s)", ErrLinkType, s.file, s.file)
	}
	return s, nil
}

// next returns the next frame, valid until the following call, or nil
// data for a frame to skip (a cooked frame that is not IP). At the end it
// returns io.EOF.
func (s *source) next() ([]byte, gopacket.CaptureInfo, error) {
	var data []byte
	var ci gopacket.CaptureInfo
	var err error
	if s.ng != nil {
		data, ci, err = s.ng.ZeroCopyReadPacketData()
	} else {
		data, ci, err = s.pcap.ZeroCopyReadPacketData()
	}
	if err != nil || s.strip == 0 {
		return data, ci, err
	}
	if len(data) < s.strip {
		return nil, ci, nil
	}
	var proto uint16
	if s.strip == sllLen {
		proto = binary.BigEndian.Uint16(data[14:16])
	} else {
		proto = binary.BigEndian.Uint16(data[0:2])
	}
	if proto != 0x0800 && proto != 0x86dd {
		return nil, ci, nil
	}
	return data[s.strip:], ci, nil
}
