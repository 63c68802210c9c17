package lvssync_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"reflect"
	"testing"
	"time"

	. "github.com/ulvs/ulvs/lvssync"
	"github.com/ulvs/ulvs/lvssync/lvssynctest"
)

var (
	quiet    = slog.New(slog.NewTextHandler(io.Discard, nil))
	peer     = netip.MustParseAddrPort("10.0.0.1:41000")
	stranger = netip.MustParseAddrPort("10.0.0.3:41000")
)

// TestReceiverCounts hands good, forged and bad messages to a receiver
// and checks what reaches the sink and what is counted, by reason.
func TestReceiverCounts(t *testing.T) {
	sink := lvssynctest.NewSink()
	r := NewReceiver(5, sink, quiet)
	good := Encode(t, 5, Conn4, Conn6)
	r.Handle(good, peer)
	bad := func(f func([]byte)) []byte { b := bytes.Clone(good); f(b); return b }
	r.Handle(Encode(t, 6, Conn4), peer)                   // syncid
	r.Handle(bad(func(b []byte) { b[5] = 9 }), peer)      // version
	r.Handle(good[:len(good)-4], peer)                    // size
	r.Handle(bad(func(b []byte) { b[8] = 4 }), peer)      // family
	r.Handle(bad(func(b []byte) { b[8+2] = 0x20 }), peer) // entry version
	r.Handle(good[:2], peer)                              // short
	short := AppendExt(nil, 5, Ext{Op: OpResyncEnd})[:ExtLen-1]
	short[3] = ExtLen - 1
	r.Handle(short, peer) // extension: a byte short
	msg := AppendExt(nil, 5, Ext{Op: OpResyncEnd})
	msg[HeaderLen+4] = 0x7f
	r.Handle(msg, peer) // extension: unknown op

	st := r.Stats()
	// Messages whose header passed count, whatever their entries.
	if st.Messages != 3 || st.Entries != 2 || sink.Calls() != 2 {
		t.Errorf("messages %d entries %d sink calls %d, want 3 2 2", st.Messages, st.Entries, sink.Calls())
	}
	want := map[Drop]uint64{DropSyncID: 1, DropVersion: 1, DropSize: 1, DropFamily: 1, DropEntryVersion: 1, DropShort: 1, DropExtension: 2}
	for d := DropNone; d < NumDrops; d++ {
		if st.Drops[d] != want[d] {
			t.Errorf("drop %v counted %d, want %d", d, st.Drops[d], want[d])
		}
	}
	if c, ok := sink.Get(lvssynctest.KeyOf(&Conn6)); !ok || !reflect.DeepEqual(c, Conn6) {
		t.Errorf("sink has %+v %v, want %+v", c, ok, Conn6)
	}
}

// TestReceiverResyncStatus follows a bulk resync: begin, entries from
// the master (and from someone else, not counted), end.
func TestReceiverResyncStatus(t *testing.T) {
	sink := lvssynctest.NewSink()
	r := NewReceiver(0, sink, quiet)
	var asked []Ext
	r.OnRequest = func(x Ext, from netip.AddrPort) { asked = append(asked, x) }
	r.Handle(AppendExt(nil, 0, Ext{Op: OpResyncRequest, Nonce: 9, Rate: 1000}), stranger)
	if len(asked) != 1 || asked[0].Nonce != 9 || asked[0].Rate != 1000 {
		t.Errorf("requests seen: %+v", asked)
	}
	r.Handle(AppendExt(nil, 0, Ext{Op: OpResyncBegin, Nonce: 9, Count: 3, Rate: 1000}), peer)
	r.Handle(Encode(t, 0, Conn4, Conn6), peer)
	r.Handle(Encode(t, 0, Conn4), stranger)
	if st := r.LastResync(); st.Received != 2 || !st.Ended.IsZero() || st.Announced != 3 {
		t.Errorf("during: %+v", st)
	}
	r.Handle(AppendExt(nil, 0, Ext{Op: OpResyncEnd, Nonce: 8, Count: 3}), peer) // another resync's end
	if st := r.LastResync(); !st.Ended.IsZero() {
		t.Errorf("an end with another nonce ended the resync")
	}
	r.Handle(Encode(t, 0, ConnOpts), peer)
	r.Handle(AppendExt(nil, 0, Ext{Op: OpResyncEnd, Nonce: 9, Count: 3}), peer)
	st := r.LastResync()
	if st.Received != 3 || st.Sent != 3 || st.Ended.IsZero() || st.From != peer {
		t.Errorf("after: %+v", st)
	}
}

