package header

import (
	"math/rand/v2"
	"testing"
)

// checksumRef is RFC 1071's algorithm as written: 16-bit big-endian words,
// an odd last byte padded with zero, carries folded at the end.
func checksumRef(b []byte, initial uint16) uint16 {
	s := uint64(initial)
	for i := 0; i+1 < len(b); i += 2 {
		s += uint64(b[i])<<8 | uint64(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint64(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

func TestChecksumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 9100)
	for n := 0; n <= 9001; n++ {
		if n > 2100 && n%97 != 0 {
			continue // every length up to jumbo frames would be slow; sample them
		}
		for i := range buf[:n+8] {
			buf[i] = byte(r.Uint32())
		}
		off := n % 8 // unaligned starts too
		b := buf[off : off+n]
		initial := uint16(r.Uint32())
		if got, want := Checksum(b, initial), checksumRef(b, initial); got != want {
			t.Fatalf("len %d off %d initial %#x: Checksum = %#04x, reference %#04x", n, off, initial, got, want)
		}
	}
}

func TestChecksumAllOnes(t *testing.T) {
	// Carries out of 64-bit words must wrap around: all-ones data sums to
	// 0xFFFF at every length.
	b := make([]byte, 1024)
	for i := range b {
		b[i] = 0xff
	}
	for n := 2; n <= len(b); n += 2 {
		if got := Checksum(b[:n], 0xffff); got != 0xffff {
			t.Fatalf("len %d: %#04x, want 0xffff", n, got)
		}
	}
}

// TestChecksumUpdateMatchesRecompute checks RFC 1624 eqn. 3 against a full
// recomputation: change one word of random data, patch the checksum, and
// compare.
func TestChecksumUpdateMatchesRecompute(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		n := 2 + 2*r.IntN(40)
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if r.IntN(8) == 0 {
			clear(b) // sums at the ±0 edge
		}
		hc := ^checksumRef(b, 0)
		i := 2 * r.IntN(n/2)
		old := uint16(b[i])<<8 | uint16(b[i+1])
		new := uint16(r.Uint32())
		if r.IntN(8) == 0 {
			new = ^old
		}
		b[i], b[i+1] = byte(new>>8), byte(new)
		if got, want := checksumUpdate16(hc, old, new), ^checksumRef(b, 0); got != want {
			t.Fatalf("% x: word %d %#04x->%#04x: incremental %#04x, recomputed %#04x", b, i, old, new, got, want)
		}
	}
}

func TestChecksumUpdateAddressMatchesRecompute(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 100000 {
		var h [20]byte
		for i := range h {
			h[i] = byte(r.Uint32())
		}
		h[10], h[11] = 0, 0
		ip := IPv4(h[:])
		h[0] = 0x45
		ip.SetChecksum(^checksumRef(h[:], 0))
		var a [4]byte
		for i := range a {
			a[i] = byte(r.Uint32())
		}
		if r.IntN(2) == 0 {
			ip.SetDstWithChecksumUpdate(a)
		} else {
			ip.SetSrcWithChecksumUpdate(a)
		}
		if ip.TTL() > 1 {
			ip.DecTTLWithChecksumUpdate()
		}
		if got, want := ip.Checksum(), ip.ComputeChecksum(); got != want {
			t.Fatalf("% x: incremental %#04x, recomputed %#04x", h, got, want)
		}
		if !ip.IsChecksumValid() {
			t.Fatalf("% x: checksum does not verify", h)
		}
	}
}

func TestPseudoHeaderChecksum(t *testing.T) {
	src, dst := [4]byte{192, 0, 2, 1}, [4]byte{198, 51, 100, 7}
	ph := []byte{192, 0, 2, 1, 198, 51, 100, 7, 0, 17, 0x05, 0xdc}
	if got, want := PseudoHeaderChecksum(ProtoUDP, src, dst, 1500), checksumRef(ph, 0); got != want {
		t.Fatalf("PseudoHeaderChecksum = %#04x, want %#04x", got, want)
	}
}

func TestUDPZeroChecksumStaysZero(t *testing.T) {
	u := UDP{0x9c, 0x40, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00}
	u.UpdateChecksumPseudoHeaderAddress([4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2})
	u.SetDstPortWithChecksumUpdate(5353)
	u.SetSrcPortWithChecksumUpdate(1)
	if u.Checksum() != 0 {
		t.Fatalf("checksum %#04x, want 0 (no checksum)", u.Checksum())
	}
}

func TestUDPComputedZeroIsAllOnes(t *testing.T) {
	// Find a datagram whose checksum computes to zero, then check that
	// both the full and the incremental path write 0xFFFF.
	src, dst := [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}
	u := UDP{0x00, 0x01, 0x00, 0x02, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00}
	// Choose the payload word so that the whole sum is 0xFFFF.
	u.SetChecksum(0)
	s := Checksum(u, PseudoHeaderChecksum(ProtoUDP, src, dst, uint16(len(u))))
	w := ^s
	u[8], u[9] = byte(w>>8), byte(w)
	if got := u.ComputeChecksum(src, dst); got != 0xffff {
		t.Fatalf("ComputeChecksum = %#04x, want 0xffff", got)
	}
	// Incremental: start from port 3 with a correct checksum, move to 2.
	u.SetDstPort(3)
	u.SetChecksum(u.ComputeChecksum(src, dst))
	u.SetDstPortWithChecksumUpdate(2)
	if got := u.Checksum(); got != 0xffff {
		t.Fatalf("incremental checksum = %#04x, want 0xffff", got)
	}
	if !u.IsChecksumValid(src, dst) {
		t.Fatal("0xffff does not verify")
	}
}

func TestChecksumDeltaMatchesRecompute(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for range 50000 {
		b := make([]byte, 2*(4+r.IntN(30)))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		hc := ^checksumRef(b, 0)
		var d ChecksumDelta
		for range 1 + r.IntN(6) {
			i := 2 * r.IntN(len(b)/2)
			old := uint16(b[i])<<8 | uint16(b[i+1])
			new := uint16(r.Uint32())
			b[i], b[i+1] = byte(new>>8), byte(new)
			d = d.AddWord(old, new)
		}
		if got, want := d.Apply(hc), ^checksumRef(b, 0); got != want {
			t.Fatalf("delta %#x: got %#04x, recomputed %#04x", d, got, want)
		}
	}
}
