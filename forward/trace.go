package forward

import (
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/balancer/conntrack"
)

// Tracing lets `ulvs trace` watch the running data plane. StartTrace arms
// a Trace: one single-producer ring of fixed-size slots per worker, a
// filter and a rate limit. A worker looks the trace up once per batch;
// with none armed the only cost is that nil check per frame. Armed, a
// frame is copied (the rewrite works in place, so the frame as received
// must be copied before it) only when the filter selects it, the rate
// limit has a token and its worker's ring has a free slot; everything
// else costs a few compares. Nothing on the worker's side allocates. The
// control plane drains the rings with Trace.Drain.

// TraceOutcome selects frames by what became of them.
type TraceOutcome uint8

// The outcomes a filter selects.
const (
	// TraceAll selects forwarded frames and dropped ones, except the
	// not_ours drops (the kernel's traffic) unless TraceFilter.Reason
	// names them.
	TraceAll TraceOutcome = iota
	// TraceForwarded selects frames the director sent on.
	TraceForwarded
	// TraceDropped selects dropped frames (not_ours only when
	// TraceFilter.Reason names it).
	TraceDropped
)

// TraceReason names why a traced frame was dropped: a DropReason of the
// packet loop, or one of the balancer's (BalancerDrop). Zero means the
// frame was forwarded.
type TraceReason uint16

// FrameDrop is the TraceReason of a packet-loop drop.
func FrameDrop(r DropReason) TraceReason { return TraceReason(r) }

// BalancerDrop is the TraceReason of a balancer drop.
func BalancerDrop(r conntrack.DropReason) TraceReason {
	return TraceReason(NumDropReasons) + TraceReason(r)
}

const numTraceReasons = TraceReason(NumDropReasons) + TraceReason(conntrack.NumDropReasons)

// String names the reason as ulvs inspect does: the packet loop's counter
// label ("ttl_expired"), or "balancer:" and the balancer's
// ("balancer:tcp_not_syn").
func (r TraceReason) String() string {
	switch {
	case r < TraceReason(NumDropReasons):
		return DropReason(r).String()
	case r < numTraceReasons:
		return "balancer:" + conntrack.DropReason(r-TraceReason(NumDropReasons)).String()
	}
	return "unknown"
}

// ParseTraceReason reads a reason as String writes it.
func ParseTraceReason(s string) (TraceReason, error) {
	for r := TraceReason(1); r < numTraceReasons; r++ {
		if r != BalancerDrop(conntrack.DropNone) && r.String() == s {
			return r, nil
		}
	}
	return 0, fmt.Errorf("drop reason %q: use a drop counter's name such as not_ours, ttl_expired, neigh_miss or balancer:tcp_not_syn (ulvs list --json shows them)", s)
}

// idsKnown reports whether a frame dropped for r got far enough through
// the parser for its addresses and ports to mean something.
func (r TraceReason) idsKnown() bool {
	if r >= TraceReason(NumDropReasons) {
		return true
	}
	d := DropReason(r)
	return !d.Malformed() && d != DropFragment && d != DropTruncated && d != DropVLANOffloaded && d != DropNotOurs
}

// TraceFilter selects the frames a trace samples. The zero value selects
// every forwarded frame and every drop but not_ours.
type TraceFilter struct {
	Outcome TraceOutcome
	// Reason, when set, selects only drops of this reason (Outcome is
	// then TraceDropped).
	Reason TraceReason
	// Service, when its Addr is valid, selects the frames of that virtual
	// service by protocol, VIP and port as the frame carries them; port 0
	// matches every port of the VIP. IPv4 only.
	Service balancer.ServiceKey
	// Client, when valid, selects the frames of clients inside it (IPv4).
	Client netip.Prefix
	// Reals, when not empty, selects the frames to or from these real
	// servers (one address:port has an ID per service it serves); at
	// most MaxTraceReals.
	Reals []balancer.RealID
}

// TraceConfig arms a trace.
type TraceConfig struct {
	Filter TraceFilter
	// Rate bounds the samples per second over all workers; zero means
	// DefaultTraceRate.
	Rate int
	// Snap is how many bytes of each frame are kept, before and after;
	// zero means DefaultTraceSnap, at most MaxTraceSnap.
	Snap int
	// Slots is each worker's ring size, rounded up to a power of two;
	// zero means DefaultTraceSlots.
	Slots int
}

