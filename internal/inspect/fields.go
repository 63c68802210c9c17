package inspect

import (
	"encoding/binary"
	"fmt"
	"net"
	"strings"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Frame is one frame as inspect shows it: the bytes and the field tree an
// independent decoder (gopacket) reads from them.
type Frame struct {
	// Interface is where the frame was seen: "client" (the client-facing
	// side of the director) or "real-server".
	Interface string `json:"interface"`
	// Direction is "in" for a frame the director received and "out" for
	// one it sent.
	Direction string  `json:"direction"`
	Length    int     `json:"length"`
	Hex       string  `json:"hex"`
	Layers    []Layer `json:"layers"`
	// Changed lists the byte ranges [start, end) of this frame that differ
	// from the frame it was rewritten from (or were added, as the outer
	// IPv4 header of TUN). Empty for received frames and for frames the
	// director generated (ICMP errors, ARP replies).
	Changed [][2]int `json:"changed_bytes,omitempty"`
	// Generated is set for frames the director built itself rather than
	// rewrote.
	Generated bool `json:"generated,omitempty"`

	data []byte
}

// Layer is one protocol header. Key is the tshark protocol name (eth, ip,
// tcp, udp, icmp, arp, data).
type Layer struct {
	Name   string  `json:"name"`
	Key    string  `json:"key"`
	Offset int     `json:"offset"`
	Length int     `json:"length"`
	Fields []Field `json:"fields"`
	// Outer marks the IPIP tunnel header a TUN rewrite adds.
	Outer bool `json:"outer,omitempty"`
}

// Field is one header field. Key is the tshark display-filter name
// (ip.ttl, tcp.dstport, ...), so that the JSON can be compared with
// tshark -T json.
type Field struct {
	Key    string `json:"key"`
	Name   string `json:"name"`
	Value  string `json:"value"`
	Offset int    `json:"offset"`
	Length int    `json:"length"`
	// Status is "" (unchanged), "changed" (Old holds the value before the
	// rewrite) or "added" (the field's layer was added).
	Status string `json:"status,omitempty"`
	Old    string `json:"old,omitempty"`
	// Check is "correct" or "incorrect" for checksums, as gopacket
	// recomputes them, and "none" for a UDP checksum of zero.
	Check string `json:"check,omitempty"`
}

// decodeFrame reads frame with gopacket and builds its field tree.
func decodeFrame(frame []byte, iface, dir string) Frame {
	f := Frame{Interface: iface, Direction: dir, Length: len(frame), Hex: fmt.Sprintf("%x", frame), data: frame}
	var (
		eth  layers.Ethernet
		arp  layers.ARP
		ips  [2]layers.IPv4
		tcp  layers.TCP
		udp  layers.UDP
		icmp layers.ICMPv4
	)
	off := 0
	// The layers are walked by hand rather than with a DecodingLayerParser
	// so that an IPIP packet decodes both of its IPv4 headers.
	if err := eth.DecodeFromBytes(frame, gopacket.NilDecodeFeedback); err != nil {
		f.Layers = append(f.Layers, dataLayer(frame, 0, "undecodable Ethernet: "+err.Error()))
		return f
	}
	f.Layers = append(f.Layers, ethLayer(&eth, off))
	off += len(eth.Contents)
	rest := eth.Payload
	switch eth.EthernetType {
	case layers.EthernetTypeARP:
		if err := arp.DecodeFromBytes(rest, gopacket.NilDecodeFeedback); err != nil {
			f.Layers = append(f.Layers, dataLayer(rest, off, "undecodable ARP: "+err.Error()))
			return f
		}
		f.Layers = append(f.Layers, arpLayer(&arp, off))
		return f
	case layers.EthernetTypeIPv4:
	default:
		f.Layers = append(f.Layers, dataLayer(rest, off, ""))
		return f
	}
	var net4 *layers.IPv4
	for i := range ips {
		ip := &ips[i]
		if err := ip.DecodeFromBytes(rest, gopacket.NilDecodeFeedback); err != nil {
			f.Layers = append(f.Layers, dataLayer(rest, off, "undecodable IPv4: "+err.Error()))
			return f
		}
		l := ipLayer(ip, off)
		if ip.Protocol == layers.IPProtocolIPv4 {
			l.Name, l.Outer = "Outer IPv4 (IPIP tunnel)", true
		}
		f.Layers = append(f.Layers, l)
		off += len(ip.Contents)
		rest = ip.Payload
		net4 = ip
		if ip.Protocol != layers.IPProtocolIPv4 || ip.FragOffset != 0 {
			break
		}
	}
	if net4.FragOffset != 0 || net4.Flags&layers.IPv4MoreFragments != 0 {
		f.Layers = append(f.Layers, dataLayer(rest, off, "IPv4 fragment"))
		return f
	}
	switch net4.Protocol {
	case layers.IPProtocolTCP:
		if err := tcp.DecodeFromBytes(rest, gopacket.NilDecodeFeedback); err != nil {
			f.Layers = append(f.Layers, dataLayer(rest, off, "undecodable TCP: "+err.Error()))
			return f
		}
		tcp.SetNetworkLayerForChecksum(net4)
		f.Layers = append(f.Layers, tcpLayer(&tcp, off))
		off += len(tcp.Contents)
		rest = tcp.Payload
	case layers.IPProtocolUDP:
		if err := udp.DecodeFromBytes(rest, gopacket.NilDecodeFeedback); err != nil {
			f.Layers = append(f.Layers, dataLayer(rest, off, "undecodable UDP: "+err.Error()))
			return f
		}
		f.Layers = append(f.Layers, udpLayer(&udp, net4, off))
		off += len(udp.Contents)
		rest = udp.Payload
	case layers.IPProtocolICMPv4:
		if err := icmp.DecodeFromBytes(rest, gopacket.NilDecodeFeedback); err != nil {
			f.Layers = append(f.Layers, dataLayer(rest, off, "undecodable ICMP: "+err.Error()))
			return f
		}
		f.Layers = append(f.Layers, icmpLayer(&icmp, off))
		off += len(icmp.Contents)
		rest = icmp.Payload
	}
	if len(rest) > 0 {
		f.Layers = append(f.Layers, dataLayer(rest, off, ""))
	}
	return f
}

func hw(b net.HardwareAddr) string { return b.String() }

func ethLayer(e *layers.Ethernet, off int) Layer {
	return Layer{Name: "Ethernet II", Key: "eth", Offset: off, Length: len(e.Contents), Fields: []Field{
		{Key: "eth.dst", Name: "Destination", Value: hw(e.DstMAC), Offset: off, Length: 6},
		{Key: "eth.src", Name: "Source", Value: hw(e.SrcMAC), Offset: off + 6, Length: 6},
		{Key: "eth.type", Name: "Type", Value: fmt.Sprintf("0x%04x (%v)", uint16(e.EthernetType), e.EthernetType), Offset: off + 12, Length: 2},
	}}
}

func arpLayer(a *layers.ARP, off int) Layer {
	op := "request"
	if a.Operation == layers.ARPReply {
		op = "reply"
	}
	return Layer{Name: "ARP", Key: "arp", Offset: off, Length: len(a.Contents), Fields: []Field{
		{Key: "arp.opcode", Name: "Opcode", Value: fmt.Sprintf("%d (%s)", a.Operation, op), Offset: off + 6, Length: 2},
		{Key: "arp.src.hw_mac", Name: "Sender MAC", Value: hw(a.SourceHwAddress), Offset: off + 8, Length: 6},
		{Key: "arp.src.proto_ipv4", Name: "Sender IP", Value: net.IP(a.SourceProtAddress).String(), Offset: off + 14, Length: 4},
		{Key: "arp.dst.hw_mac", Name: "Target MAC", Value: hw(a.DstHwAddress), Offset: off + 18, Length: 6},
		{Key: "arp.dst.proto_ipv4", Name: "Target IP", Value: net.IP(a.DstProtAddress).String(), Offset: off + 24, Length: 4},
	}}
}

func ipLayer(ip *layers.IPv4, off int) Layer {
	// gopacket recomputes the header checksum when it serializes a copy.
	check := "incorrect"
	cp := *ip
	buf := gopacket.NewSerializeBuffer()
	if err := cp.SerializeTo(buf, gopacket.SerializeOptions{ComputeChecksums: true}); err == nil && cp.Checksum == ip.Checksum {
		check = "correct"
	}
	var flags []string
	if ip.Flags&layers.IPv4DontFragment != 0 {
		flags = append(flags, "DF")
	}
	if ip.Flags&layers.IPv4MoreFragments != 0 {
		flags = append(flags, "MF")
	}
	fl := strings.Join(flags, ", ")
	if fl == "" {
		fl = "none"
	}
	return Layer{Name: "IPv4", Key: "ip", Offset: off, Length: len(ip.Contents), Fields: []Field{
		{Key: "ip.hdr_len", Name: "Header length", Value: fmt.Sprintf("%d bytes", int(ip.IHL)*4), Offset: off, Length: 1},
		{Key: "ip.dsfield", Name: "TOS", Value: fmt.Sprintf("0x%02x", ip.TOS), Offset: off + 1, Length: 1},
		{Key: "ip.len", Name: "Total length", Value: fmt.Sprint(ip.Length), Offset: off + 2, Length: 2},
		{Key: "ip.id", Name: "Identification", Value: fmt.Sprintf("0x%04x", ip.Id), Offset: off + 4, Length: 2},
		{Key: "ip.flags", Name: "Flags", Value: fl, Offset: off + 6, Length: 1},
		{Key: "ip.frag_offset", Name: "Fragment offset", Value: fmt.Sprint(int(ip.FragOffset) * 8), Offset: off + 6, Length: 2},
		{Key: "ip.ttl", Name: "TTL", Value: fmt.Sprint(ip.TTL), Offset: off + 8, Length: 1},
		{Key: "ip.proto", Name: "Protocol", Value: fmt.Sprintf("%d (%v)", uint8(ip.Protocol), protoName(ip.Protocol)), Offset: off + 9, Length: 1},
		{Key: "ip.checksum", Name: "Header checksum", Value: fmt.Sprintf("0x%04x", ip.Checksum), Offset: off + 10, Length: 2, Check: check},
		{Key: "ip.src", Name: "Source", Value: ip.SrcIP.String(), Offset: off + 12, Length: 4},
		{Key: "ip.dst", Name: "Destination", Value: ip.DstIP.String(), Offset: off + 16, Length: 4},
	}}
}

func protoName(p layers.IPProtocol) string {
	switch p {
	case layers.IPProtocolIPv4:
		return "IPIP"
	case layers.IPProtocolICMPv4:
		return "ICMP"
	}
	return p.String()
}

func tcpLayer(t *layers.TCP, off int) Layer {
	// gopacket recomputes the checksum when it serializes a copy.
	check := "incorrect"
	cp := *t
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, &cp, gopacket.Payload(t.Payload)); err == nil && cp.Checksum == t.Checksum {
		check = "correct"
	}
	var fl []string
	for _, f := range []struct {
		on   bool
		name string
	}{{t.SYN, "SYN"}, {t.ACK, "ACK"}, {t.FIN, "FIN"}, {t.RST, "RST"}, {t.PSH, "PSH"}, {t.URG, "URG"}} {
		if f.on {
			fl = append(fl, f.name)
		}
	}
	return Layer{Name: "TCP", Key: "tcp", Offset: off, Length: len(t.Contents), Fields: []Field{
		{Key: "tcp.srcport", Name: "Source port", Value: fmt.Sprint(uint16(t.SrcPort)), Offset: off, Length: 2},
		{Key: "tcp.dstport", Name: "Destination port", Value: fmt.Sprint(uint16(t.DstPort)), Offset: off + 2, Length: 2},
		{Key: "tcp.seq_raw", Name: "Sequence number", Value: fmt.Sprint(t.Seq), Offset: off + 4, Length: 4},
		{Key: "tcp.ack_raw", Name: "Acknowledgment", Value: fmt.Sprint(t.Ack), Offset: off + 8, Length: 4},
		{Key: "tcp.hdr_len", Name: "Header length", Value: fmt.Sprintf("%d bytes", int(t.DataOffset)*4), Offset: off + 12, Length: 1},
		{Key: "tcp.flags", Name: "Flags", Value: strings.Join(fl, ", "), Offset: off + 13, Length: 1},
		{Key: "tcp.window_size_value", Name: "Window", Value: fmt.Sprint(t.Window), Offset: off + 14, Length: 2},
		{Key: "tcp.checksum", Name: "Checksum", Value: fmt.Sprintf("0x%04x", t.Checksum), Offset: off + 16, Length: 2, Check: check},
		{Key: "tcp.urgent_pointer", Name: "Urgent pointer", Value: fmt.Sprint(t.Urgent), Offset: off + 18, Length: 2},
	}}
}

