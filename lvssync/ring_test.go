package lvssync

import (
	"reflect"
	"sync"
	"testing"
)

func TestEventConnRoundTrip(t *testing.T) {
	for _, c := range []Conn{conn4, conn6} {
		var ev Event
		ev.SetConn(&c)
		var got Conn
		ev.Conn(&got)
		if !reflect.DeepEqual(got, c) {
			t.Errorf("got %+v, want %+v", got, c)
		}
	}
}

// TestRingOrderAndFull: FIFO order, a full ring refuses and counts.
func TestRingOrderAndFull(t *testing.T) {
	r := NewRing(5) // rounds up to 8
	var ev Event
	for i := range 10 {
		ev.CPort = uint16(i)
		if ok := r.Push(&ev); ok != (i < 8) {
			t.Fatalf("push %d: %v", i, ok)
		}
	}
	if r.Full() != 2 {
		t.Errorf("full %d, want 2", r.Full())
	}
	for i := range 8 {
		if !r.Pop(&ev) || ev.CPort != uint16(i) {
			t.Fatalf("pop %d: port %d", i, ev.CPort)
		}
	}
	if r.Pop(&ev) {
		t.Errorf("popped from an empty ring")
	}
}

// TestRingConcurrent runs a producer and a consumer at once (go test
// -race checks the publication): every event arrives once, in order.
func TestRingConcurrent(t *testing.T) {
	const n = 20000
	r := NewRing(64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ev Event
		for i := uint32(0); i < n; {
			ev.FWMark = i
			if r.Push(&ev) {
				i++
			}
		}
	}()
	var ev Event
	for want := uint32(0); want < n; {
		if !r.Pop(&ev) {
			continue
		}
		if ev.FWMark != want {
			t.Fatalf("got event %d, want %d", ev.FWMark, want)
		}
		want++
	}
	wg.Wait()
}

// TestRingNoAlloc holds the worker side to zero allocations.
func TestRingNoAlloc(t *testing.T) {
	r := NewRing(1024)
	var ev, out Event
	ev.SetConn(&conn4)
	if a := testing.AllocsPerRun(1000, func() {
		r.Push(&ev)
		r.Pop(&out)
	}); a != 0 {
		t.Errorf("push+pop allocates %v times", a)
	}
	e := NewEncoder(0, 1)
	var c Conn
	if a := testing.AllocsPerRun(1000, func() {
		ev.Conn(&c)
		if ok, _ := e.Add(&c); !ok {
			e.Reset()
		}
	}); a != 0 {
		t.Errorf("encoding an event allocates %v times", a)
	}
}

func BenchmarkRingPush(b *testing.B) {
	r := NewRing(1 << 16)
	var ev, out Event
	ev.SetConn(&conn4)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Push(&ev)
		if i&1023 == 1023 {
			for r.Pop(&out) {
			}
		}
	}
}

// BenchmarkRingSPSC is a worker pushing while the sender pops on another
// goroutine.
func BenchmarkRingSPSC(b *testing.B) {
	r := NewRing(1 << 12)
	done := make(chan struct{})
	go func() {
		var out Event
		for {
			select {
			case <-done:
				return
			default:
			}
			for r.Pop(&out) {
			}
		}
	}()
	var ev Event
	ev.SetConn(&conn4)
	b.ReportAllocs()
	for b.Loop() {
		for !r.Push(&ev) {
		}
	}
	close(done)
}

func BenchmarkEncode(b *testing.B) {
	e := NewEncoder(0, 1)
	b.ReportAllocs()
	for b.Loop() {
		if ok, _ := e.Add(&conn4); !ok {
			e.Reset()
		}
	}
}