// recorder is a datagrams that keeps what is sent.
type recorder struct{ msgs [][]byte }

func (r *recorder) Send(b []byte) error { r.msgs = append(r.msgs, bytes.Clone(b)); return nil }
func (r *recorder) Close() error        { return nil }

// TestSenderDrain: events from two workers go out packed, nothing lost.
func TestSenderDrain(t *testing.T) {
	rec := &recorder{}
	s := NewSenderOn(Config{SyncID: 2}, rec, 2, 256)
	var ev Event
	for i := range 100 {
		c := Conn4
		c.CPort = uint16(i)
		ev.SetConn(&c)
		s.Ring(i % 2).Push(&ev)
	}
	s.Drain()
	per := (DefaultMaxLen - HeaderLen) / EntryV4Len
	if want := (100 + per - 1) / per; len(rec.msgs) != want {
		t.Fatalf("%d messages, want %d", len(rec.msgs), want)
	}
	sink := lvssynctest.NewSink()
	r := NewReceiver(2, sink, quiet)
	for _, m := range rec.msgs {
		r.Handle(m, peer)
	}
	if sink.Len() != 100 {
		t.Errorf("%d distinct entries arrived, want 100", sink.Len())
	}
	if st := s.Stats(); st.Messages != uint64(len(rec.msgs)) || st.Entries != 100 {
		t.Errorf("stats %+v", st)
	}
	s.Drain()
	if len(rec.msgs) != (100+per-1)/per {
		t.Errorf("an empty drain sent a message")
	}
}

// TestResyncServedOnce: a resync sends begin, the table and end; a second
// request within ResyncInterval is refused and counted.
func TestResyncServedOnce(t *testing.T) {
	rec := &recorder{}
	s := NewSenderOn(Config{SyncID: 3, ResyncInterval: time.Hour, ResyncRate: 1000000}, rec, 1, 16)
	table := lvssynctest.Generate(1000, Conn4.VAddr, []netip.Addr{Conn4.DAddr})
	sent, served := s.Resync(context.Background(), table, Ext{Op: OpResyncRequest, Nonce: 5})
	if sent != 1000 || !served {
		t.Fatalf("sent %d served %v", sent, served)
	}
	sink := lvssynctest.NewSink()
	r := NewReceiver(3, sink, quiet)
	for _, m := range rec.msgs {
		r.Handle(m, peer)
	}
	if st := r.LastResync(); st.Announced != 1000 || st.Sent != 1000 || st.Received != 1000 || st.Ended.IsZero() || sink.Len() != 1000 {
		t.Errorf("backup saw %+v, %d entries", st, sink.Len())
	}
	n := len(rec.msgs)
	if _, served := s.Resync(context.Background(), table, Ext{Op: OpResyncRequest, Nonce: 6}); served || len(rec.msgs) != n {
		t.Errorf("a second resync within the interval was served")
	}
	if st := s.Stats(); st.Resyncs != 1 || st.ResyncsRefused != 1 {
		t.Errorf("stats %+v", st)
	}
}

type nopSink struct{ n int }

func (s *nopSink) SyncConn(*Conn) { s.n++ }

// TestReceiverNoAlloc: handling a full message allocates nothing.
func TestReceiverNoAlloc(t *testing.T) {
	e := NewEncoder(0, 1)
	for {
		if ok, _ := e.Add(&Conn4); !ok {
			break
		}
	}
	msg := e.Bytes()
	sink := &nopSink{}
	r := NewReceiver(1, sink, quiet)
	if a := testing.AllocsPerRun(100, func() { r.Handle(msg, peer) }); a != 0 {
		t.Errorf("handling a message allocates %v times", a)
	}
	if sink.n == 0 {
		t.Fatal("no entry reached the sink")
	}
}

func BenchmarkReceiverHandle(b *testing.B) {
	e := NewEncoder(0, 1)
	for {
		if ok, _ := e.Add(&Conn4); !ok {
			break
		}
	}
	msg := e.Bytes()
	r := NewReceiver(1, &nopSink{}, quiet)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		r.Handle(msg, peer)
	}
}