func udpLayer(u *layers.UDP, ip *layers.IPv4, off int) Layer {
	check := "none"
	if u.Checksum != 0 {
		check = "incorrect"
		cp := *u
		cp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, &cp, gopacket.Payload(u.Payload)); err == nil {
			got := binary.BigEndian.Uint16(buf.Bytes()[6:8])
			if got == u.Checksum || (got == 0 && u.Checksum == 0xffff) {
				check = "correct"
			}
		}
	}
	return Layer{Name: "UDP", Key: "udp", Offset: off, Length: len(u.Contents), Fields: []Field{
		{Key: "udp.srcport", Name: "Source port", Value: fmt.Sprint(uint16(u.SrcPort)), Offset: off, Length: 2},
		{Key: "udp.dstport", Name: "Destination port", Value: fmt.Sprint(uint16(u.DstPort)), Offset: off + 2, Length: 2},
		{Key: "udp.length", Name: "Length", Value: fmt.Sprint(u.Length), Offset: off + 4, Length: 2},
		{Key: "udp.checksum", Name: "Checksum", Value: fmt.Sprintf("0x%04x", u.Checksum), Offset: off + 6, Length: 2, Check: check},
	}}
}

func icmpLayer(ic *layers.ICMPv4, off int) Layer {
	check := "incorrect"
	cp := *ic
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, &cp, gopacket.Payload(ic.Payload)); err == nil && cp.Checksum == ic.Checksum {
		check = "correct"
	}
	l := Layer{Name: "ICMP", Key: "icmp", Offset: off, Length: len(ic.Contents), Fields: []Field{
		{Key: "icmp.type", Name: "Type", Value: fmt.Sprintf("%d (%v)", ic.TypeCode.Type(), ic.TypeCode), Offset: off, Length: 1},
		{Key: "icmp.code", Name: "Code", Value: fmt.Sprint(ic.TypeCode.Code()), Offset: off + 1, Length: 1},
		{Key: "icmp.checksum", Name: "Checksum", Value: fmt.Sprintf("0x%04x", ic.Checksum), Offset: off + 2, Length: 2, Check: check},
	}}
	switch {
	case ic.TypeCode.Type() == layers.ICMPv4TypeDestinationUnreachable && ic.TypeCode.Code() == layers.ICMPv4CodeFragmentationNeeded:
		l.Fields = append(l.Fields, Field{Key: "icmp.mtu", Name: "Next-hop MTU", Value: fmt.Sprint(ic.Seq), Offset: off + 6, Length: 2})
	case ic.TypeCode.Type() == layers.ICMPv4TypeEchoRequest || ic.TypeCode.Type() == layers.ICMPv4TypeEchoReply:
		l.Fields = append(l.Fields,
			Field{Key: "icmp.ident", Name: "Identifier", Value: fmt.Sprint(ic.Id), Offset: off + 4, Length: 2},
			Field{Key: "icmp.seq", Name: "Sequence", Value: fmt.Sprint(ic.Seq), Offset: off + 6, Length: 2})
	}
	return l
}

