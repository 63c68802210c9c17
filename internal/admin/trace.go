package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// PathTrace streams sampled rewrites: GET with TraceRequest's query
// parameters answers with JSON lines, one TraceEvent each, until the
// limit, the duration, the client's disconnection or the director's stop.
const PathTrace = "/v1/trace"

// The sides of the director, as TraceRecord names them (the same names
// ulvs inspect gives its two interfaces).
const (
	SideClient = "client"
	SideReals  = "real-server"
)

// TraceRequest is what a trace samples. Empty fields do not filter.
type TraceRequest struct {
	// Service is PROTO:VIP:PORT; port 0 selects every port of the VIP.
	Service string
	// Client is an address or a prefix (10.0.1.10, 10.0.1.0/24).
	Client string
	// Real is a real server ADDR:PORT.
	Real string
	// Drop is a drop reason ("ttl_expired", "balancer:tcp_not_syn"),
	// "any" for every drop but not_ours, or "none" for forwarded frames
	// only.
	Drop string
	// Rate bounds the samples per second (0: the director's default).
	Rate int
	// Snap is how many bytes of each frame to keep (0: whole frames).
	Snap int
	// Count stops the trace after this many records (0: no limit).
	Count int
	// Duration stops the trace after this long (0: no limit).
	Duration time.Duration
}

func (r TraceRequest) query() url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("service", r.Service)
	set("client", r.Client)
	set("real", r.Real)
	set("drop", r.Drop)
	num := func(k string, n int) {
		if n != 0 {
			q.Set(k, strconv.Itoa(n))
		}
	}
	num("rate", r.Rate)
	num("snap", r.Snap)
	num("count", r.Count)
	if r.Duration > 0 {
		q.Set("duration", r.Duration.String())
	}
	return q
}

func parseTraceRequest(q url.Values) (TraceRequest, error) {
	r := TraceRequest{Service: q.Get("service"), Client: q.Get("client"), Real: q.Get("real"), Drop: q.Get("drop")}
	for _, n := range []struct {
		key string
		v   *int
	}{{"rate", &r.Rate}, {"snap", &r.Snap}, {"count", &r.Count}} {
		if s := q.Get(n.key); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil || v < 0 {
				return r, fmt.Errorf("%s %q: write a count", n.key, s)
			}
			*n.v = v
		}
	}
	if s := q.Get("duration"); s != "" {
		d, err := parseSeconds(s)
		if err != nil {
			return r, err
		}
		r.Duration = d
	}
	return r, nil
}

// TraceRecord is one sampled frame as the director saw it: raw frames
// and the names of its decision. `ulvs trace` decodes the frames into the
// field trees ulvs inspect shows.
type TraceRecord struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Worker int       `json:"worker"`
	// Side is where Before arrived: SideClient or SideReals.
	Side string `json:"side"`
	// Drop names the drop reason; empty when the frame was forwarded.
	Drop      string `json:"drop,omitempty"`
	Service   string `json:"service,omitempty"`
	Scheduler string `json:"scheduler,omitempty"`
	Real      string `json:"real,omitempty"`
	Method    string `json:"method,omitempty"`
	// Before is the frame as received (cut to the snap length);
	// BeforeLen is its whole length. BeforeRewritten says the copy was
	// taken after the in-place rewrite (a frame dropped for want of TX
	// room).
	Before          []byte `json:"before"`
	BeforeLen       int    `json:"before_len"`
	BeforeRewritten bool   `json:"before_rewritten,omitempty"`
	// After is the frame sent because of it, if any, on AfterSide;
	// Generated marks an ICMP error the director built.
	After     []byte `json:"after,omitempty"`
	AfterLen  int    `json:"after_len,omitempty"`
	AfterSide string `json:"after_side,omitempty"`
	Generated bool   `json:"generated,omitempty"`
}

// TraceStats count a trace's samples and the frames it selected but
// could not keep.
type TraceStats struct {
	Sampled     uint64 `json:"sampled"`
	RingFull    uint64 `json:"ring_full"`
	RateLimited uint64 `json:"rate_limited"`
}

// TraceEvent is one line of a trace stream: a record, or the counters
// (sent every second and last).
type TraceEvent struct {
	Record *TraceRecord `json:"record,omitempty"`
	Stats  *TraceStats  `json:"stats,omitempty"`
}

// Tracer is what the trace endpoint needs from the director. A Control
// that implements it serves PathTrace. Trace arms a trace, calls emit for
// every event until ctx is done or emit fails, and disarms it; its error
// before the first event (a bad filter, a trace already attached) is the
// request's.
type Tracer interface {
	Trace(ctx context.Context, req TraceRequest, emit func(TraceEvent) error) error
}

// traceStream writes a trace's events as JSON lines, each flushed at
// once.
type traceStream struct {
	w       http.ResponseWriter
	bw      *bufio.Writer
	enc     *json.Encoder
	started bool
}

func (s *traceStream) emit(ev TraceEvent) error {
	if !s.started {
		s.w.Header().Set("Content-Type", "application/x-ndjson")
		s.w.WriteHeader(http.StatusOK)
		s.started = true
	}
	if err := s.enc.Encode(ev); err != nil {
		return err
	}
	if err := s.bw.Flush(); err != nil {
		return err
	}
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
	return nil
}

func registerTrace(mux *http.ServeMux, c Control) {
	mux.HandleFunc("GET "+PathTrace, func(w http.ResponseWriter, r *http.Request) {
		t, ok := c.(Tracer)
		if !ok {
			reply(w, nil, errors.New("this director does not support tracing"))
			return
		}
		req, err := parseTraceRequest(r.URL.Query())
		if err != nil {
			reply(w, nil, err)
			return
		}
		s := &traceStream{w: w}
		s.bw = bufio.NewWriter(w)
		s.enc = json.NewEncoder(s.bw)
		// The stream starts with the counters, so that the client knows
		// the trace is armed before any frame matches.
		first := true
		err = t.Trace(r.Context(), req, func(ev TraceEvent) error {
			first = false
			return s.emit(ev)
		})
		if err != nil && first {
			reply(w, nil, err)
		}
	})
}

// Trace attaches to the director's data plane and calls fn for every
// event until the trace ends (the request's Count or Duration, ctx, or
// the director stopping), or fn returns an error, which Trace returns.
func (c *Client) Trace(ctx context.Context, req TraceRequest, fn func(TraceEvent) error) error {
	hc := &http.Client{Transport: c.hc.Transport} // no timeout: a trace streams
	u := "http://ulvs" + PathTrace
	if q := req.query(); len(q) > 0 {
		u += "?" + q.Encode()
	}
	hr, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("admin socket %s: %w (is ulvs running? set --admin-socket to its admin_socket)", c.path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e errorBody
		if json.NewDecoder(resp.Body).Decode(&e) == nil && e.Error != "" {
			return fmt.Errorf("%s", e.Error)
		}
		return fmt.Errorf("admin API: %s", resp.Status)
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var ev TraceEvent
		if err := dec.Decode(&ev); err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("trace stream: %w", err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
}
