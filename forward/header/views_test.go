package header

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

func TestIPv4View(t *testing.T) {
	// 10.0.1.10 -> 10.0.1.100, TCP, DF, TTL 64, id 0x1234 (from tcpdump).
	b := IPv4{0x45, 0x00, 0x00, 0x2c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x12, 0x2b,
		0x0a, 0x00, 0x01, 0x0a, 0x0a, 0x00, 0x01, 0x64}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"IsValid", IPv4(append(b, make([]byte, 24)...)).IsValid(), true},
		{"IsValid short total", b.IsValid(), false}, // total length 44 > 20 bytes present
		{"Version", b.Version(), uint8(4)},
		{"HeaderLength", b.HeaderLength(), 20},
		{"TotalLength", b.TotalLength(), uint16(44)},
		{"ID", b.ID(), uint16(0x1234)},
		{"DF", b.DF(), true},
		{"MF", b.MF(), false},
		{"IsFragment", b.IsFragment(), false},
		{"TTL", b.TTL(), uint8(64)},
		{"Protocol", b.Protocol(), ProtoTCP},
		{"Checksum", b.Checksum(), uint16(0x122b)},
		{"ComputeChecksum", b.ComputeChecksum(), uint16(0x122b)},
		{"IsChecksumValid", b.IsChecksumValid(), true},
		{"Src", b.Src(), [4]byte{10, 0, 1, 10}},
		{"DstAddr", b.DstAddr(), netip.MustParseAddr("10.0.1.100")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestIPv4Encode(t *testing.T) {
	b := make(IPv4, 20)
	b.Encode(&IPv4Fields{TotalLength: 44, ID: 0x1234, Flags: IPv4FlagDF, TTL: 64, Protocol: ProtoTCP,
		Src: [4]byte{10, 0, 1, 10}, Dst: [4]byte{10, 0, 1, 100}})
	want := IPv4{0x45, 0x00, 0x00, 0x2c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x12, 0x2b,
		0x0a, 0x00, 0x01, 0x0a, 0x0a, 0x00, 0x01, 0x64}
	if string(b) != string(want) {
		t.Fatalf("Encode = % x\nwant     % x", b, want)
	}
}

// TestIPv4EncodeChecksum: the checksum Encode sums from the fields is the
// one computed over the written bytes, for extreme and random fields
// (Encode never reads b back, so only this test ties the two together).
func TestIPv4EncodeChecksum(t *testing.T) {
	fields := []IPv4Fields{
		{},
		{TOS: 0xff, TotalLength: 0xffff, ID: 0xffff, Flags: 0xffff, TTL: 0xff, Protocol: 0xff,
			Src: [4]byte{255, 255, 255, 255}, Dst: [4]byte{255, 255, 255, 255}},
		{TotalLength: 0xbaff, ID: 1, Flags: IPv4FlagDF, TTL: 1, Protocol: ProtoIPIP},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		var f IPv4Fields
		f.TOS, f.TTL, f.Protocol = uint8(rng.Uint32()), uint8(rng.Uint32()), uint8(rng.Uint32())
		f.TotalLength, f.ID, f.Flags = uint16(rng.Uint32()), uint16(rng.Uint32()), uint16(rng.Uint32())
		binary.BigEndian.PutUint32(f.Src[:], rng.Uint32())
		binary.BigEndian.PutUint32(f.Dst[:], rng.Uint32())
		fields = append(fields, f)
	}
	for _, f := range fields {
		b := make(IPv4, 20)
		for i := range b {
			b[i] = 0xa5 // Encode must write every byte
		}
		b.Encode(&f)
		want := b.Checksum()
		b.SetChecksum(0)
		if got := ^Checksum(b, 0); got != want && !(got == 0 && want == 0xffff) {
			t.Fatalf("Encode(%+v) wrote checksum %#04x, the bytes sum to %#04x", f, want, got)
		}
	}
}

func TestMartianSource(t *testing.T) {
	tests := []struct {
		addr [4]byte
		want bool
	}{
		{[4]byte{10, 0, 0, 1}, false},
		{[4]byte{240, 0, 0, 1}, false}, // reserved, accepted by Linux
		{[4]byte{224, 0, 0, 5}, true},
		{[4]byte{239, 255, 255, 250}, true},
		{[4]byte{255, 255, 255, 255}, true},
		{[4]byte{0, 0, 0, 0}, true},
		{[4]byte{0, 1, 2, 3}, true},
		{[4]byte{127, 0, 0, 1}, true},
	}
	for _, tt := range tests {
		if got := IsMartianSource(tt.addr); got != tt.want {
			t.Errorf("IsMartianSource(%v) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

func TestARPView(t *testing.T) {
	b := make(ARP, ARPLen)
	b.Encode(&ARPFields{Op: ARPRequest, SenderHW: [6]byte{2, 0, 0, 0, 0, 1}, SenderIP: [4]byte{10, 0, 1, 10},
		TargetIP: [4]byte{10, 0, 1, 100}})
	if !b.IsValid() || b.Op() != ARPRequest || b.SenderHW() != [6]byte{2, 0, 0, 0, 0, 1} ||
		b.TargetAddr() != netip.MustParseAddr("10.0.1.100") || b.SenderIP() != [4]byte{10, 0, 1, 10} {
		t.Fatalf("ARP round trip: % x", b)
	}
	b[5] = 16 // IPv6-sized protocol addresses: not ours
	if b.IsValid() {
		t.Fatal("IsValid accepted plen 16")
	}
}