// dataLayer is what follows the last decoded header; note says why
// decoding stopped early, if it did.
func dataLayer(b []byte, off int, note string) Layer {
	l := Layer{Name: "Data", Key: "data", Offset: off, Length: len(b), Fields: []Field{
		{Key: "data.len", Name: "Length", Value: fmt.Sprintf("%d bytes", len(b)), Offset: off, Length: len(b)},
	}}
	if note != "" {
		l.Name = "Data (" + note + ")"
	}
	return l
}

// diff marks after's fields and bytes against before, the frame it was
// rewritten from: layers are paired in order by protocol, an outer IPIP
// header that before lacks counts as added.
func diff(before, after *Frame) {
	bi := 0
	delta := 0 // offset in before minus offset in after, for the payload
	mark := func(a, b int) {
		if n := len(after.Changed); n > 0 && after.Changed[n-1][1] == a {
			after.Changed[n-1][1] = b
			return
		}
		after.Changed = append(after.Changed, [2]int{a, b})
	}
	markBytes := func(aOff, bOff, n int) {
		for i := 0; i < n; i++ {
			ai, bi := aOff+i, bOff+i
			if ai >= len(after.data) {
				return
			}
			if bi < 0 || bi >= len(before.data) || before.data[bi] != after.data[ai] {
				mark(ai, ai+1)
			}
		}
	}
	for li := range after.Layers {
		al := &after.Layers[li]
		var bl *Layer
		if !(al.Outer && !(bi < len(before.Layers) && before.Layers[bi].Outer)) {
			for bi < len(before.Layers) && before.Layers[bi].Key != al.Key {
				bi++
			}
			if bi < len(before.Layers) {
				bl = &before.Layers[bi]
				bi++
			}
		}
		if bl == nil {
			for i := range al.Fields {
				al.Fields[i].Status = "added"
			}
			mark(al.Offset, al.Offset+al.Length)
			continue
		}
		delta = bl.Offset - al.Offset
		old := map[string]string{}
		for _, f := range bl.Fields {
			old[f.Key] = f.Value
		}
		for i := range al.Fields {
			f := &al.Fields[i]
			if v, ok := old[f.Key]; ok && v != f.Value {
				f.Status, f.Old = "changed", v
			}
		}
		markBytes(al.Offset, bl.Offset, al.Length)
	}
	if len(after.Layers) > 0 {
		last := after.Layers[len(after.Layers)-1]
		end := last.Offset + last.Length
		markBytes(end, end+delta, len(after.data)-end)
	}
}
