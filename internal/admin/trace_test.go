package admin

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// traceControl is a fakeControl that traces: it sends n records, then
// blocks until the request ends.
type traceControl struct {
	fakeControl
	got  TraceRequest
	n    int
	done chan struct{}
}

func (c *traceControl) Trace(ctx context.Context, req TraceRequest, emit func(TraceEvent) error) error {
	defer close(c.done)
	c.got = req
	if req.Drop == "bogus" {
		return errors.New("drop reason \"bogus\": use ...")
	}
	if err := emit(TraceEvent{Stats: &TraceStats{}}); err != nil {
		return err
	}
	for i := range c.n {
		rec := &TraceRecord{Seq: uint64(i + 1), Side: SideClient, Before: []byte{1, 2, 3}, BeforeLen: 3, Real: "10.0.2.11:80"}
		if err := emit(TraceEvent{Record: rec}); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

func TestTraceStream(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.sock")
	tc := &traceControl{n: 3, done: make(chan struct{})}
	srv, err := Listen(path, tc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := NewClient(path)
	req := TraceRequest{Service: "tcp:10.0.1.100:80", Client: "10.0.1.0/24", Real: "10.0.2.11:80", Drop: "none",
		Rate: 50, Snap: 128, Count: 3, Duration: 90 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	var recs []*TraceRecord
	stats := 0
	err = c.Trace(ctx, req, func(ev TraceEvent) error {
		if ev.Stats != nil {
			stats++
		}
		if ev.Record != nil {
			recs = append(recs, ev.Record)
			if len(recs) == 3 {
				cancel() // the client leaves: the director's Trace must end
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if tc.got != req {
		t.Errorf("the director got %+v, want %+v", tc.got, req)
	}
	if stats != 1 || len(recs) != 3 || recs[2].Seq != 3 || string(recs[0].Before) != "\x01\x02\x03" || recs[0].Real != "10.0.2.11:80" {
		t.Errorf("stats lines %d, records %+v", stats, recs)
	}
	select {
	case <-tc.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the director's Trace did not end when the client left")
	}

	// An error before the stream is the request's, verbatim.
	tc2 := &traceControl{done: make(chan struct{})}
	path2 := filepath.Join(t.TempDir(), "b.sock")
	srv2, err := Listen(path2, tc2, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	err = NewClient(path2).Trace(context.Background(), TraceRequest{Drop: "bogus"}, func(TraceEvent) error { return nil })
	if err == nil || !strings.HasPrefix(err.Error(), "drop reason \"bogus\"") {
		t.Errorf("bad request: %v", err)
	}
}

// TestTraceEndsOnClose: closing the server ends a running stream.
func TestTraceEndsOnClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.sock")
	tc := &traceControl{done: make(chan struct{})}
	srv, err := Listen(path, tc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	go func() {
		<-started
		srv.Close()
	}()
	t0 := time.Now()
	err = NewClient(path).Trace(context.Background(), TraceRequest{}, func(ev TraceEvent) error {
		if ev.Stats != nil {
			close(started)
		}
		return nil
	})
	if err != nil {
		t.Errorf("stream ended with %v", err)
	}
	if d := time.Since(t0); d > 1500*time.Millisecond {
		t.Errorf("Close took %v with a stream open; it must cancel it, not wait out the shutdown timeout", d)
	}
}

func TestTraceNotSupported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.sock")
	srv, err := Listen(path, &fakeControl{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	err = NewClient(path).Trace(context.Background(), TraceRequest{}, func(TraceEvent) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "does not support tracing") {
		t.Errorf("trace on a director without it: %v", err)
	}
}
