package neigh

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/ulvs/ulvs/internal/netns/netnstest"
)

type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *stepClock) Step(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeTransport records requests; Read blocks until closed.
type fakeTransport struct {
	mu       sync.Mutex
	requests []netip.Addr
	closed   chan struct{}
}

func (f *fakeTransport) Request(ip netip.Addr) error {
	f.mu.Lock()
	f.requests = append(f.requests, ip)
	f.mu.Unlock()
	return nil
}
func (f *fakeTransport) Read() (*arp.Packet, *ethernet.Frame, error) {
	<-f.closed
	return nil, nil, net.ErrClosed
}
func (f *fakeTransport) SetReadDeadline(time.Time) error { return nil }
func (f *fakeTransport) Close() error                    { return nil }
func (f *fakeTransport) count() int                      { f.mu.Lock(); defer f.mu.Unlock(); return len(f.requests) }

var (
	rs1    = [4]byte{10, 0, 2, 11}
	rs1MAC = [6]byte{2, 0, 0, 0, 2, 11}
)

// newStepped returns a cache driven by hand: no Run, handle* called directly.
func newStepped() (*Cache, *stepClock, *fakeTransport) {
	clk := &stepClock{t: time.Unix(1_000_000, 0)}
	tr := &fakeTransport{closed: make(chan struct{})}
	c := New(Config{Clock: clk, TTL: 60 * time.Second, RefreshBefore: 15 * time.Second,
		Retry: time.Second, Attempts: 3, Queue: 4})
	c.tr = tr
	return c, clk, tr
}

func TestCacheResolveRefreshExpire(t *testing.T) {
	c, clk, tr := newStepped()
	if _, ok := c.Lookup(rs1); ok {
		t.Fatal("empty cache answered")
	}
	c.handleWant(rs1)
	c.handleWant(rs1) // deduplicated while incomplete
	if tr.count() != 1 {
		t.Fatalf("%d requests, want 1", tr.count())
	}
	c.handleAnswer(answer{rs1, rs1MAC})
	if mac, ok := c.Lookup(rs1); !ok || mac != rs1MAC {
		t.Fatalf("Lookup = %v, %v", mac, ok)
	}

	// Before the refresh window nothing is sent.
	clk.Step(44 * time.Second)
	c.handleTick()
	if tr.count() != 1 {
		t.Fatalf("refresh too early: %d requests", tr.count())
	}
	// In the window a refresh goes out; the stale entry keeps serving.
	clk.Step(2 * time.Second)
	c.handleTick()
	if tr.count() != 2 {
		t.Fatalf("no refresh request: %d", tr.count())
	}
	if _, ok := c.Lookup(rs1); !ok {
		t.Fatal("entry not served while refreshing")
	}
	// The answer renews it for a full TTL.
	c.handleAnswer(answer{rs1, rs1MAC})
	if n := c.Neighbors()[0]; n.State != "reachable" || !n.Expires.Equal(clk.Now().Add(60*time.Second)) {
		t.Fatalf("after refresh: %+v", n)
	}

	// No answer to the next refresh: retried every Retry, dropped at expiry.
	clk.Step(46 * time.Second)
	c.handleTick()
	for range 13 {
		clk.Step(time.Second)
		c.handleTick()
		if _, ok := c.Lookup(rs1); !ok {
			t.Fatal("entry dropped before expiry")
		}
	}
	clk.Step(time.Second)
	c.handleTick()
	if _, ok := c.Lookup(rs1); ok {
		t.Fatal("expired entry still served")
	}
	st := c.Stats()
	if st.Resolved != 1 || st.Refreshed != 1 || st.Failures != 1 || st.Requests != 2+14 {
		t.Errorf("stats %+v", st)
	}
}

func TestCacheAbsentAddressFails(t *testing.T) {
	c, clk, tr := newStepped()
	c.handleWant(rs1)
	for range 3 {
		clk.Step(time.Second)
		c.handleTick()
	}
	if tr.count() != 3 || c.Stats().Failures != 1 {
		t.Fatalf("%d requests, stats %+v; want 3 requests and 1 failure", tr.count(), c.Stats())
	}
	// Held down: an immediate Want does not send.
	c.handleWant(rs1)
	if tr.count() != 3 {
		t.Fatal("Want during hold-down sent a request")
	}
	clk.Step(2 * time.Second)
	c.handleWant(rs1)
	if tr.count() != 4 {
		t.Fatal("Want after hold-down did not retry")
	}
	// A late answer still resolves it.
	c.handleAnswer(answer{rs1, rs1MAC})
	if _, ok := c.Lookup(rs1); !ok {
		t.Fatal("late answer ignored")
	}
	if n := c.Neighbors()[0]; n.Failures != 1 {
		t.Errorf("per-entry failures %d, want 1", n.Failures)
	}
}

func TestCacheIgnoresStrangersAndKeepsStatic(t *testing.T) {
	gw := [4]byte{10, 0, 2, 254}
	gwMAC := [6]byte{2, 0, 0, 0, 0, 0xfe}
	c, _, tr := newStepped()
	c.SetStatic(gw, gwMAC)
	c.handleAnswer(answer{rs1, rs1MAC}) // unsolicited
	if _, ok := c.Lookup(rs1); ok {
		t.Error("learned an address nobody asked about")
	}
	c.handleAnswer(answer{gw, rs1MAC})
	c.handleWant(gw)
	if mac, ok := c.Lookup(gw); !ok || mac != gwMAC || tr.count() != 0 {
		t.Errorf("static entry: %v %v, %d requests", mac, ok, tr.count())
	}
}

func TestWantQueueBounded(t *testing.T) {
	c, _, _ := newStepped() // queue of 4, nobody draining
	for i := range 10 {
		c.Want([4]byte{10, 0, 2, byte(i)})
	}
	if d := c.Stats().QueueDrops; d != 6 {
		t.Errorf("QueueDrops = %d, want 6", d)
	}
}

func TestLookupWantAllocs(t *testing.T) {
	c := New(Config{Static: map[[4]byte][6]byte{rs1: rs1MAC}, Queue: 1})
	if a := testing.AllocsPerRun(1000, func() {
		if _, ok := c.Lookup(rs1); !ok {
			panic("miss")
		}
		c.Want(rs1) // full after the first: the drop path too
	}); a != 0 {
		t.Errorf("Lookup+Want allocate %.1f times", a)
	}
}

func BenchmarkLookup(b *testing.B) {
	c := New(Config{})
	for i := range 64 {
		c.SetStatic([4]byte{10, 0, 2, byte(i)}, rs1MAC)
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Lookup(rs1)
	}
}

// TestCacheRealARP resolves over real ARP between two namespaces.
func TestCacheRealARP(t *testing.T) {
	a, b := netnstest.Pair(t, "va", "10.0.5.1/24", "vb", "10.0.5.2/24")
	vb, err := b.Interface("vb")
	if err != nil {
		t.Fatal(err)
	}
	var tr *arp.Client
	if err := a.Do(func() error {
		ifi, err := net.InterfaceByName("va")
		if err != nil {
			return err
		}
		tr, err = arp.Dial(ifi)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	clk := &stepClock{t: time.Unix(1_000_000, 0)}
	c := New(Config{Transport: tr, Clock: clk, TTL: 60 * time.Second, RefreshBefore: 15 * time.Second,
		Retry: 100 * time.Millisecond, Attempts: 2, Tick: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	peer := [4]byte{10, 0, 5, 2}
	absent := [4]byte{10, 0, 5, 99} // inside the test's own subnet, owned by nobody
	c.Want(peer)
	c.Want(absent)
	waitFor(t, "peer resolved", func() bool { _, ok := c.Lookup(peer); return ok })
	if mac, _ := c.Lookup(peer); net.HardwareAddr(mac[:]).String() != vb.HardwareAddr.String() {
		t.Errorf("resolved %v, want %v", net.HardwareAddr(mac[:]), vb.HardwareAddr)
	}

	// The absent address fails after Attempts requests (the stepped clock
	// must move for retries to be due).
	for range 3 {
		clk.Step(100 * time.Millisecond)
		time.Sleep(20 * time.Millisecond)
	}
	waitFor(t, "absent address failed", func() bool { return c.Stats().Failures == 1 })
	if _, ok := c.Lookup(absent); ok {
		t.Error("absent address resolved")
	}

	// Step into the refresh window: a new request goes out, the peer
	// answers, and the entry's expiry moves a full TTL past the new now.
	// Retries are due by the stepped clock only, so keep it moving (well
	// short of the expiry) in case a request or its answer is lost on a
	// loaded machine.
	clk.Step(50 * time.Second)
	waitFor(t, "refresh answered", func() bool {
		if c.Stats().Refreshed >= 1 {
			return true
		}
		clk.Step(2 * time.Millisecond) // a retry is due every 50 polls
		return false
	})
	var n Neighbor
	for _, x := range c.Neighbors() {
		if x.IP == netip.AddrFrom4(peer) {
			n = x
		}
	}
	if n.State != "reachable" || n.Expires.Before(clk.Now().Add(59*time.Second)) {
		t.Errorf("after refresh: %+v (now %v)", n, clk.Now())
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCacheLearn(t *testing.T) {
	c, clk, tr := newStepped()
	c.Learn(rs1, rs1MAC)
	c.handleLearn(<-c.learn)
	if mac, ok := c.Lookup(rs1); !ok || mac != rs1MAC {
		t.Fatalf("after Learn: %v %v, want %v", mac, ok, rs1MAC)
	}
	if tr.count() != 0 {
		t.Errorf("Learn sent %d ARP requests, want none", tr.count())
	}
	// A learned entry ages like a resolved one: refreshed before expiry.
	clk.Step(50 * time.Second)
	c.handleTick()
	if tr.count() == 0 {
		t.Error("learned entry was not refreshed before expiry")
	}
	// A static entry is never overridden by what the loop saw.
	gw, gwMAC := [4]byte{10, 0, 2, 254}, [6]byte{2, 0, 0, 0, 0, 0xfe}
	c.SetStatic(gw, gwMAC)
	c.handleLearn(answer{gw, rs1MAC})
	if mac, _ := c.Lookup(gw); mac != gwMAC {
		t.Errorf("Learn replaced a static entry: %v", mac)
	}
	for range 10 {
		c.Learn(rs1, rs1MAC)
	}
	if d := c.Stats().QueueDrops; d != 6 {
		t.Errorf("QueueDrops = %d, want 6 (queue of 4)", d)
	}
}
