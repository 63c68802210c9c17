package afpacket

import (
	"testing"
	"time"
)

// TestSpinOnlyWhenBusy: an empty ring is watched only while batches have
// been coming faster than spinGap; a watch that finds nothing lasts
// spinGap and pushes the port towards sleeping; frames already in the
// ring are taken at once.
func TestSpinOnlyWhenBusy(t *testing.T) {
	p := newPair(t)
	tx := openRing(t, p.ns1, "a0", &Config{NoRX: true})
	rx := openRing(t, p.ns2, "b0", &Config{NoTX: true, PollTimeout: 50 * time.Millisecond})
	frames := make([]Frame, 8)

	if n := rx.spin(frames); n != 0 || rx.rxGap != 0 {
		t.Fatalf("a port that never received: spin took %d frames, gap %v; want 0 and no watch", n, rx.rxGap)
	}
	rx.lastRx, rx.rxGap = time.Now(), 2*spinGap
	if n := rx.spin(frames); n != 0 || rx.rxGap != 2*spinGap {
		t.Fatalf("batches %v apart: spin took %d frames, gap now %v; want no watch", 2*spinGap, n, rx.rxGap)
	}

	rx.rxGap = time.Microsecond
	start := time.Now()
	// n > 0 only when the host itself sent something in the meantime
	// (an IPv6 router solicitation): then there is no empty watch to check.
	if n := rx.spin(frames); n == 0 {
		if took := time.Since(start); took < spinGap {
			t.Errorf("an empty watch gave up after %v, before spinGap (%v)", took, spinGap)
		}
		if rx.rxGap != time.Microsecond+spinGap {
			t.Errorf("after an empty watch the gap is %v, want %v", rx.rxGap, time.Microsecond+spinGap)
		}
	}
	rx.Release()

	want := [][]byte{expFrame(p.macB, p.macA, 7, 100)}
	send(t, tx, want)
	deadline := time.Now().Add(2 * time.Second)
	for {
		rx.rxGap = time.Microsecond
		n := rx.spin(frames)
		for _, f := range frames[:n] {
			if isTestFrame(&f) {
				rx.Release()
				return
			}
		}
		rx.Release()
		if time.Now().After(deadline) {
			t.Fatalf("spin never returned the frame sent; stats %+v", rx.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}
