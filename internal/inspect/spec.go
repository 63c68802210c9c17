package inspect

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Spec is a packet described on the command line, in tcpdump's order:
//
//	tcp 10.0.1.2:40000 > 10.0.1.100:80 flags S len 100
//	udp 10.0.1.2:5353 > 10.0.1.100:53 len 40 ttl 1
//	icmp 10.0.1.2 > 10.0.1.100 type 8
//	icmp 10.0.2.11 > 10.0.1.2 type 3 code 4 mtu 1400 quote tcp 10.0.1.2:40000 > 10.0.2.11:8080 flags A
//
// Keywords after the addresses: flags (TCP, letters S A F R P U as tcpdump
// prints them; default S), len (payload bytes, default 0), ttl (default
// 64), nodf (clear Don't Fragment, set by default), type and code (ICMP,
// default 8 0: echo request), mtu (ICMP fragmentation needed), quote (an
// ICMP error's quoted packet: the rest of the line is its Spec).
type Spec struct {
	Proto    string // tcp, udp or icmp
	Src, Dst netip.AddrPort
	Flags    string
	Len      int
	TTL      uint8
	NoDF     bool
	Type     uint8
	Code     uint8
	MTU      uint16
	Quote    *Spec
}

// ParseSpec parses one packet description (see Spec).
func ParseSpec(s string) (*Spec, error) {
	f := strings.Fields(s)
	sp, rest, err := parseSpec(f)
	if err != nil {
		return nil, fmt.Errorf("packet %q: %w", s, err)
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("packet %q: unexpected %q", s, strings.Join(rest, " "))
	}
	return sp, nil
}

// ParseSpecs parses several packet descriptions separated by ";".
func ParseSpecs(s string) ([]*Spec, error) {
	var out []*Spec
	for _, part := range strings.Split(s, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		sp, err := ParseSpec(part)
		if err != nil {
			return nil, err
		}
		out = append(out, sp)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no packet described; write e.g. %q", "tcp 10.0.1.2:40000 > 10.0.1.100:80 flags S")
	}
	return out, nil
}

const specUsage = "write PROTO SRC > DST [flags S|SA|A|PA|FA|R] [len N] [ttl N] [nodf], e.g. \"tcp 10.0.1.2:40000 > 10.0.1.100:80 flags S\""

func parseSpec(f []string) (*Spec, []string, error) {
	if len(f) < 4 || f[2] != ">" {
		return nil, nil, fmt.Errorf("%s", specUsage)
	}
	sp := &Spec{Proto: strings.ToLower(f[0]), TTL: 64}
	ports := sp.Proto == "tcp" || sp.Proto == "udp"
	if !ports && sp.Proto != "icmp" {
		return nil, nil, fmt.Errorf("protocol %q: use tcp, udp or icmp", f[0])
	}
	var err error
	if sp.Src, err = parseEndpoint(f[1], ports); err != nil {
		return nil, nil, err
	}
	if sp.Dst, err = parseEndpoint(f[3], ports); err != nil {
		return nil, nil, err
	}
	if sp.Proto == "tcp" {
		sp.Flags = "S"
	}
	if sp.Proto == "icmp" {
		sp.Type = 8
	}
	f = f[4:]
	for len(f) > 0 {
		kw := strings.ToLower(f[0])
		if kw == "nodf" {
			sp.NoDF = true
			f = f[1:]
			continue
		}
		if kw == "quote" {
			if sp.Proto != "icmp" {
				return nil, nil, fmt.Errorf("quote is for ICMP errors")
			}
			q, rest, err := parseSpec(f[1:])
			if err != nil {
				return nil, nil, fmt.Errorf("quote: %w", err)
			}
			sp.Quote = q
			return sp, rest, nil
		}
		if len(f) < 2 {
			return nil, nil, fmt.Errorf("%q needs a value", f[0])
		}
		v := f[1]
		switch kw {
		case "flags":
			if sp.Proto != "tcp" {
				return nil, nil, fmt.Errorf("flags are for tcp")
			}
			for _, c := range strings.ToUpper(strings.Trim(v, "[]")) {
				if !strings.ContainsRune("SAFRPU.", c) {
					return nil, nil, fmt.Errorf("flag %q: use S A F R P U (or . for ACK)", c)
				}
			}
			sp.Flags = strings.ToUpper(strings.Trim(v, "[]"))
		case "len", "length":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 9000 {
				return nil, nil, fmt.Errorf("len %q: use a payload size from 0 to 9000 bytes", v)
			}
			sp.Len = n
		case "ttl", "type", "code":
			n, err := strconv.ParseUint(v, 10, 8)
			if err != nil {
				return nil, nil, fmt.Errorf("%s %q: use 0 to 255", kw, v)
			}
			switch kw {
			case "ttl":
				sp.TTL = uint8(n)
			case "type":
				sp.Type = uint8(n)
			default:
				sp.Code = uint8(n)
			}
		case "mtu":
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				return nil, nil, fmt.Errorf("mtu %q: use 68 to 65535", v)
			}
			sp.MTU = uint16(n)
		default:
			return nil, nil, fmt.Errorf("unknown keyword %q; %s", f[0], specUsage)
		}
		f = f[2:]
	}
	return sp, nil, nil
}

