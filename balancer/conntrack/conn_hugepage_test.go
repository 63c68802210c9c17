package conntrack

import "testing"

func TestConnHugeRange(t *testing.T) {
	const mb2 = connHugePage
	for _, tt := range []struct {
		start, size, lo, hi uintptr
		ok                  bool
	}{
		{start: 0, size: mb2, lo: 0, hi: mb2, ok: true},
		{start: 4096, size: mb2, ok: false}, // spans a boundary, holds no whole page
		{start: 4096, size: 2 * mb2, lo: mb2 - 4096, hi: 2*mb2 - 4096, ok: true},
		{start: 3 * mb2, size: 5*mb2 + 100, lo: 0, hi: 5 * mb2, ok: true},
		{start: mb2 + 8192, size: 100, ok: false}, // small array
		{start: 8192, size: 0, ok: false},
	} {
		lo, hi, ok := connHugeRange(tt.start, tt.size)
		if ok != tt.ok || ok && (lo != tt.lo || hi != tt.hi) {
			t.Errorf("connHugeRange(%#x, %#x) = %#x, %#x, %v; want %#x, %#x, %v", tt.start, tt.size, lo, hi, ok, tt.lo, tt.hi, tt.ok)
		}
		if ok && ((tt.start+lo)%mb2 != 0 || (tt.start+hi)%mb2 != 0 || hi > tt.size) {
			t.Errorf("connHugeRange(%#x, %#x): [%#x, %#x) is not whole pages inside", tt.start, tt.size, lo, hi)
		}
	}
}

// TestConnAdviseHugeSmall checks the advice is harmless on arrays that
// hold no whole huge page, and on empty ones.
func TestConnAdviseHugeSmall(t *testing.T) {
	connAdviseHuge([]connEntry(nil))
	s := make([]uint64, 100)
	s[99] = 7
	connAdviseHuge(s)
	if s[99] != 7 {
		t.Fatal("advice changed the array")
	}
}
