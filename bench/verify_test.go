package bench

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/ulvs/ulvs/forward/header"
)

// rewriteFrame does by hand what a subject does, for the sink tests.
func rewriteFrame(f []byte, r Rewrite, realMAC [6]byte, real [4]byte) []byte {
	out := append([]byte(nil), f...)
	copy(out[0:6], realMAC[:])
	ip := header.IPv4(out[14:])
	switch r {
	case RewriteNAT:
		old := ip.Dst()
		ip.SetDstWithChecksumUpdate(real)
		l4 := out[34:]
		off := 6
		if ip.Protocol() == protoTCP {
			off = 16
		}
		c := binary.BigEndian.Uint16(l4[off:])
		binary.BigEndian.PutUint16(l4[off:], header.ChecksumUpdateAddress(c, old, real))
	case RewriteTUN:
		inner := append([]byte(nil), out[14:]...)
		outer := make([]byte, 14+20+len(inner))
		copy(outer, out[:14])
		header.IPv4(outer[14:]).Encode(&header.IPv4Fields{TotalLength: uint16(20 + len(inner)), TTL: 64, Protocol: 4, Src: [4]byte{10, 0, 2, 1}, Dst: real})
		copy(outer[34:], inner)
		out = outer
	}
	return out
}

func TestTemplateAndCheck(t *testing.T) {
	pl := placement{srcMAC: [6]byte{2, 0, 0, 0, 0, 1}, dstMAC: [6]byte{2, 0, 0, 0, 0, 2}, vip: [4]byte{10, 0, 1, 100}, port: 5300}
	realMAC, real := [6]byte{2, 0, 0, 0, 0, 9}, [4]byte{10, 0, 2, 11}
	pkts := []Packet{
		{Proto: protoUDP, Client: 3, SrcPort: 1234, FrameLen: 60, Flow: 7},
		{Proto: protoTCP, Client: 79, SrcPort: 65535, TCPFlags: 0x18, TCPSeq: 99, FrameLen: 1514, Flow: 8, Payload: []byte("0123456789abcdefghijXYZ")},
		{Proto: protoTCP, Client: 0, SrcPort: 1, TCPFlags: header.TCPFlagSYN, FrameLen: 72, Flow: NoFlow},
	}
	for _, p := range pkts {
		tm, err := buildTemplate(&p, pl)
		if err != nil {
			t.Fatal(err)
		}
		slot := make([]byte, 2048)
		for _, fs := range []stampFields{
			{sport: p.SrcPort, epoch: 5, flow: p.Flow, flowSeq: 1, seq: 0, ts: 0},
			{sport: 0xffff, epoch: 255, flow: p.Flow, flowSeq: math.MaxUint32, seq: 0xfedcba98, ts: 0xffffffff},
		} {
			n := tm.write(slot, fs)
			frame := slot[:n]
			for _, r := range []Rewrite{RewriteNone, RewriteNAT, RewriteDR, RewriteTUN} {
				e := expectation{mac: realMAC, real: real, vip: pl.vip, port: 5300, rewrite: r, epoch: fs.epoch}
				got := rewriteFrame(frame, r, realMAC, real)
				v, st := e.check(got)
				if v != VerdictOK {
					t.Fatalf("proto %d rewrite %v stamp %+v: verdict %d", p.Proto, r, fs, v)
				}
				if st.Seq != fs.seq || st.Flow != fs.flow || st.FlowSeq != fs.flowSeq || st.TS != fs.ts || st.Epoch != fs.epoch {
					t.Fatalf("stamp %+v, wrote %+v", st, fs)
				}
				// A NAT sink must refuse an untranslated packet and vice versa.
				if r == RewriteNAT {
					bad := rewriteFrame(frame, RewriteDR, realMAC, real)
					if v, _ := e.check(bad); v != VerdictWrongRewrite {
						t.Errorf("NAT sink accepted dst=VIP: verdict %d", v)
					}
				}
				// One flipped payload bit is a bad L4 checksum.
				flip := append([]byte(nil), got...)
				flip[len(flip)-1] ^= 1
				if v, _ := e.check(flip); v != VerdictBadL4Checksum {
					t.Errorf("rewrite %v: corrupted payload gave verdict %d", r, v)
				}
				// A flipped TTL bit is a bad IP checksum.
				ttl := append([]byte(nil), got...)
				ttl[22] ^= 1
				if v, _ := e.check(ttl); v != VerdictBadIPChecksum {
					t.Errorf("rewrite %v: corrupted TTL gave verdict %d", r, v)
				}
				// Another window's packet is stale; another host's is ignored.
				e2 := e
				e2.epoch++
				if v, _ := e2.check(got); v != VerdictStale {
					t.Errorf("rewrite %v: other epoch gave verdict %d", r, v)
				}
				e2 = e
				e2.mac[5]++
				if v, _ := e2.check(got); v != VerdictIgnore {
					t.Errorf("rewrite %v: other MAC gave verdict %d", r, v)
				}
			}
		}
	}
}