// Trace defaults and bounds.
const (
	DefaultTraceRate  = 100
	MaxTraceRate      = 100000
	DefaultTraceSnap  = 2048 // whole frames at MTU 1500, TUN's outer header included
	MaxTraceSnap      = 16384
	DefaultTraceSlots = 64
	MaxTraceSlots     = 4096
	MaxTraceReals     = 8
)

// ErrTraceBusy is StartTrace's answer while another trace is armed.
var ErrTraceBusy = errors.New("another trace is attached to this director; stop it first (one trace at a time keeps the data plane's cost bounded)")

// traceIDs are what the filter looks at.
type traceIDs struct {
	hasSvc bool
	tun    bool // the real server's method is TUN: the frame is not rewritten in place
	proto  uint8
	vip    [4]byte
	vport  uint16
	client [4]byte
	real   balancer.RealID
}

// traceMatch is a TraceFilter compiled for the worker.
type traceMatch struct {
	outcome    TraceOutcome
	reason     TraceReason
	svc        bool
	svcProto   uint8
	svcAddr    [4]byte
	svcPort    uint16
	client     bool
	clientNet  uint32
	clientMask uint32
	nreals     int
	reals      [MaxTraceReals]balancer.RealID
}

func compileFilter(f TraceFilter) (traceMatch, error) {
	m := traceMatch{outcome: f.Outcome, reason: f.Reason, nreals: len(f.Reals)}
	if len(f.Reals) > MaxTraceReals {
		return m, fmt.Errorf("trace: %d real servers to filter on: at most %d; narrow the filter to one service", len(f.Reals), MaxTraceReals)
	}
	copy(m.reals[:], f.Reals)
	if f.Outcome > TraceDropped {
		return m, fmt.Errorf("trace: unknown outcome %d", f.Outcome)
	}
	if f.Reason >= numTraceReasons {
		return m, fmt.Errorf("trace: unknown drop reason %d", f.Reason)
	}
	if f.Reason != 0 {
		m.outcome = TraceDropped
	}
	if f.Service.Addr.IsValid() {
		a := f.Service.Addr.Unmap()
		if !a.Is4() {
			return m, fmt.Errorf("trace: service %v: the data plane forwards IPv4 only", f.Service)
		}
		m.svc, m.svcProto, m.svcAddr, m.svcPort = true, uint8(f.Service.Proto), a.As4(), f.Service.Port
	}
	if f.Client.IsValid() {
		p := f.Client.Masked()
		if !p.Addr().Unmap().Is4() {
			return m, fmt.Errorf("trace: client %v: the data plane forwards IPv4 only", f.Client)
		}
		bits := p.Bits()
		if p.Addr().Is4In6() {
			bits -= 96
		}
		a := p.Addr().Unmap().As4()
		m.client = true
		m.clientMask = ^uint32(0) << (32 - bits)
		if bits == 0 {
			m.clientMask = 0
		}
		m.clientNet = be32(a) & m.clientMask
	}
	return m, nil
}

func be32(a [4]byte) uint32 {
	return uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
}

// match reports whether a frame with these ids passes the filter's
// address parts; known is false when the frame's ids could not be read.
func (m *traceMatch) match(id *traceIDs, known bool) bool {
	if !known {
		return !m.svc && !m.client && m.nreals == 0
	}
	if m.svc && (!id.hasSvc || id.proto != m.svcProto || id.vip != m.svcAddr || (m.svcPort != 0 && id.vport != m.svcPort)) {
		return false
	}
	if m.client && be32(id.client)&m.clientMask != m.clientNet {
		return false
	}
	if m.nreals == 0 {
		return true
	}
	for _, r := range m.reals[:m.nreals] {
		if id.real == r {
			return true
		}
	}
	return false
}

// wantDrop reports whether the filter selects drops for reason r.
func (m *traceMatch) wantDrop(r TraceReason) bool {
	switch {
	case m.outcome == TraceForwarded:
		return false
	case m.reason != 0:
		return r == m.reason
	}
	return r != FrameDrop(DropNotOurs)
}

