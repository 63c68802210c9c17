package vrrp

import (
	"testing"
)

func BenchmarkEncodePacket(b *testing.B) {
	f := goldens[1].fields
	buf := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		EncodePacket(buf, &f, [4]byte{192, 168, 77, 1}, Group.As4(), 1, true)
	}
}

func BenchmarkVerify(b *testing.B) {
	g := goldens[1]
	p := Packet(unhex(b, g.hex))
	c := goldenCheck(g.fields, g.dst)
	b.ReportAllocs()
	for b.Loop() {
		if _, d := c.verify(p); d != DropNone {
			b.Fatal(d)
		}
	}
}
