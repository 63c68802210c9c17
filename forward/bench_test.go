package forward

import (
	"testing"

	"github.com/ulvs/ulvs/forward/header"
)

// benchFrames are the frames the allocation tests and benchmarks push
// through each method: a TCP data segment and a related ICMP error.
func benchTCP() []byte {
	f := tcpSYN()
	f.tcpFlags = header.TCPFlagACK | header.TCPFlagPSH
	f.payload = make([]byte, 64)
	return f.build()
}

func benchICMP() []byte {
	q := (&testFrame{src: testVIP, dst: testClient, proto: header.ProtoTCP, ttl: 63, sport: 80, dport: 40000,
		payload: make([]byte, 32)}).datagram()
	return icmpErr(3, 4, q).build()
}

var sinkN int

// methods are the parse+rewrite paths as the packet loop runs them.
var methods = []struct {
	name string
	run  func(dst, frame []byte, p *Parsed) DropReason
}{
	{"DR", func(_, frame []byte, p *Parsed) DropReason {
		if r := p.Decode(frame); r != DropNone {
			return r
		}
		return DR(frame, p, dirOutMAC, rsMAC)
	}},
	{"NAT", func(_, frame []byte, p *Parsed) DropReason {
		if r := p.Decode(frame); r != DropNone {
			return r
		}
		return NATInbound(frame, p, rip, rportTCP, dirOutMAC, rsMAC)
	}},
	{"NATOutbound", func(_, frame []byte, p *Parsed) DropReason {
		if r := p.Decode(frame); r != DropNone {
			return r
		}
		return NATOutbound(frame, p, vip, vportTCP, dirInMAC, clientMAC)
	}},
	{"TUN", func(dst, frame []byte, p *Parsed) DropReason {
		if r := p.Decode(frame); r != DropNone {
			return r
		}
		n, r := TUN(dst, frame, p, dirOut, ripTUN, dirOutMAC, rsMAC, 1500, 1)
		sinkN = n
		return r
	}},
	{"NATICMP", func(_, frame []byte, p *Parsed) DropReason {
		if r := p.Decode(frame); r != DropNone {
			return r
		}
		return NATInbound(frame, p, rip, rportTCP, dirOutMAC, rsMAC)
	}},
	{"ParseOnly", func(_, frame []byte, p *Parsed) DropReason {
		return p.Decode(frame)
	}},
}

func methodFrame(name string) []byte {
	if name == "NATICMP" {
		return benchICMP()
	}
	return benchTCP()
}

func TestNoAllocs(t *testing.T) {
	dst := make([]byte, 2048)
	var p Parsed
	for _, m := range methods {
		orig := methodFrame(m.name)
		frame := make([]byte, len(orig))
		t.Run(m.name, func(t *testing.T) {
			allocs := testing.AllocsPerRun(1000, func() {
				copy(frame, orig)
				if r := m.run(dst, frame, &p); r != DropNone {
					t.Fatalf("%v", r)
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocs per run, want 0", allocs)
			}
		})
	}
	t.Run("BuildTimeExceeded+FragNeeded+DecodeStatus", func(t *testing.T) {
		orig := benchTCP()
		frame := make([]byte, len(orig))
		allocs := testing.AllocsPerRun(1000, func() {
			copy(frame, orig)
			if r := p.DecodeStatus(frame, true); r != DropNone {
				t.Fatalf("%v", r)
			}
			sinkN = BuildTimeExceeded(dst, frame, &p, vip, dirInMAC, clientMAC)
			sinkN += BuildFragNeeded(dst, frame, &p, 1480, vip, dirInMAC, clientMAC)
		})
		if allocs != 0 || sinkN == 0 {
			t.Errorf("%v allocs per run (wrote %d), want 0", allocs, sinkN)
		}
	})
}

// BenchmarkParseRewrite measures decode plus rewrite per method on a
// 118-byte TCP segment (64 bytes of payload). The frame is restored from a
// copy each iteration (about 2 ns, the same for every method) so the TTL
// never runs out.
func BenchmarkParseRewrite(b *testing.B) {
	dst := make([]byte, 2048)
	for _, m := range methods {
		orig := methodFrame(m.name)
		frame := make([]byte, len(orig))
		b.Run(m.name, func(b *testing.B) {
			var p Parsed
			b.ReportAllocs()
			b.SetBytes(int64(len(orig)))
			for b.Loop() {
				copy(frame, orig)
				if r := m.run(dst, frame, &p); r != DropNone {
					b.Fatal(r)
				}
			}
		})
	}
}

func BenchmarkCompleteChecksum(b *testing.B) {
	f := tcpSYN()
	f.payload = make([]byte, 1400)
	frame := f.build()
	var p Parsed
	p.Decode(frame)
	b.ReportAllocs()
	b.SetBytes(int64(p.End - p.L4))
	for b.Loop() {
		CompleteChecksum(frame, &p)
	}
}
