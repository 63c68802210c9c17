package bfd

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/ulvs/ulvs/internal/netns"
)

// eventLog collects a Router's events for a test to wait on.
type eventLog struct {
	mu     sync.Mutex
	events []Event
	at     []time.Time
	signal chan struct{}
}

func newEventLog() *eventLog { return &eventLog{signal: make(chan struct{}, 1)} }

func (l *eventLog) add(ev Event) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.at = append(l.at, time.Now())
	l.mu.Unlock()
	select {
	case l.signal <- struct{}{}:
	default:
	}
}

// wait returns the first event from index from on that is in state s,
// and when it came, failing the test after timeout.
func (l *eventLog) wait(t *testing.T, from int, s State, timeout time.Duration) (Event, time.Time, int) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		for i := from; i < len(l.events); i++ {
			if l.events[i].State == s {
				ev, at := l.events[i], l.at[i]
				l.mu.Unlock()
				return ev, at, i + 1
			}
		}
		got := fmt.Sprint(l.events)
		l.mu.Unlock()
		select {
		case <-l.signal:
		case <-deadline:
			t.Fatalf("no %v event within %v; events so far: %s", s, timeout, got)
		}
	}
}

// startBFDD runs bfdd in ns with one session to peer from local, its
// receive and transmit intervals in ms, multiplier 3 (peer may carry
// options: "10.0.0.1 multihop"); its log is shown when the test fails.
func startBFDD(t *testing.T, ns *netns.NS, peer, local string, rxMs, txMs int) *netns.BFDD {
	t.Helper()
	b, err := ns.StartBFDD(fmt.Sprintf("bfd\n peer %s local-address %s\n  receive-interval %d\n  transmit-interval %d\n  detect-multiplier 3\n !\n!\n",
		peer, local, rxMs, txMs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("bfdd output:\n%s", b.Output())
		}
		b.Close()
	})
	return b
}