// traceSlot is one sample in a ring; before and after have capacity Snap.
type traceSlot struct {
	ids       traceIDs
	idsKnown  bool
	reason    TraceReason
	time      int64
	fromCl    bool // the frame arrived on the client port
	toCl      bool // after left by the client port
	generated bool // after is an ICMP error the director built
	rewritten bool // before was taken after the in-place rewrite (no TX room)
	beforeLen int
	afterLen  int
	before    []byte
	after     []byte
}

// traceRing is one worker's ring. The worker alone writes prod, head,
// the per-frame state and the counters; the control plane alone writes
// tail. Each side's fields sit on their own cache lines.
type traceRing struct {
	m      traceMatch
	slots  []traceSlot
	mask   uint64
	tokens *atomic.Int64

	// Per-frame state, worker only.
	cur     *traceSlot // the slot being filled for this frame
	decided bool       // ids holds the balancer's decision
	tried   bool       // the filter was evaluated at the decision
	ids     traceIDs
	prod    uint64

	head    atomic.Uint64 // samples published
	sampled atomic.Uint64
	full    atomic.Uint64 // selected but the ring was full
	limited atomic.Uint64 // selected but the rate limit had no token
	_       [64]byte
	tail    atomic.Uint64 // samples consumed
	_       [56]byte
}

// bump adds one to a counter only its owner writes.
func bump(c *atomic.Uint64) { c.Store(c.Load() + 1) }

// take reserves the next slot for a selected frame, or counts why it
// cannot.
func (t *traceRing) take() *traceSlot {
	if t.prod-t.tail.Load() > t.mask {
		bump(&t.full)
		return nil
	}
	if t.tokens.Load() <= 0 {
		bump(&t.limited)
		return nil
	}
	if t.tokens.Add(-1) < 0 {
		t.tokens.Add(1)
		bump(&t.limited)
		return nil
	}
	s := &t.slots[t.prod&t.mask]
	s.time = time.Now().UnixNano()
	s.after = s.after[:0]
	s.afterLen, s.toCl, s.generated, s.rewritten, s.reason = 0, false, false, false, 0
	return s
}

func (t *traceRing) publish() {
	t.prod++
	t.head.Store(t.prod)
	bump(&t.sampled)
}

func (s *traceSlot) setBefore(frame []byte) {
	s.before = s.before[:copy(s.before[:cap(s.before)], frame)]
	s.beforeLen = len(frame)
}

// packetIDs reads the ids of frame p: the service tuple and client of a
// client-side frame (or of the connection an ICMP error quotes), the
// client of a real-side one.
func packetIDs(p *Parsed, fromClient bool) traceIDs {
	if p.ICMPRelated {
		q := &p.Inner
		// The quote from the client side went VIP -> client; from the
		// real side, client -> real.
		if fromClient {
			return traceIDs{hasSvc: true, proto: q.Proto, vip: q.Src, vport: q.SrcPort, client: q.Dst}
		}
		return traceIDs{proto: q.Proto, client: q.Src}
	}
	if fromClient {
		return traceIDs{hasSvc: true, proto: p.Proto, vip: p.Dst, vport: p.DstPort, client: p.Src}
	}
	return traceIDs{proto: p.Proto, client: p.Dst}
}

// The worker's hook into a trace is its ring and these methods: begin and
// end bracket each frame (the worker resets and then passes its last drop
// reason), inbound and outbound mark the balancer's decision, sent the
// first frame transmitted for it. Nothing here reaches into the worker.

// begin starts a frame. The last frame's ids go too: a drop whose ids are
// not known (not_ours) must not carry them into its sample.
func (t *traceRing) begin() {
	t.cur, t.decided, t.tried, t.ids = nil, false, false, traceIDs{}
}

