package lvssync

import (
	"testing"
	"time"
)

// TestPacer drives the bucket with a fake clock: the burst goes at once,
// then the rate holds whatever the message size.
func TestPacer(t *testing.T) {
	t0 := time.Unix(0, 0)
	p := NewPacer(1000, 100, t0)
	if w := p.Reserve(t0, 100); w != 0 {
		t.Errorf("the first burst waits %v", w)
	}
	if w := p.Reserve(t0, 50); w != 50*time.Millisecond {
		t.Errorf("50 entries past the burst wait %v, want 50ms", w)
	}
	// The sender slept as told: the debt is paid, the next 40 wait 40ms.
	now := t0.Add(50 * time.Millisecond)
	if w := p.Reserve(now, 40); w != 40*time.Millisecond {
		t.Errorf("after paying the debt, 40 entries wait %v, want 40ms", w)
	}
	// Idle for long: the bucket refills only to the burst.
	now = now.Add(10 * time.Second)
	if w := p.Reserve(now, 100); w != 0 {
		t.Errorf("a refilled burst waits %v", w)
	}
	if w := p.Reserve(now, 1); w != time.Millisecond {
		t.Errorf("one past a refilled burst waits %v, want 1ms", w)
	}
	// Sending N entries in messages of m at the pace takes N/rate,
	// less the burst.
	p = NewPacer(10000, 36, t0)
	now = t0
	for range 1000 {
		now = now.Add(p.Reserve(now, 36))
	}
	if got, want := now.Sub(t0), time.Duration((36000-36)/10000.0*float64(time.Second)); got < want-time.Millisecond || got > want+time.Millisecond {
		t.Errorf("36000 entries took %v at 10000/s, want %v", got, want)
	}
}