func parseEndpoint(s string, ports bool) (netip.AddrPort, error) {
	if !ports {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return netip.AddrPort{}, fmt.Errorf("address %q: use an IPv4 address (ICMP has no ports)", s)
		}
		return netip.AddrPortFrom(a, 0), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || !ap.Addr().Is4() {
		return netip.AddrPort{}, fmt.Errorf("endpoint %q: use IPv4ADDR:PORT", s)
	}
	return ap, nil
}

// SynthMAC is the made-up MAC inspect gives a host it has no frame from:
// 02:00 (locally administered) followed by its IPv4 address, so that the
// MAC names the host in every dump.
func SynthMAC(a netip.Addr) [6]byte {
	b := a.As4()
	return [6]byte{0x02, 0x00, b[0], b[1], b[2], b[3]}
}

// Frame builds the Ethernet frame a Spec describes, from srcMAC to dstMAC,
// with correct lengths and checksums.
func (sp *Spec) Frame(srcMAC, dstMAC [6]byte) ([]byte, error) {
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(srcMAC[:]), DstMAC: net.HardwareAddr(dstMAC[:]), EthernetType: layers.EthernetTypeIPv4}
	ls, err := sp.ipLayers()
	if err != nil {
		return nil, err
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, append([]gopacket.SerializableLayer{eth}, ls...)...); err != nil {
		return nil, fmt.Errorf("building the packet: %w", err)
	}
	return buf.Bytes(), nil
}

// ipLayers returns the IPv4 datagram's layers.
func (sp *Spec) ipLayers() ([]gopacket.SerializableLayer, error) {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: sp.TTL, SrcIP: sp.Src.Addr().AsSlice(), DstIP: sp.Dst.Addr().AsSlice(), Id: 0x1234}
	if !sp.NoDF {
		ip.Flags = layers.IPv4DontFragment
	}
	payload := gopacket.Payload(make([]byte, sp.Len))
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	switch sp.Proto {
	case "tcp":
		ip.Protocol = layers.IPProtocolTCP
		t := &layers.TCP{SrcPort: layers.TCPPort(sp.Src.Port()), DstPort: layers.TCPPort(sp.Dst.Port()), Seq: 1000, Window: 64240}
		for _, c := range sp.Flags {
			switch c {
			case 'S':
				t.SYN = true
			case 'A', '.':
				t.ACK = true
			case 'F':
				t.FIN = true
			case 'R':
				t.RST = true
			case 'P':
				t.PSH = true
			case 'U':
				t.URG = true
			}
		}
		if t.ACK {
			t.Ack = 2000
		}
		t.SetNetworkLayerForChecksum(ip)
		return []gopacket.SerializableLayer{ip, t, payload}, nil
	case "udp":
		ip.Protocol = layers.IPProtocolUDP
		u := &layers.UDP{SrcPort: layers.UDPPort(sp.Src.Port()), DstPort: layers.UDPPort(sp.Dst.Port())}
		u.SetNetworkLayerForChecksum(ip)
		return []gopacket.SerializableLayer{ip, u, payload}, nil
	}
	ip.Protocol = layers.IPProtocolICMPv4
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(sp.Type, sp.Code)}
	if sp.Type == 3 && sp.Code == 4 {
		ic.Seq = sp.MTU // the next-hop MTU sits in the low 16 bits of the rest of the header
	} else if sp.Type == 8 || sp.Type == 0 {
		ic.Id, ic.Seq = 1, 1
	}
	if sp.Quote == nil {
		return []gopacket.SerializableLayer{ip, ic, payload}, nil
	}
	ql, err := sp.Quote.ipLayers()
	if err != nil {
		return nil, err
	}
	qb := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(qb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ql...); err != nil {
		return nil, fmt.Errorf("building the quoted packet: %w", err)
	}
	q := qb.Bytes()
	q = q[:min(len(q), 28)] // a router quotes the header and 8 bytes (RFC 792)
	return []gopacket.SerializableLayer{ip, ic, gopacket.Payload(q)}, nil
}