// TestFRRInterop runs a session against FRR's bfdd in a namespace pair:
// it comes Up with the intervals both sides asked for, goes Down within
// the detection time when bfdd is killed (it sends nothing more), comes
// back Up when bfdd restarts.
func TestFRRInterop(t *testing.T) {
	a, b := netns.Pair(t, "veth0", "10.91.0.1/24", "veth1", "10.91.0.2/24")
	peer := startBFDD(t, b, "10.91.0.1", "10.91.0.2", 60, 40)

	events := newEventLog()
	r := runRouter(t, a, RouterConfig{OnChange: events.add, Sessions: []SessionConfig{{
		Name: "frr", Peer: netip.MustParseAddr("10.91.0.2"), Local: netip.MustParseAddr("10.91.0.1"),
		Config: Config{DesiredMinTx: 30 * time.Millisecond, RequiredMinRx: 50 * time.Millisecond,
			IdleTx: time.Second, DetectMult: 4},
	}}})

	_, _, next := events.wait(t, 0, Up, 15*time.Second)
	// Negotiation: we send at max(our 30 ms, its required 60 ms); it sends
	// at max(its 40 ms, our required 50 ms), times its multiplier 3. The
	// poll sequence lowers both from the 1 s of the Down state.
	deadline := time.Now().Add(5 * time.Second)
	var st Status
	for time.Now().Before(deadline) {
		st = r.Status()[0]
		if st.TxInterval == 60*time.Millisecond && st.DetectTime == 150*time.Millisecond && !r.polling(0) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st.TxInterval != 60*time.Millisecond || st.DetectTime != 150*time.Millisecond {
		t.Fatalf("negotiated tx %v detect %v, want 60ms and 150ms (status %+v)", st.TxInterval, st.DetectTime, st)
	}
	if r.polling(0) {
		t.Errorf("the poll sequence never ended: bfdd did not answer with Final")
	}

	killed := time.Now()
	peer.Kill()
	ev, at, next := events.wait(t, next, Down, 10*time.Second)
	if ev.Diag != DiagTimeExpired {
		t.Errorf("down with diag %v, want %v", ev.Diag, DiagTimeExpired)
	}
	// The bound is the detection time plus room for a loaded machine; a
	// session that waited for the 1 s Down-state interval would blow it.
	if took := at.Sub(killed); took > st.DetectTime+400*time.Millisecond {
		t.Errorf("down %v after bfdd was killed; detection time is %v", took, st.DetectTime)
	} else {
		t.Logf("down %v after bfdd was killed (detection time %v)", took, st.DetectTime)
	}

	if err := peer.Start(); err != nil {
		t.Fatal(err)
	}
	events.wait(t, next, Up, 15*time.Second)

	if r.Drops(DropTTL) != 0 || r.Drops(DropNoSession) != 0 {
		t.Errorf("drops: ttl %d, no session %d; bfdd's packets should all match", r.Drops(DropTTL), r.Drops(DropNoSession))
	}
}

// polling reports whether session i runs a Poll Sequence.
func (r *Router) polling(i int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sess[i].m.Polling()
}

// TestFRRInteropIPv6: the session comes Up with bfdd over IPv6 (both
// sides sending hop limit 255, as RFC 5881 requires and bfdd checks) and
// goes Down within the detection time when bfdd is killed.
func TestFRRInteropIPv6(t *testing.T) {
	aAddr, bAddr := netip.MustParseAddr("fd00:91::1"), netip.MustParseAddr("fd00:91::2")
	a, b := pair(t, aAddr, bAddr, 64)
	peer := startBFDD(t, b, aAddr.String(), bAddr.String(), 100, 100)
	events := newEventLog()
	r := runRouter(t, a, RouterConfig{OnChange: events.add, Sessions: []SessionConfig{{Name: "frr6", Peer: bAddr, Local: aAddr,
		Config: Config{DesiredMinTx: 100 * time.Millisecond, RequiredMinRx: 100 * time.Millisecond, IdleTx: time.Second, DetectMult: 3}}}})
	_, _, next := events.wait(t, 0, Up, 15*time.Second)
	waitFor(t, "the fast intervals", func() bool { return r.Status()[0].DetectTime == 300*time.Millisecond })
	killed := time.Now()
	peer.Kill()
	ev, at, _ := events.wait(t, next, Down, 10*time.Second)
	if took := at.Sub(killed); ev.Diag != DiagTimeExpired || took > 300*time.Millisecond+400*time.Millisecond {
		t.Errorf("down %v after bfdd was killed with diag %v; want within the 300ms detection time, time expired", took, ev.Diag)
	}
	if n := r.Drops(DropTTL); n != 0 {
		t.Errorf("%d of bfdd's packets failed the hop limit check", n)
	}
}

// TestFRRInteropMultihop: a multihop session (RFC 5883, port 4784, the
// received TTL allowed max_hops below 255) comes Up with bfdd's multihop
// peer.
func TestFRRInteropMultihop(t *testing.T) {
	a, b := netns.Pair(t, "veth0", "10.95.0.1/24", "veth1", "10.95.0.2/24")
	startBFDD(t, b, "10.95.0.1 multihop", "10.95.0.2", 100, 100)
	events := newEventLog()
	r := runRouter(t, a, RouterConfig{OnChange: events.add, Sessions: []SessionConfig{{Name: "mh",
		Peer: netip.MustParseAddr("10.95.0.2"), Local: netip.MustParseAddr("10.95.0.1"), Multihop: true, MaxHops: 10,
		Config: Config{DesiredMinTx: 100 * time.Millisecond, RequiredMinRx: 100 * time.Millisecond, IdleTx: time.Second, DetectMult: 3}}}})
	events.wait(t, 0, Up, 15*time.Second)
	if n := r.Drops(DropNoSession); n != 0 {
		t.Errorf("%d of bfdd's multihop packets matched no session", n)
	}
}
