package inspect

import (
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct {
		in, err string
	}{
		{in: "tcp 10.0.1.2:40000 > 10.0.1.100:80 flags S len 100"},
		{in: "udp 10.0.1.2:5353 > 10.0.1.100:5000 len 40 ttl 1 nodf"},
		{in: "icmp 10.0.1.2 > 10.0.1.100"},
		{in: "icmp 10.0.2.11 > 10.0.1.2 type 3 code 4 mtu 1400 quote tcp 10.0.1.2:40000 > 10.0.2.11:8080 flags A"},
		{in: "tcp 10.0.1.2 > 10.0.1.100:80", err: "IPv4ADDR:PORT"},
		{in: "sctp 10.0.1.2:1 > 10.0.1.100:80", err: "use tcp, udp or icmp"},
		{in: "tcp 10.0.1.2:1 > 10.0.1.100:80 flags X", err: "flag"},
		{in: "udp 10.0.1.2:1 > 10.0.1.100:80 flags S", err: "flags are for tcp"},
		{in: "tcp 10.0.1.2:1 > 10.0.1.100:80 len", err: "needs a value"},
		{in: "tcp 10.0.1.2:1 10.0.1.100:80", err: "PROTO SRC > DST"},
	} {
		sp, err := ParseSpec(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		frame, err := sp.Frame([6]byte{2, 0, 0, 0, 0, 1}, [6]byte{2, 0, 0, 0, 0, 2})
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
		if el := pkt.ErrorLayer(); el != nil {
			t.Errorf("%q: gopacket: %v", tc.in, el.Error())
		}
		ip := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip.SrcIP.String() != sp.Src.Addr().String() || ip.TTL != sp.TTL {
			t.Errorf("%q: built %v ttl %d", tc.in, ip.SrcIP, ip.TTL)
		}
		if tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && (len(tcp.Payload) != sp.Len || !tcp.SYN) {
			t.Errorf("%q: TCP payload %d SYN %v", tc.in, len(tcp.Payload), tcp.SYN)
		}
	}
}

func TestParseSpecs(t *testing.T) {
	s, err := ParseSpecs("tcp 10.0.1.2:40000 > 10.0.1.100:80 flags S; tcp 10.0.2.11:80 > 10.0.1.2:40000 flags SA")
	if err != nil || len(s) != 2 || s[1].Flags != "SA" {
		t.Fatalf("ParseSpecs: %v %+v", err, s)
	}
	if _, err := ParseSpecs(" ; "); err == nil {
		t.Error("empty list: no error")
	}
}