// end finishes the frame begin started: frame as received (p parsed), r
// its drop reason (0 when it was forwarded or answered). It publishes the
// sample inbound or outbound took, or takes one now for a drop the filter
// wants.
func (t *traceRing) end(frame []byte, p *Parsed, fromClient bool, r TraceReason) {
	if s := t.cur; s != nil {
		t.cur = nil
		if r != 0 && t.m.outcome == TraceForwarded {
			return // selected at the decision, dropped after it
		}
		s.reason = r
		s.rewritten = r == FrameDrop(DropNoRoom) && !t.ids.tun
		t.publish()
		return
	}
	if r == 0 || t.tried || !t.m.wantDrop(r) {
		return
	}
	ids, known := t.ids, true
	if !t.decided {
		known = r.idsKnown()
		if known {
			ids = packetIDs(p, fromClient)
		}
	}
	if !t.m.match(&ids, known) {
		return
	}
	s := t.take()
	if s == nil {
		return
	}
	s.ids, s.idsKnown, s.fromCl, s.reason = ids, known, fromClient, r
	s.rewritten = r == FrameDrop(DropNoRoom) && t.decided && !ids.tun
	s.setBefore(frame)
	t.publish()
}

// decide runs when the balancer has decided for a frame, before any
// rewrite: a frame the filter selects is copied now, as received.
func (t *traceRing) decide(frame []byte, ids traceIDs, fromClient bool) {
	t.ids, t.decided = ids, true
	if t.m.outcome == TraceDropped {
		return // only drops are wanted: end copies them, unchanged
	}
	t.tried = true
	if !t.m.match(&ids, true) {
		return
	}
	s := t.take()
	if s == nil {
		return
	}
	s.ids, s.idsKnown, s.fromCl = ids, true, fromClient
	s.setBefore(frame)
	t.cur = s
}

// inbound is decide for client-side frame p going to real server r.
func (t *traceRing) inbound(frame []byte, p *Parsed, r *balancer.RealServer) {
	ids := packetIDs(p, true)
	ids.real, ids.tun = r.ID, r.Method == balancer.TUN
	t.decide(frame, ids, true)
}

// outbound is decide for a NAT reply p from real server r (or an ICMP
// error about one) to the client, for service vip:vport.
func (t *traceRing) outbound(frame []byte, p *Parsed, r balancer.RealID, vip [4]byte, vport uint16) {
	ids := packetIDs(p, false)
	ids.hasSvc, ids.vip, ids.vport, ids.real = true, vip, vport, r
	t.decide(frame, ids, false)
}

// sent records the first frame a selected frame produced: its
// rewrite, its encapsulation or the ICMP error sent in its place.
func (t *traceRing) sent(frame []byte, toClient, generated bool) {
	s := t.cur
	if s == nil || s.afterLen != 0 {
		return
	}
	s.after = s.after[:copy(s.after[:cap(s.after)], frame)]
	s.afterLen, s.toCl, s.generated = len(frame), toClient, generated
}

// Trace is an armed trace. Its methods are for one control goroutine.
type Trace struct {
	loop   *Loop
	rings  []*traceRing
	tokens atomic.Int64
	rate   int64
	burst  int64
	last   time.Time
	// credit carries fractions of a token between refills.
	credit time.Duration
	seq    uint64
}

// StartTrace arms a trace on every worker; it returns ErrTraceBusy while
// another is armed. Stop disarms it.
func (l *Loop) StartTrace(cfg TraceConfig) (*Trace, error) {
	m, err := compileFilter(cfg.Filter)
	if err != nil {
		return nil, err
	}
	rate, snap, slots := cfg.Rate, cfg.Snap, cfg.Slots
	if rate == 0 {
		rate = DefaultTraceRate
	}
	if snap == 0 {
		snap = DefaultTraceSnap
	}
	if slots == 0 {
		slots = DefaultTraceSlots
	}
	switch {
	case rate < 0 || rate > MaxTraceRate:
		return nil, fmt.Errorf("trace: rate %d samples/s: choose 1 to %d", rate, MaxTraceRate)
	case snap < 64 || snap > MaxTraceSnap:
		return nil, fmt.Errorf("trace: snap %d bytes: choose 64 to %d", snap, MaxTraceSnap)
	case slots < 1 || slots > MaxTraceSlots:
		return nil, fmt.Errorf("trace: %d slots: choose 1 to %d", slots, MaxTraceSlots)
	}
	size := 1 << bits.Len(uint(slots-1))
	t := &Trace{loop: l, rate: int64(rate), burst: max(1, int64(rate)/10), last: time.Now()}
	t.tokens.Store(t.burst)
	for range l.workers {
		r := &traceRing{m: m, slots: make([]traceSlot, size), mask: uint64(size - 1), tokens: &t.tokens}
		buf := make([]byte, 2*size*snap)
		for i := range r.slots {
			b := buf[2*i*snap:]
			r.slots[i].before = b[:0:snap]
			r.slots[i].after = b[snap : snap : 2*snap]
		}
		t.rings = append(t.rings, r)
	}
	if !l.trace.CompareAndSwap(nil, t) {
		return nil, ErrTraceBusy
	}
	return t, nil
}