func TestSyntheticSpec(t *testing.T) {
	tr, err := Synthetic(SyntheticSpec{Flows: 1000, Sizes: []int{60, 1514}, TCPShare: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	if tr.TCP != 250 || tr.UDP != 750 || tr.Flows != 1000 {
		t.Errorf("TCP %d UDP %d flows %d; want 250, 750, 1000", tr.TCP, tr.UDP, tr.Flows)
	}
	seen := map[[3]int]bool{}
	for _, p := range tr.Packets {
		k := [3]int{int(p.Proto), p.Client, int(p.SrcPort)}
		if seen[k] {
			t.Fatalf("tuple %v twice", k)
		}
		seen[k] = true
		if p.Client >= ClientAddrs || p.FrameLen < minFrameLen(p.Proto) {
			t.Fatalf("bad packet %+v", p)
		}
	}
	fl, err := Synthetic(SyntheticSpec{Flows: 10, SYNFlood: true})
	if err != nil {
		t.Fatal(err)
	}
	if fl.Flows != 0 || fl.TCP != 10 || fl.Packets[0].TCPFlags != header.TCPFlagSYN || fl.Packets[0].Flow != NoFlow {
		t.Errorf("SYN flood traffic %+v", fl)
	}
	for _, bad := range []SyntheticSpec{{Flows: -1}, {TCPShare: 2}, {Sizes: []int{40}}, {Sizes: []int{9000}}, {NewConnRate: -1}} {
		if _, err := Synthetic(bad); err == nil {
			t.Errorf("Synthetic(%+v) succeeded", bad)
		}
	}
}

func TestHistogram(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 {
		t.Error("empty histogram has a quantile")
	}
	for i := range 1000 {
		h.Add(uint32(1000 * (i + 1))) // 1..1000 us
	}
	for _, tc := range []struct{ q, want float64 }{{0.5, 500e3}, {0.99, 990e3}, {0.999, 999e3}} {
		if got := h.Quantile(tc.q); math.Abs(got-tc.want)/tc.want > 0.07 {
			t.Errorf("q%v = %v, want %v within 7%%", tc.q, got, tc.want)
		}
	}
	for _, v := range []uint32{0, 1, 15, 16, 17, 1 << 20, math.MaxUint32} {
		if b := latencyBucket(v); b < 0 || b >= latencyBuckets {
			t.Errorf("bucket(%d) = %d", v, b)
		} else if lo := bucketValue(b); math.Abs(lo-float64(v)) > float64(v)/16+1 {
			t.Errorf("bucket(%d) middle %v too far", v, lo)
		}
	}
}

func TestParsePace(t *testing.T) {
	for in, want := range map[string]Pace{
		"max": {Mode: PaceMax}, "recorded": {Mode: PaceRecorded, Speed: 1}, "x2.5": {Mode: PaceRecorded, Speed: 2.5},
		"50000": {Mode: PaceRate, Rate: 50000}, "50k": {Mode: PaceRate, Rate: 50000}, "1.2M": {Mode: PaceRate, Rate: 1.2e6},
	} {
		got, err := ParsePace(in)
		if err != nil || got != want {
			t.Errorf("ParsePace(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "fast", "x0", "x-1", "-5", "0", "12q"} {
		if _, err := ParsePace(in); err == nil {
			t.Errorf("ParsePace(%q) succeeded", in)
		}
	}
}
