package bench

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/ulvs/ulvs/forward/header"
)

// packetReader is what pcapgo's pcap and pcapng readers share.
type packetReader interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

// pcapngMagic is the block type of a pcapng Section Header Block.
var pcapngMagic = []byte{0x0a, 0x0d, 0x0d, 0x0a}

// flowKey is an original 5-tuple, in the direction of its first packet.
type flowKey struct {
	src, dst     [4]byte
	sport, dport uint16
	proto        uint8
}

func (k flowKey) reverse() flowKey {
	return flowKey{src: k.dst, dst: k.src, sport: k.dport, dport: k.sport, proto: k.proto}
}

// LoadPcap reads a pcap or pcapng capture (Ethernet, raw IP or Linux cooked
// link type) and maps its IPv4 TCP and UDP flows onto the topology: the
// initiator of each flow (the sender of its first packet) becomes a client
// address, the destination the VIP and the service port; the source port,
// TCP flags, sequence numbers, sizes, payload bytes and timing are kept.
// Packets in the reverse direction (replies) are left out: the real
// servers answer for themselves. Errors name the file and the problem.
func LoadPcap(path string) (*Traffic, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bench: pcap %s: cannot read it: %w", path, err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, err := br.Peek(4)
	switch {
	case errors.Is(err, io.EOF):
		return nil, fmt.Errorf("bench: pcap %s: too short for a capture file header (%d bytes)", path, len(magic))
	case err != nil:
		return nil, fmt.Errorf("bench: pcap %s: cannot read it: %w", path, err)
	}
	var r packetReader
	if bytes.Equal(magic, pcapngMagic) {
		r, err = pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
	} else {
		r, err = pcapgo.NewReader(br)
	}
	if err != nil {
		return nil, fmt.Errorf("bench: pcap %s: not a pcap or pcapng file: %w", path, err)
	}
	lt := r.LinkType()
	switch lt {
	case layers.LinkTypeEthernet, layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeLinuxSLL, 12 /* DLT_RAW on some systems */ :
	default:
		return nil, fmt.Errorf("bench: pcap %s: link type %d (%v) is not supported: use Ethernet, raw IP or Linux cooked (SLL) captures", path, int(lt), lt)
	}
	t := &Traffic{Name: path, Paced: true}
	flows := map[flowKey]uint32{}
	clients := map[[4]byte]int{}
	var first time.Time
	var total, nonIP, reverse, fragments int
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("bench: pcap %s: truncated: the file ends inside packet %d (cut off while copying?)", path, total+1)
			}
			return nil, fmt.Errorf("bench: pcap %s: packet %d: %w", path, total+1, err)
		}
		total++
		ipb := linkPayload(lt, data)
		ip := header.IPv4(ipb)
		if len(ipb) < header.IPv4MinHeaderLen || ip.Version() != 4 || ip.HeaderLength() < header.IPv4MinHeaderLen || len(ipb) < ip.HeaderLength() {
			nonIP++
			continue
		}
		proto := ip.Protocol()
		if proto != protoTCP && proto != protoUDP {
			nonIP++
			continue
		}
		if ip.IsFragment() {
			fragments++
			continue
		}
		l4 := ipb[ip.HeaderLength():]
		if len(l4) < 4 {
			nonIP++
			continue
		}
		k := flowKey{src: ip.Src(), dst: ip.Dst(), sport: binary.BigEndian.Uint16(l4[0:2]), dport: binary.BigEndian.Uint16(l4[2:4]), proto: proto}
		id, ok := flows[k]
		if !ok {
			if _, rev := flows[k.reverse()]; rev {
				reverse++
				continue
			}
			id = uint32(len(flows))
			flows[k] = id
		}
		c, ok := clients[k.src]
		if !ok {
			c = len(clients)
			clients[k.src] = c
		}
		if first.IsZero() {
			first = ci.Timestamp
		}
		p := Packet{Proto: proto, Client: c, SrcPort: k.sport, Flow: id, At: ci.Timestamp.Sub(first)}
		hl := 8
		if proto == protoTCP {
			if len(l4) >= header.TCPMinHeaderLen {
				p.TCPSeq = binary.BigEndian.Uint32(l4[4:8])
				p.TCPAck = binary.BigEndian.Uint32(l4[8:12])
				p.TCPFlags = l4[13]
			}
			hl = header.TCPMinHeaderLen // options are dropped
			t.TCP++
		} else {
			t.UDP++
		}
		// The original length counts even when the capture was cut short
		// by its snap length; options beyond 20 bytes are not replayed.
		orig := int(ip.TotalLength()) - ip.HeaderLength() + header.IPv4MinHeaderLen
		if proto == protoTCP && len(l4) >= 13 {
			orig -= int(l4[12]>>4)*4 - header.TCPMinHeaderLen
			if dataOff := int(l4[12]>>4) * 4; dataOff <= len(l4) {
				p.Payload = l4[dataOff:]
			}
		} else if len(l4) >= hl {
			p.Payload = l4[hl:]
		}
		p.FrameLen = min(max(header.EthernetHeaderLen+orig, minFrameLen(proto)), MaxFrameLen)
		p.Payload = bytes.Clone(p.Payload[:min(len(p.Payload), p.FrameLen)])
		t.Packets = append(t.Packets, p)
		if p.At > t.Duration {
			t.Duration = p.At
		}
	}
	if len(t.Packets) == 0 {
		return nil, fmt.Errorf("bench: pcap %s: no IPv4 TCP or UDP packets among its %d packets (%d other, %d fragments); bench replays IPv4 TCP and UDP only",
			path, total, nonIP, fragments)
	}
	t.Flows = len(flows)
	if len(clients) > ClientAddrs {
		t.Name += fmt.Sprintf(" (%d client addresses folded onto %d)", len(clients), ClientAddrs)
	}
	if reverse > 0 {
		t.Name += fmt.Sprintf(" (%d reply packets left out)", reverse)
	}
	return t, nil
}

// linkPayload strips the link-layer header of one captured frame and
// returns its network-layer bytes, or nil when it is not IPv4.
func linkPayload(lt layers.LinkType, data []byte) []byte {
	switch lt {
	case layers.LinkTypeEthernet:
		if len(data) < 14 {
			return nil
		}
		et, off := binary.BigEndian.Uint16(data[12:14]), 14
		for (et == 0x8100 || et == 0x88a8) && len(data) >= off+4 {
			et, off = binary.BigEndian.Uint16(data[off+2:off+4]), off+4
		}
		if et != 0x0800 {
			return nil
		}
		return data[off:]
	case layers.LinkTypeLinuxSLL:
		if len(data) < 16 || binary.BigEndian.Uint16(data[14:16]) != 0x0800 {
			return nil
		}
		return data[16:]
	default: // raw IP
		return data
	}
}
