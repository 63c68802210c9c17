package lvssync_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/ulvs/ulvs/internal/netns"
	"github.com/ulvs/ulvs/internal/netns/netnstest"
	. "github.com/ulvs/ulvs/lvssync"
	"github.com/ulvs/ulvs/lvssync/lvssynctest"
)

// endpoint is one director's sync transport: a sender, a listener and
// a receiver, opened in its namespace.
type endpoint struct {
	snd  *Sender
	lis  *Listener
	rcv  *Receiver
	sink *lvssynctest.Sink
}

func openEndpoint(t *testing.T, ns *netns.NS, cfg Config) *endpoint {
	t.Helper()
	e := &endpoint{sink: lvssynctest.NewSink()}
	err := ns.Do(func() error {
		var err error
		if e.snd, err = NewSender(cfg, 2, 4096, quiet); err != nil {
			return err
		}
		e.lis, err = Listen(cfg)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	e.rcv = NewReceiver(cfg.SyncID, e.sink, quiet)
	t.Cleanup(func() { e.snd.Close(); e.lis.Close() })
	return e
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
}

// TestSyncOverVeth runs two sync endpoints in two namespaces joined by
// a veth: a master's workers push events that reach the backup's sink
// over real multicast; forged messages are counted by reason; a backup
// asks for a bulk resync of 100k entries and gets them all, no faster
// than the configured rate.
func TestSyncOverVeth(t *testing.T) {
	if !netns.IsRoot() {
		t.Skip("needs root for network namespaces")
	}
	a, b := netnstest.Pair(t, "sync0", "10.0.0.1/24", "sync1", "10.0.0.2/24")
	const rate = 50000
	cfgA := Config{Interface: "sync0", SyncID: 5, ResyncRate: rate}
	cfgB := cfgA
	cfgB.Interface = "sync1"
	master, backup := openEndpoint(t, a, cfgA), openEndpoint(t, b, cfgB)

	vip := netip.MustParseAddr("10.0.1.100")
	table := lvssynctest.Generate(100000, vip, []netip.Addr{netip.MustParseAddr("10.0.2.20"), netip.MustParseAddr("10.0.2.21")})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	var resyncs sync.WaitGroup
	master.rcv.OnRequest = func(req Ext, from netip.AddrPort) {
		resyncs.Add(1)
		go func() { defer resyncs.Done(); master.snd.Resync(ctx, table, req) }()
	}
	for _, e := range []*endpoint{master, backup} {
		wg.Add(2)
		go func() { defer wg.Done(); e.snd.Run(ctx) }()
		go func() { defer wg.Done(); e.lis.Serve(ctx, e.rcv) }()
	}
	// Multicast membership takes a moment to settle on a fresh veth:
	// send until the first entry arrives.
	var ev Event
	ev.SetConn(&Conn4)
	waitFor(t, 5*time.Second, "a first synced entry", func() bool {
		master.snd.Ring(0).Push(&ev)
		return backup.sink.Len() > 0
	})

	// Two workers' events, 500 distinct connections.
	conns := lvssynctest.Generate(500, netip.MustParseAddr("10.0.1.101"), []netip.Addr{netip.MustParseAddr("10.0.2.30")})
	for i := range conns {
		ev.SetConn(&conns[i])
		for !master.snd.Ring(i % 2).Push(&ev) {
			time.Sleep(time.Millisecond)
		}
	}
	// And an IPv6 entry, which travels in the same IPv4 messages.
	ev.SetConn(&Conn6)
	master.snd.Ring(1).Push(&ev)
	waitFor(t, 5*time.Second, "501 synced entries", func() bool { return backup.sink.Len() == 502 })
	if c, ok := backup.sink.Get(lvssynctest.KeyOf(&Conn6)); !ok || c.DAddr != Conn6.DAddr || c.Flags != Conn6.Flags {
		t.Errorf("the IPv6 entry arrived as %+v (%v)", c, ok)
	}
	if c, ok := backup.sink.Get(lvssynctest.KeyOf(&conns[7])); !ok || c.DAddr != conns[7].DAddr || c.Timeout != 900 || c.State != 1 {
		t.Errorf("entry 7 arrived as %+v (%v)", c, ok)
	}

	// Forged and bad messages, through the master's socket.
	good := Encode(t, 5, Conn4)
	forge := func(f func([]byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for _, m := range [][]byte{
		Encode(t, 6, Conn4), // another syncid
		forge(func(b []byte) []byte { b[5] = 3; return b }),            // version
		forge(func(b []byte) []byte { b[3]++; return b }),              // size
		forge(func(b []byte) []byte { b[HeaderLen] = 0x80; return b }), // family
	} {
		if err := master.snd.Out().Send(m); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "the forged messages counted", func() bool {
		st := backup.rcv.Stats()
		return st.Drops[DropSyncID] == 1 && st.Drops[DropVersion] == 1 && st.Drops[DropSize] == 1 && st.Drops[DropFamily] == 1
	})

	// Bulk resync.
	start := time.Now()
	if !backup.snd.AskResync(ctx, backup.rcv, 77, 5, 2*time.Second) {
		t.Fatal("no resync began after 5 requests")
	}
	waitFor(t, 60*time.Second, "the bulk resync's end", func() bool { return !backup.rcv.LastResync().Ended.IsZero() })
	took := time.Since(start)
	resyncs.Wait()
	st := backup.rcv.LastResync()
	if st.Nonce != 77 || st.Announced != 100000 || st.Sent != 100000 || st.Received != 100000 || st.Rate != rate {
		t.Errorf("resync %+v, want 100000 announced, sent and received at %d/s", st, rate)
	}
	if n := backup.sink.Len(); n != 100000+500+2 {
		t.Errorf("backup has %d entries, want %d", n, 100000+500+2)
	}
	// Paced: the table cannot leave faster than the rate allows (less the
	// first message's burst); a generous lower bound, no upper one.
	if min := time.Duration(float64(100000-40) / rate * float64(time.Second)); took < min*9/10 {
		t.Errorf("100000 entries took %v at %d/s: faster than the pace (%v)", took, rate, min)
	}
	sst := master.snd.Stats()
	t.Logf("resync of 100000 entries took %v (%.0f entries/s), %d messages %d bytes in all (%.1f bytes/entry); backup drops %v",
		took, 100000/took.Seconds(), sst.Messages, sst.Bytes, float64(sst.Bytes)/float64(sst.Entries), backup.rcv.Stats().Drops)
}