// traceRing returns worker i's ring of the armed trace, or nil.
func (l *Loop) traceRing(i int) *traceRing {
	if t := l.trace.Load(); t != nil {
		return t.rings[i]
	}
	return nil
}

// Stop disarms the trace. Workers notice at their next batch.
func (t *Trace) Stop() { t.loop.trace.CompareAndSwap(t, nil) }

// TraceSample is one sampled frame. Before and After are views into the
// ring, valid only during the Drain callback.
type TraceSample struct {
	// Seq numbers the samples of a trace from 1.
	Seq    uint64
	Worker int
	Time   time.Time
	// FromClient says the frame arrived on the client-side port.
	FromClient bool
	// Drop is why the frame was dropped; zero when it was forwarded.
	Drop TraceReason
	// HasService says Proto, VIP and VPort name the frame's virtual
	// service as the frame (or the connection) carries them.
	HasService bool
	Proto      balancer.Protocol
	VIP        [4]byte
	VPort      uint16
	// Real is the real server the balancer chose; zero before a decision.
	Real balancer.RealID
	// Before is the frame as received, cut to Snap bytes; BeforeLen is
	// its whole length. BeforeRewritten says it was taken after the
	// in-place rewrite (a frame dropped for want of TX room).
	Before          []byte
	BeforeLen       int
	BeforeRewritten bool
	// After is the frame sent because of it, if any, cut to Snap bytes;
	// ToClient says it left by the client-side port, Generated that it is
	// an ICMP error the director built rather than a rewrite.
	After     []byte
	AfterLen  int
	ToClient  bool
	Generated bool
}

// TraceStats count a trace's samples and the frames it selected but could
// not keep.
type TraceStats struct {
	Sampled     uint64 `json:"sampled"`
	RingFull    uint64 `json:"ring_full"`
	RateLimited uint64 `json:"rate_limited"`
}

// Drain refills the rate limit and hands every published sample to fn,
// in order per worker; it returns how many it handed over.
func (t *Trace) Drain(fn func(*TraceSample)) int {
	now := time.Now()
	t.credit += now.Sub(t.last) * time.Duration(t.rate)
	t.last = now
	if add := int64(t.credit / time.Second); add > 0 {
		t.credit -= time.Duration(add) * time.Second
		if cur := t.tokens.Load(); cur < t.burst {
			t.tokens.Add(min(add, t.burst-cur))
		}
	}
	n := 0
	var s TraceSample
	for wi, r := range t.rings {
		head := r.head.Load()
		for tail := r.tail.Load(); tail < head; tail++ {
			sl := &r.slots[tail&r.mask]
			t.seq++
			s = TraceSample{Seq: t.seq, Worker: wi, Time: time.Unix(0, sl.time), FromClient: sl.fromCl, Drop: sl.reason,
				Real: sl.ids.real, Before: sl.before, BeforeLen: sl.beforeLen, BeforeRewritten: sl.rewritten,
				After: sl.after, AfterLen: sl.afterLen, ToClient: sl.toCl, Generated: sl.generated}
			if sl.idsKnown && sl.ids.hasSvc {
				s.HasService, s.Proto, s.VIP, s.VPort = true, balancer.Protocol(sl.ids.proto), sl.ids.vip, sl.ids.vport
			}
			fn(&s)
			r.tail.Store(tail + 1)
			n++
		}
	}
	return n
}

// Stats sums the workers' trace counters.
func (t *Trace) Stats() TraceStats {
	var s TraceStats
	for _, r := range t.rings {
		s.Sampled += r.sampled.Load()
		s.RingFull += r.full.Load()
		s.RateLimited += r.limited.Load()
	}
	return s
}
