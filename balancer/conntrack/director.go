package conntrack

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ulvs/ulvs/balancer"
)

// ServiceSource is what the director needs from a Table snapshot: the
// virtual service a packet is addressed to, and a real server by its stable
// identity. Real returns nil once the server is no longer part of the
// snapshot; the director then treats its connections as IPVS treats those
// of a removed destination.
//
// A RealID must keep the same RealStats for as long as any connection
// bound to it lives, including after its server left the snapshot: the
// director unbinds expired connections from the last RealServer it saw with
// that ID.
type ServiceSource interface {
	LookupV4(proto balancer.Protocol, addr [4]byte, port uint16) *balancer.Service
	Real(id balancer.RealID) *balancer.RealServer
}

// DirectorConfig configures a Director. The zero value means IPVS defaults
// and room for 1<<20 entries.
type DirectorConfig struct {
	// MaxConns is the most entries (connections plus persistence templates)
	// the table holds; zero means 1<<20. Memory is allocated up front:
	// about 53 bytes per entry.
	MaxConns int
	// Shards is the number of independently locked parts, a power of two;
	// zero picks 64 (fewer for small tables).
	Shards int

	// NoConnReuse is IPVS conn_reuse_mode=0: a SYN hitting a TIME_WAIT or
	// CLOSE entry follows the old entry to the same real server instead of
	// being scheduled anew.
	NoConnReuse bool
	// ConnReuseFinWait is conn_reuse_mode bit 2: also reschedule a SYN that
	// hits a FIN_WAIT entry of a DR/TUN connection that never saw a reply.
	ConnReuseFinWait bool
	// ExpireNodestConn is IPVS expire_nodest_conn: a packet for a connection
	// whose real server left the table expires the entry and is scheduled
	// anew (a SYN is needed for TCP) instead of being dropped; a SYN hitting
	// a connection whose server has weight 0 is rescheduled too.
	ExpireNodestConn bool
	// SloppyTCP is IPVS sloppy_tcp: a TCP segment without SYN (but not an
	// RST) that matches no connection is scheduled as a new connection
	// instead of dropped, so that a director that took over a VIP can carry
	// connections another director started (with mh or sh, or one real
	// server, they land where they were).
	SloppyTCP bool
	// ExpireQuiescentTemplate is IPVS expire_quiescent_template: a
	// persistence template whose real server has weight 0 is not honoured;
	// the client is scheduled anew.
	ExpireQuiescentTemplate bool
}

// Validate reports a configuration the director cannot run with.
func (c DirectorConfig) Validate() error {
	if c.MaxConns < 0 {
		return fmt.Errorf("balancer: MaxConns %d is negative; use 0 for the default of %d", c.MaxConns, defaultMaxConns)
	}
	if c.MaxConns > 1<<30 {
		return fmt.Errorf("balancer: MaxConns %d is above the supported 1<<30", c.MaxConns)
	}
	if c.Shards < 0 || c.Shards&(c.Shards-1) != 0 || c.Shards > 1<<16 {
		return fmt.Errorf("balancer: Shards %d must be a power of two up to 65536 (or 0 for the default)", c.Shards)
	}
	return nil
}

const defaultMaxConns = 1 << 20

// Action is what the packet loop does with a packet.
type Action uint8

// The actions.
const (
	// ActionNotService: the packet belongs to no virtual service and no
	// connection; leave it to the kernel.
	ActionNotService Action = iota
	// ActionForward: send the packet to the real server in the result.
	ActionForward
	// ActionDrop: discard the packet; the result's Reason says why.
	ActionDrop
)

func (a Action) String() string {
	switch a {
	case ActionNotService:
		return "not-service"
	case ActionForward:
		return "forward"
	case ActionDrop:
		return "drop"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// DropReason says why the director dropped a packet.
type DropReason uint8

// The drop reasons. Each is counted; none is logged per packet.
const (
	DropNone DropReason = iota
	// DropTableFull: a new flow found the connection table full. Existing
	// connections are never evicted to make room.
	DropTableFull
	// DropNoRealServer: the scheduler found no available real server (all
	// weight 0, overloaded, or none configured).
	DropNoRealServer
	// DropRealUnavailable: the connection's real server left the table and
	// ExpireNodestConn is off.
	DropRealUnavailable
	// DropNotSYN: a TCP segment without SYN (or with RST) for a service
	// matched no connection; IPVS does not schedule those.
	DropNotSYN
	// DropProtocol: the service's protocol has no connection tracking here
	// (only TCP and UDP do).
	DropProtocol
	// DropPortZero: a non-persistent port-zero service cannot schedule, as
	// in IPVS.
	DropPortZero
	// DropRealNotIPv4: the scheduled real server has no IPv4 address.
	DropRealNotIPv4

	// NumDropReasons is the number of drop reasons, for sizing arrays.
	NumDropReasons
)

var dropReasonNames = [NumDropReasons]string{
	DropNone:            "none",
	DropTableFull:       "table-full",
	DropNoRealServer:    "no-real-server",
	DropRealUnavailable: "real-server-unavailable",
	DropNotSYN:          "tcp-not-syn",
	DropProtocol:        "protocol-not-tracked",
	DropPortZero:        "port-zero-not-persistent",
	DropRealNotIPv4:     "real-server-not-ipv4",
}

// String returns the reason's metric label.
func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropReasonNames[r]
	}
	return fmt.Sprintf("drop(%d)", uint8(r))
}

// InboundResult is the director's decision for a client packet.
type InboundResult struct {
	Action Action
	Reason DropReason // for ActionDrop
	// Real is the real server to forward to (ActionForward). Its Method
	// says how; for NAT the caller rewrites the destination to
	// Real.Addr:Port (Real.Port 0 means keep the virtual port).
	Real *balancer.RealServer
	// Service is set when this packet was scheduled (a new connection or a
	// one-packet datagram); it is nil for packets of existing connections.
	Service *balancer.Service
	// New reports that the packet created a connection entry.
	New bool
}

// OutboundResult is the director's decision for a NAT reply from a real
// server.
type OutboundResult struct {
	Action Action // ActionForward or ActionNotService
	// VIP and VPort are the virtual address and port to rewrite the
	// reply's source to.
	VIP   [4]byte
	VPort uint16
	Real  balancer.RealID
}

// ConnCounters are the director's event counters, summed over workers.
type ConnCounters struct {
	Drops       [NumDropReasons]uint64
	Forwarded   uint64 // packets forwarded (both directions)
	NotService  uint64 // packets that matched no service or connection
	NewConns    uint64 // connection entries created
	OnePacket   uint64 // datagrams scheduled without an entry (FlagOnePacket)
	Templates   uint64 // persistence templates created
	Rescheduled uint64 // entries replaced by conn_reuse_mode or expire_nodest_conn
	Expired     uint64 // entries removed after their timeout
	Reclaimed   uint64 // of Expired: removed early to make room for a new flow
	Purged      uint64 // entries removed by PurgeReal
}

type connCounters struct {
	drops       [NumDropReasons]atomic.Uint64
	forwarded   atomic.Uint64
	notService  atomic.Uint64
	newConns    atomic.Uint64
	onePacket   atomic.Uint64
	templates   atomic.Uint64
	rescheduled atomic.Uint64
	expired     atomic.Uint64
	reclaimed   atomic.Uint64
	purged      atomic.Uint64
}

func (c *connCounters) addTo(s *ConnCounters) {
	for i := range c.drops {
		s.Drops[i] += c.drops[i].Load()
	}
	s.Forwarded += c.forwarded.Load()
	s.NotService += c.notService.Load()
	s.NewConns += c.newConns.Load()
	s.OnePacket += c.onePacket.Load()
	s.Templates += c.templates.Load()
	s.Rescheduled += c.rescheduled.Load()
	s.Expired += c.expired.Load()
	s.Reclaimed += c.reclaimed.Load()
	s.Purged += c.purged.Load()
}

// Director is the connection-tracking half of an IPVS director: the
// connection table, the TCP state machine, persistence templates and the
// rules that decide, per packet, which real server gets it. It does no I/O.
//
// A Director is safe for concurrent use. Each packet-loop goroutine gets its
// own Worker (for scratch space and uncontended counters); control-plane
// calls (Sweep, PurgeReal, Conns, timeouts) may run at any time alongside.
type Director struct {
	cfg      DirectorConfig
	tab      *connTable
	timeouts timeoutTable

	regMu sync.Mutex
	reg   atomic.Pointer[map[balancer.RealID]*balancer.RealServer]

	workersMu sync.Mutex
	workers   []*Worker
	ctr       connCounters

	sweepMu    sync.Mutex
	sweepShard int
}

// NewDirector builds a director with all table memory allocated.
func NewDirector(cfg DirectorConfig) (*Director, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = defaultMaxConns
	}
	if cfg.Shards == 0 {
		cfg.Shards = 64
		for cfg.Shards > 1 && cfg.MaxConns/cfg.Shards < 1024 {
			cfg.Shards /= 2
		}
	}
	d := &Director{cfg: cfg, tab: newConnTable(cfg.MaxConns, cfg.Shards)}
	d.timeouts.init()
	m := map[balancer.RealID]*balancer.RealServer{}
	d.reg.Store(&m)
	return d, nil
}

// Config returns the configuration in effect (defaults filled in).
func (d *Director) Config() DirectorConfig { return d.cfg }

// Len returns the number of entries (connections and templates), including
// expired ones not yet swept.
func (d *Director) Len() int { return int(d.tab.count.Load()) }

// MemoryBytes returns the bytes the table holds, allocated up front for
// MaxConns (ActiveSlots tells how much of it is in use).
func (d *Director) MemoryBytes() int {
	return len(d.tab.shards) * int(d.tab.region) * connSlotBytes
}

// ActiveSlots returns how many slots the shards use now: they grow with
// the live entries and shrink back as they expire.
func (d *Director) ActiveSlots() int {
	n := 0
	for i := range d.tab.sizes {
		n += int(d.tab.sizes[i].Load())
	}
	return n
}

// Timeouts returns the TCP ESTABLISHED, TCP FIN_WAIT and UDP timeouts, the
// three values of ipvsadm --timeout.
func (d *Director) Timeouts() (tcp, tcpFin, udp time.Duration) {
	return d.timeouts.of(StateEstablished).Duration(), d.timeouts.of(StateFinWait).Duration(), d.timeouts.of(StateUDP).Duration()
}

// SetTimeouts is ipvsadm --set tcp tcpfin udp: a zero value leaves that
// timeout unchanged. It affects entries from their next packet on.
func (d *Director) SetTimeouts(tcp, tcpFin, udp time.Duration) {
	for _, v := range []struct {
		s ConnState
		d time.Duration
	}{{StateEstablished, tcp}, {StateFinWait, tcpFin}, {StateUDP, udp}} {
		if v.d > 0 {
			d.SetStateTimeout(v.s, v.d)
		}
	}
}

// ErrUnknownState is returned for a ConnState outside the known set.
var ErrUnknownState = errors.New("balancer: unknown connection state; use one of the State constants")

// SetStateTimeout sets the timeout of one state (IPVS's per-protocol
// timeout table; ipvsadm exposes only three of them).
func (d *Director) SetStateTimeout(s ConnState, t time.Duration) error {
	if s >= numConnStates {
		return ErrUnknownState
	}
	d.timeouts[s].Store(uint32(Ticks(t)))
	return nil
}

// StateTimeout returns the timeout of state s.
func (d *Director) StateTimeout(s ConnState) time.Duration {
	if s >= numConnStates {
		return 0
	}
	return d.timeouts.of(s).Duration()
}

// Counters returns the event counters summed over all workers.
func (d *Director) Counters() ConnCounters {
	var s ConnCounters
	d.ctr.addTo(&s)
	d.workersMu.Lock()
	for _, w := range d.workers {
		w.ctr.addTo(&s)
	}
	d.workersMu.Unlock()
	return s
}

// Worker is one packet loop's handle on a Director. It holds scratch space
// so the per-packet calls allocate nothing, and counters only its goroutine
// writes. A Worker is not safe for concurrent use; make one per goroutine.
type Worker struct {
	d     *Director
	flow  balancer.Flow
	ctr   connCounters
	batch [connBatchMax]connBatchSlot
	// DecideBatch's scratch: packets grouped by shard, and which are left
	// for its per-packet pass.
	order   [connBatchMax]uint16
	pending [connBatchMax]bool
}

// NewWorker returns a handle for one packet-loop goroutine.
func (d *Director) NewWorker() *Worker {
	w := &Worker{d: d}
	d.workersMu.Lock()
	d.workers = append(d.workers, w)
	d.workersMu.Unlock()
	return w
}

// realByID resolves a RealID: from the current snapshot when it is there,
// else from the last RealServer bound under that ID.
func (d *Director) realByID(src ServiceSource, id balancer.RealID) *balancer.RealServer {
	if src != nil {
		if r := src.Real(id); r != nil {
			return r
		}
	}
	return (*d.reg.Load())[id]
}

// remember records r so connections bound to it can be unbound after r
// leaves the snapshot. Copy-on-write: the map changes once per new RealID.
func (d *Director) remember(r *balancer.RealServer) {
	if _, ok := (*d.reg.Load())[r.ID]; ok {
		return
	}
	d.regMu.Lock()
	defer d.regMu.Unlock()
	old := *d.reg.Load()
	if _, ok := old[r.ID]; ok {
		return
	}
	m := make(map[balancer.RealID]*balancer.RealServer, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[r.ID] = r
	d.reg.Store(&m)
}

// connReleases collects template references to drop after a shard lock is
// released, so no goroutine ever holds two shard locks.
type connReleases struct {
	n    int
	keys [8]inKey
}

func (r *connReleases) full() bool { return r.n == len(r.keys) }

func (r *connReleases) add(k inKey) {
	if r.n < len(r.keys) {
		r.keys[r.n] = k
		r.n++
	}
}

func (r *connReleases) run(d *Director) {
	for i := 0; i < r.n; i++ {
		d.releaseTemplate(&r.keys[i])
	}
	r.n = 0
}

// dropEntry removes the entry at pos of sh (locked), unbinding it from its
// real server. The caller must leave room in rel for a template release.
func (d *Director) dropEntry(src ServiceSource, sh *connShard, pos uint32, rel *connReleases) {
	e := &sh.slots[pos]
	if e.kind == kindTemplate {
		if e.flags&flagNoReal == 0 {
			if r := d.realByID(src, e.real); r != nil {
				r.Unbind(balancer.ConnTemplate)
			}
		}
	} else {
		if r := d.realByID(src, e.real); r != nil {
			r.Unbind(e.connKind())
		}
		if e.flags&flagControlled != 0 {
			rel.add(connTemplateKeyOf(e))
		}
	}
	sh.remove(&d.tab.hash, pos)
	d.tab.release(1)
}

// update runs the state machine for a packet seen in view v and restarts
// the entry's timer, as IPVS's set_tcp_state and ip_vs_conn_put do.
func (d *Director) update(e *connEntry, r *balancer.RealServer, v tcpView, f TCPFlags, now Tick) {
	if e.proto == balancer.TCP {
		if e.flags&flagNoOutput != 0 {
			if v == viewOutput {
				e.flags &^= flagNoOutput
			} else {
				v = viewInputOnly
			}
		}
		ns := nextTCPState(e.state, v, f)
		if ns != e.state {
			inactive := e.flags&flagInactive != 0
			switch {
			case !inactive && !ns.Active():
				e.flags |= flagInactive
				if r != nil {
					r.Move(balancer.ConnActive, balancer.ConnInactive)
				}
			case inactive && ns.Active():
				e.flags &^= flagInactive
				if r != nil {
					r.Move(balancer.ConnInactive, balancer.ConnActive)
				}
			}
			e.state = ns
		}
	}
	e.expires = now + d.timeouts.of(e.state)
}

// newConnExpected is IPVS's is_new_conn_expected: a SYN may start a new
// connection over this entry.
func (d *Director) newConnExpected(e *connEntry) bool {
	if e.proto != balancer.TCP {
		return false
	}
	switch e.state {
	case StateTimeWait, StateClose:
		return true
	case StateFinWait:
		return d.cfg.ConnReuseFinWait && e.flags&flagNoOutput != 0
	}
	return false
}

func (w *Worker) drop(r DropReason) InboundResult {
	w.ctr.drops[r].Add(1)
	return InboundResult{Action: ActionDrop, Reason: r}
}

// Inbound decides what to do with a packet from a client: t is the packet's
// tuple (client -> virtual address), flags its TCP flags (ignored for UDP),
// now the batch's clock. src is the current Table snapshot.
//
// The order follows IPVS's ip_vs_in: look the connection up; a SYN over a
// finished entry (conn_reuse_mode) or over a weight-0 server
// (expire_nodest_conn) expires it; an entry whose server left the table is
// dropped or expired (expire_nodest_conn); otherwise a miss schedules a new
// connection through the service's persistence template or scheduler.
// Inbound does not allocate. inboundBatch decides a whole receive batch
// faster when the table is larger than the CPU caches.
func (w *Worker) Inbound(src ServiceSource, t Tuple4, flags TCPFlags, now Tick) InboundResult {
	if t.Proto != balancer.TCP && t.Proto != balancer.UDP {
		return w.untracked(src, &t, nil)
	}
	d := w.d
	sh := d.tab.shardOf(t.Src, t.SrcPort, t.Proto)
	k := makeInKey(t.Src, t.Dst, t.SrcPort, t.DstPort, t.Proto, kindConn)
	h := d.tab.hash.in(&k)
	// The plain hit is spelled out here as in inbound, rather than
	// Inbound calling inbound: the extra call costs about 10 ns (a sixth)
	// of a cached hit.
	sh.mu.Lock()
	pos := sh.findIn(&k, h)
	if pos >= 0 {
		e := &sh.slots[pos]
		if !e.expired(now) {
			if cur := src.Real(e.real); cur != nil && !d.synReschedules(e, cur, &t, flags) {
				d.update(e, cur, viewInput, flags, now)
				sh.mu.Unlock()
				w.ctr.forwarded.Add(1)
				return InboundResult{Action: ActionForward, Real: cur}
			}
		}
	}
	return w.inboundLocked(src, sh, pos, &k, h, &t, flags, now, nil)
}

// connTally counts a batch's outcomes, so the worker's counters take one
// atomic add per batch rather than one per packet.
type connTally struct{ forwarded, notService, newConns uint64 }

func (c *connTally) flush(ctr *connCounters) {
	if c.forwarded != 0 {
		ctr.forwarded.Add(c.forwarded)
	}
	if c.notService != 0 {
		ctr.notService.Add(c.notService)
	}
	if c.newConns != 0 {
		ctr.newConns.Add(c.newConns)
	}
}

// countForward counts a forwarded packet, and a new connection when isNew:
// into tl when a batch is tallying, else at once.
func (w *Worker) countForward(tl *connTally, isNew bool) {
	if tl != nil {
		tl.forwarded++
		if isNew {
			tl.newConns++
		}
		return
	}
	w.ctr.forwarded.Add(1)
	if isNew {
		w.ctr.newConns.Add(1)
	}
}

// countNotService counts a packet that belongs to no service or connection.
func (w *Worker) countNotService(tl *connTally) {
	if tl != nil {
		tl.notService++
		return
	}
	w.ctr.notService.Add(1)
}

// untracked handles a client packet of a protocol without connection
// tracking.
func (w *Worker) untracked(src ServiceSource, t *Tuple4, tl *connTally) InboundResult {
	if src.LookupV4(t.Proto, t.Dst, t.DstPort) != nil {
		return w.drop(DropProtocol)
	}
	w.countNotService(tl)
	return InboundResult{}
}

// inbound is Inbound for a TCP or UDP tuple whose shard, key and hash are
// already known, counting into tl (nil: into the worker's counters).
func (w *Worker) inbound(src ServiceSource, sh *connShard, k *inKey, h uint64, t *Tuple4, flags TCPFlags, now Tick, tl *connTally) InboundResult {
	sh.mu.Lock()
	cur, pos := w.d.hitInLocked(src, sh, k, h, t, flags, now)
	if cur != nil {
		sh.mu.Unlock()
		w.countForward(tl, false)
		return InboundResult{Action: ActionForward, Real: cur}
	}
	return w.inboundLocked(src, sh, pos, k, h, t, flags, now, tl)
}

// hitInLocked is the plain hit of a client packet, with sh locked: a live
// entry whose real server is in the table and that the packet does not
// reschedule. It refreshes the entry and returns the real server; otherwise
// it changes nothing and returns nil and the lookup's answer (the entry's
// position, or -1) for inboundLocked.
func (d *Director) hitInLocked(src ServiceSource, sh *connShard, k *inKey, h uint64, t *Tuple4, flags TCPFlags, now Tick) (*balancer.RealServer, int) {
	pos := sh.findIn(k, h)
	if pos < 0 {
		return nil, pos
	}
	e := &sh.slots[pos]
	if e.expired(now) {
		return nil, pos
	}
	cur := src.Real(e.real)
	if cur == nil || d.synReschedules(e, cur, t, flags) {
		return nil, pos
	}
	d.update(e, cur, viewInput, flags, now)
	return cur, pos
}

// synReschedules reports whether a SYN over the live entry e, whose real
// server is cur (nil when it left the table), starts a new connection
// instead of following the entry: conn_reuse_mode over a finished entry, or
// expire_nodest_conn over a weight-0 server. Connections under a
// persistence template follow it regardless.
func (d *Director) synReschedules(e *connEntry, cur *balancer.RealServer, t *Tuple4, flags TCPFlags) bool {
	if t.Proto != balancer.TCP || flags&TCPSyn == 0 || e.flags&flagControlled != 0 {
		return false
	}
	if d.cfg.ExpireNodestConn && cur != nil && cur.Weight == 0 {
		return true
	}
	return !d.cfg.NoConnReuse && d.newConnExpected(e)
}

// inboundLocked is everything but the plain hit, with sh locked and pos the
// lookup's answer: an expired entry, a rescheduling SYN, an entry whose
// real server left the table, or a miss. It unlocks sh.
func (w *Worker) inboundLocked(src ServiceSource, sh *connShard, pos int, k *inKey, h uint64, t *Tuple4, flags TCPFlags, now Tick, tl *connTally) InboundResult {
	d := w.d
	var rel connReleases
	if pos >= 0 {
		e := &sh.slots[pos]
		if e.expired(now) {
			d.dropEntry(src, sh, uint32(pos), &rel)
			w.ctr.expired.Add(1)
		} else {
			// Not a plain hit: a rescheduling SYN, or the server is gone,
			// which drops the packet unless expire_nodest_conn or a
			// rescheduling SYN makes way for a new connection.
			if src.Real(e.real) == nil && !d.cfg.ExpireNodestConn && !d.synReschedules(e, nil, t, flags) {
				sh.mu.Unlock()
				return w.drop(DropRealUnavailable)
			}
			d.dropEntry(src, sh, uint32(pos), &rel)
			w.ctr.rescheduled.Add(1)
		}
	}
	if rel.n == 0 {
		// The common miss: nothing to release, so a plain service can be
		// scheduled and inserted under this same lock.
		return w.scheduleLocked(src, sh, k, t, flags, now, tl)
	}
	sh.mu.Unlock()
	rel.run(d)
	return w.schedule(src, sh, k, h, t, flags, now, tl)
}

// scheduleLocked handles a miss with sh still locked from the lookup, and
// unlocks it. A non-persistent service is scheduled and its entry inserted
// without unlocking in between (schedulers take no shard locks); a
// persistent service or a one-packet datagram unlocks first and goes
// through schedule, since a template lives in another shard and a
// goroutine never holds two shard locks.
func (w *Worker) scheduleLocked(src ServiceSource, sh *connShard, k *inKey, t *Tuple4, flags TCPFlags, now Tick, tl *connTally) InboundResult {
	d := w.d
	svc := src.LookupV4(t.Proto, t.Dst, t.DstPort)
	switch {
	case svc == nil:
		sh.mu.Unlock()
		w.countNotService(tl)
		return InboundResult{}
	case t.Proto == balancer.TCP && !d.tcpSchedulable(flags):
		sh.mu.Unlock()
		return w.drop(DropNotSYN)
	case svc.Persistence > 0 || t.Proto == balancer.UDP && svc.Flags&balancer.FlagOnePacket != 0:
		sh.mu.Unlock()
		return w.scheduleService(src, svc, sh, k, d.tab.hash.in(k), t, flags, now, tl)
	case svc.Key.FWMark == 0 && svc.Key.Port != t.DstPort:
		sh.mu.Unlock()
		return w.drop(DropPortZero)
	}
	w.flow = balancer.Flow{Proto: t.Proto, Src: connAddrFrom4(t.Src), Dst: connAddrFrom4(t.Dst), SrcPort: t.SrcPort, DstPort: t.DstPort}
	var r *balancer.RealServer
	if svc.Sched != nil {
		r = svc.Sched.Schedule(&w.flow)
	}
	if r == nil {
		sh.mu.Unlock()
		return w.drop(DropNoRealServer)
	}
	if !r.Addr.Unmap().Is4() {
		sh.mu.Unlock()
		return w.drop(DropRealNotIPv4)
	}
	d.remember(r)
	e := newConnEntry(k, t, svc, r)
	var rel connReleases
	if !d.admit(src, sh, now, &rel, &w.ctr) {
		sh.mu.Unlock()
		rel.run(d)
		return w.drop(DropTableFull)
	}
	pos := d.tab.insert(sh, &e)
	r.Bind(balancer.ConnInactive)
	d.update(&sh.slots[pos], r, viewInput, flags, now)
	sh.mu.Unlock()
	rel.run(d)
	w.countForward(tl, true)
	return InboundResult{Action: ActionForward, Real: r, Service: svc, New: true}
}

// newConnEntry builds the entry of a new connection of t, scheduled to r.
func newConnEntry(k *inKey, t *Tuple4, svc *balancer.Service, r *balancer.RealServer) connEntry {
	// The real port replaces the virtual port only for the service's own
	// port; port-zero and fwmark services keep the packet's port (IPVS).
	dport := r.Port
	if dport == 0 || svc.Key.Port != t.DstPort {
		dport = t.DstPort
	}
	e := connEntry{
		addrs: k.addrs, ports: k.ports, proto: t.Proto, kind: kindConn,
		flags: flagInactive | uint8(r.Method)<<flagMethodShift,
		dst:   connBE32(r.Addr.Unmap().As4()),
		aux:   uint32(dport) << 16,
		real:  r.ID,
	}
	if r.Method != balancer.NAT {
		e.flags |= flagNoOutput
	}
	if t.Proto == balancer.UDP {
		e.state = StateUDP
	}
	return e
}

// schedule handles a packet that matched no live connection, with no shard
// lock held.
func (w *Worker) schedule(src ServiceSource, sh *connShard, k *inKey, h uint64, t *Tuple4, flags TCPFlags, now Tick, tl *connTally) InboundResult {
	svc := src.LookupV4(t.Proto, t.Dst, t.DstPort)
	if svc == nil {
		w.countNotService(tl)
		return InboundResult{}
	}
	if t.Proto == balancer.TCP && !w.d.tcpSchedulable(flags) {
		return w.drop(DropNotSYN)
	}
	return w.scheduleService(src, svc, sh, k, h, t, flags, now, tl)
}

// tcpSchedulable says whether a TCP segment of no connection may start one:
// a SYN, or with sloppy_tcp anything but an RST (tcp_conn_schedule).
func (d *Director) tcpSchedulable(flags TCPFlags) bool {
	if flags&TCPRst != 0 {
		return false
	}
	return flags&TCPSyn != 0 || d.cfg.SloppyTCP
}

// scheduleService schedules a new flow of svc (found, and the TCP flags
// checked) with no shard lock held.
func (w *Worker) scheduleService(src ServiceSource, svc *balancer.Service, sh *connShard, k *inKey, h uint64, t *Tuple4, flags TCPFlags, now Tick, tl *connTally) InboundResult {
	d := w.d
	w.flow = balancer.Flow{Proto: t.Proto, Src: connAddrFrom4(t.Src), Dst: connAddrFrom4(t.Dst), SrcPort: t.SrcPort, DstPort: t.DstPort}
	onePacket := t.Proto == balancer.UDP && svc.Flags&balancer.FlagOnePacket != 0

	var (
		r          *balancer.RealServer
		controlled bool
		tk         inKey
		maskBits   uint8
	)
	if svc.Persistence > 0 {
		var reason DropReason
		r, tk, maskBits, reason = w.persist(src, svc, *t, !onePacket, now)
		if r == nil {
			return w.drop(reason)
		}
		controlled = !onePacket
	} else {
		if svc.Key.FWMark == 0 && svc.Key.Port != t.DstPort {
			return w.drop(DropPortZero)
		}
		if svc.Sched != nil {
			r = svc.Sched.Schedule(&w.flow)
		}
		if r == nil {
			return w.drop(DropNoRealServer)
		}
	}
	if !r.Addr.Unmap().Is4() {
		if controlled {
			d.releaseTemplate(&tk)
		}
		return w.drop(DropRealNotIPv4)
	}
	d.remember(r)
	if onePacket {
		// IPVS creates and at once frees an entry: the server's connection
		// total grows, its live counts do not.
		r.Bind(balancer.ConnInactive)
		r.Unbind(balancer.ConnInactive)
		w.ctr.onePacket.Add(1)
		w.countForward(tl, false)
		return InboundResult{Action: ActionForward, Real: r, Service: svc}
	}

	e := newConnEntry(k, t, svc, r)
	if controlled {
		e.flags |= flagControlled
		e.aux |= uint32(maskBits)
		if uint16(tk.ports) == 0 {
			e.flags |= flagTmplPortZero
		}
	}

	var rel connReleases
	sh.mu.Lock()
	if pos := sh.findIn(k, h); pos >= 0 {
		old := &sh.slots[pos]
		if !old.expired(now) {
			// Another worker created the entry meanwhile: follow it.
			cur := d.realByID(src, old.real)
			d.update(old, cur, viewInput, flags, now)
			sh.mu.Unlock()
			if controlled {
				d.releaseTemplate(&tk)
			}
			w.countForward(tl, false)
			return InboundResult{Action: ActionForward, Real: cur}
		}
		d.dropEntry(src, sh, uint32(pos), &rel)
		w.ctr.expired.Add(1)
	}
	if !d.admit(src, sh, now, &rel, &w.ctr) {
		sh.mu.Unlock()
		rel.run(d)
		if controlled {
			d.releaseTemplate(&tk)
		}
		return w.drop(DropTableFull)
	}
	pos := d.tab.insert(sh, &e)
	r.Bind(balancer.ConnInactive)
	d.update(&sh.slots[pos], r, viewInput, flags, now)
	sh.mu.Unlock()
	rel.run(d)
	w.countForward(tl, true)
	return InboundResult{Action: ActionForward, Real: r, Service: svc, New: true}
}

// connReclaimScan is how many slots a full shard looks at for expired
// entries before it refuses a new flow.
const connReclaimScan = 64

// admit takes room for one new entry in sh (locked): from the shard's and
// the table's limits, reclaiming expired entries near the sweep cursor when
// either is reached. Live entries are never evicted.
func (d *Director) admit(src ServiceSource, sh *connShard, now Tick, rel *connReleases, ctr *connCounters) bool {
	if sh.used < sh.limit && d.tab.reserve() {
		return true
	}
	i := sh.reclaim
	for n := 0; n < connReclaimScan && sh.used > 0 && !rel.full(); n++ {
		e := &sh.slots[i]
		if e.kind != kindEmpty && e.expired(now) && !(e.kind == kindTemplate && e.aux > 0) {
			d.dropEntry(src, sh, i, rel)
			ctr.expired.Add(1)
			ctr.reclaimed.Add(1)
			continue // a later entry may have shifted into slot i
		}
		i = sh.next(i)
	}
	sh.reclaim = i
	return sh.used < sh.limit && d.tab.reserve()
}

// Outbound handles a NAT reply from a real server: t is the reply's tuple
// (real server -> client). On a hit it runs the state machine in the output
// view and returns the virtual address and port to rewrite the source to.
// Outbound does not allocate.
func (w *Worker) Outbound(src ServiceSource, t Tuple4, flags TCPFlags, now Tick) OutboundResult {
	d := w.d
	sh := d.tab.shardOf(t.Dst, t.DstPort, t.Proto)
	k := makeOutKey(&t)
	h := d.tab.hash.out(&k)
	// The hit is spelled out here as in outbound, to save a call.
	sh.mu.Lock()
	pos := sh.findOut(&k, h)
	if pos >= 0 && !sh.slots[pos].expired(now) {
		e := &sh.slots[pos]
		d.update(e, d.realByID(src, e.real), viewOutput, flags, now)
		res := OutboundResult{Action: ActionForward, VIP: connAddr4(e.virtual()), VPort: e.vport(), Real: e.real}
		sh.mu.Unlock()
		w.ctr.forwarded.Add(1)
		return res
	}
	return w.outboundMiss(src, sh, pos, nil)
}

// makeOutKey is the outbound key of a reply tuple (real -> client).
func makeOutKey(t *Tuple4) outKey {
	return outKey{addrs: uint64(connBE32(t.Src))<<32 | uint64(connBE32(t.Dst)), ports: uint32(t.SrcPort)<<16 | uint32(t.DstPort), proto: t.Proto}
}

// outbound is Outbound with the shard, key and hash already known,
// counting into tl (nil: into the worker's counters).
func (w *Worker) outbound(src ServiceSource, sh *connShard, k *outKey, h uint64, flags TCPFlags, now Tick, tl *connTally) OutboundResult {
	sh.mu.Lock()
	var res OutboundResult
	pos, hit := w.d.hitOutLocked(src, sh, k, h, flags, now, &res)
	if hit {
		sh.mu.Unlock()
		w.countForward(tl, false)
		return res
	}
	return w.outboundMiss(src, sh, pos, tl)
}

// hitOutLocked is the plain hit of a NAT reply, with sh locked: a live
// entry, which it refreshes, filling res with the decision, and hit is
// true. Otherwise it changes nothing, res included. pos is the lookup's
// answer (the entry's position, or -1) for outboundMiss.
func (d *Director) hitOutLocked(src ServiceSource, sh *connShard, k *outKey, h uint64, flags TCPFlags, now Tick, res *OutboundResult) (pos int, hit bool) {
	pos = sh.findOut(k, h)
	if pos < 0 || sh.slots[pos].expired(now) {
		return pos, false
	}
	e := &sh.slots[pos]
	d.update(e, d.realByID(src, e.real), viewOutput, flags, now)
	res.Action, res.VIP, res.VPort, res.Real = ActionForward, connAddr4(e.virtual()), e.vport(), e.real
	return pos, true
}

// outboundMiss handles a reply that found no live entry, with sh locked:
// pos is an expired entry to remove, or -1. It unlocks sh.
func (w *Worker) outboundMiss(src ServiceSource, sh *connShard, pos int, tl *connTally) OutboundResult {
	if pos >= 0 {
		var rel connReleases
		w.d.dropEntry(src, sh, uint32(pos), &rel)
		sh.mu.Unlock()
		rel.run(w.d)
		w.ctr.expired.Add(1)
	} else {
		sh.mu.Unlock()
	}
	w.countNotService(tl)
	return OutboundResult{}
}

// ConnInfo describes one entry, for listings and ICMP handling.
type ConnInfo struct {
	Proto    balancer.Protocol
	Template bool // a persistence template (Client is the masked network, port 0)
	State    ConnState
	Expires  Tick // absolute expiry
	Client   [4]byte
	CPort    uint16
	Virtual  [4]byte
	VPort    uint16
	Real     [4]byte // zero for templates whose server is unknown
	RPort    uint16
	RealID   balancer.RealID
	Method   balancer.Method
	// Controlled counts the connections a template controls.
	Controlled uint32
}

// Remaining returns the time left before the entry expires.
func (c *ConnInfo) Remaining(now Tick) time.Duration {
	if !now.before(c.Expires) {
		return 0
	}
	return (c.Expires - now).Duration()
}

func (d *Director) info(src ServiceSource, e *connEntry) ConnInfo {
	c := ConnInfo{
		Proto: e.proto, Template: e.kind == kindTemplate, State: e.state, Expires: e.expires,
		Client: connAddr4(e.client()), CPort: e.cport(), Virtual: connAddr4(e.virtual()), VPort: e.vport(),
		RealID: e.real, Method: e.method(),
	}
	if e.kind == kindTemplate {
		c.Controlled = e.aux
		if e.flags&flagNoReal == 0 {
			if r := d.realByID(src, e.real); r != nil && r.Addr.Unmap().Is4() {
				c.Real, c.RPort, c.Method = r.Addr.Unmap().As4(), r.Port, r.Method
			}
		}
		return c
	}
	c.Real, c.RPort = connAddr4(e.dst), e.dport()
	return c
}

// LookupInbound finds the live connection a client-side tuple belongs to
// (client -> virtual), without changing it: for ICMP errors that quote a
// packet of the connection. It does not allocate.
func (d *Director) LookupInbound(t Tuple4, now Tick) (ConnInfo, bool) {
	sh := d.tab.shardOf(t.Src, t.SrcPort, t.Proto)
	k := makeInKey(t.Src, t.Dst, t.SrcPort, t.DstPort, t.Proto, kindConn)
	h := d.tab.hash.in(&k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if pos := sh.findIn(&k, h); pos >= 0 && !sh.slots[pos].expired(now) {
		return d.info(nil, &sh.slots[pos]), true
	}
	return ConnInfo{}, false
}

// LookupOutbound finds the live NAT connection a real-server-side tuple
// belongs to (real -> client), without changing it. It does not allocate.
func (d *Director) LookupOutbound(t Tuple4, now Tick) (ConnInfo, bool) {
	sh := d.tab.shardOf(t.Dst, t.DstPort, t.Proto)
	k := makeOutKey(&t)
	h := d.tab.hash.out(&k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if pos := sh.findOut(&k, h); pos >= 0 && !sh.slots[pos].expired(now) {
		return d.info(nil, &sh.slots[pos]), true
	}
	return ConnInfo{}, false
}

// connListChunk bounds how long a listing holds one shard lock.
const connListChunk = 256

// Conns calls fn for every live entry (connections and templates), as
// ipvsadm -Lnc lists them, until fn returns false. It holds each shard's
// lock only while copying a small chunk, so the packet path keeps running;
// entries that move during the walk may be missed or seen twice.
func (d *Director) Conns(src ServiceSource, now Tick, fn func(ConnInfo) bool) {
	var buf [connListChunk]connEntry
	for si := range d.tab.shards {
		sh := &d.tab.shards[si]
		for start := uint32(0); ; start += connListChunk {
			nb := 0
			sh.mu.Lock()
			if start >= sh.n {
				sh.mu.Unlock()
				break
			}
			end := min(start+connListChunk, sh.n)
			for i := start; i < end; i++ {
				if e := &sh.slots[i]; e.kind != kindEmpty && !e.expired(now) {
					buf[nb] = *e
					nb++
				}
			}
			sh.mu.Unlock()
			for i := 0; i < nb; i++ {
				if !fn(d.info(src, &buf[i])) {
					return
				}
			}
		}
	}
}

// Sweep removes expired entries, advancing over at most budget slots and
// at most one full pass, and returns how many it removed. A control
// goroutine calls it periodically; each call resumes where the last one
// stopped, so budget = Slots() is one full pass. At the end of its pass
// over a shard it shrinks the shard when few of its slots are in use.
// Each shard lock is held for at most connSweepChunk slots (plus the
// removals among them), so a million entries expiring at once never
// stall a worker for long. To visit the whole table every P seconds, call
// it every T seconds with budget = Slots()*T/P.
func (d *Director) Sweep(src ServiceSource, now Tick, budget int) int {
	d.sweepMu.Lock()
	defer d.sweepMu.Unlock()
	removed := 0
	// At most one full pass per call: shards are as small as their live
	// entries, so a budget sized for the capacity would otherwise go round
	// a lightly used table many times, locking every shard each time.
	budget = min(budget, d.ActiveSlots())
	// fromStart: this call has visited the current shard from slot 0 in
	// its current layout, so every entry was looked at and a shrink (which
	// moves them all) can miss none.
	fromStart := false
	for budget > 0 {
		sh := &d.tab.shards[d.sweepShard]
		chunk := min(budget, connSweepChunk)
		var rel connReleases
		advanced, wrapped := 0, false
		sh.mu.Lock()
		i := sh.sweep
		if i == 0 {
			fromStart = true
		}
		if sh.used == 0 {
			// Nothing here can expire: the rest of the shard counts as
			// visited without being read, so an idle table costs no
			// memory traffic and the passes keep their pace.
			if rest := int(sh.n - i); rest <= budget {
				i, advanced, wrapped = 0, rest, true
			} else {
				i, advanced = i+uint32(budget), budget
			}
		}
		for !wrapped && advanced < chunk && !rel.full() {
			e := &sh.slots[i]
			if e.kind != kindEmpty && e.expired(now) {
				if e.kind == kindTemplate && e.aux > 0 {
					// Still controls connections: IPVS re-arms the timer.
					e.expires = now + Tick(e.dst)
				} else {
					d.dropEntry(src, sh, i, &rel)
					removed++
					continue // a later entry may have shifted into slot i
				}
			}
			advanced++
			if i = sh.next(i); i == 0 {
				wrapped = true
				break
			}
		}
		sh.sweep = i
		if wrapped && fromStart {
			d.tab.shrink(sh)
		}
		sh.mu.Unlock()
		rel.run(d)
		budget -= advanced
		if wrapped {
			fromStart = false
			d.sweepShard = (d.sweepShard + 1) % len(d.tab.shards)
		}
	}
	d.ctr.expired.Add(uint64(removed))
	return removed
}

const connSweepChunk = 256

// Slots returns the table's total slot count at capacity, the unit of
// Sweep's budget: a budget of Slots() covers at least one full pass, since
// a pass visits only the shards' active slots.
func (d *Director) Slots() int { return len(d.tab.shards) * int(d.tab.region) }

// PurgeReal removes every connection of real server id and every template
// pointing at it, unbinding them, and returns how many entries it removed.
// Templates that still control connections of other servers stay (for
// their accounting) but no longer point anywhere; the next client of that
// template is scheduled anew. Call it when a server is removed and
// ExpireNodestConn is on, as IPVS's ip_vs_expire_nodest_conn_flush does.
func (d *Director) PurgeReal(src ServiceSource, id balancer.RealID) int {
	removed := 0
	for si := range d.tab.shards {
		sh := &d.tab.shards[si]
		start, resizes := uint32(0), uint32(0)
		for {
			var rel connReleases
			sh.mu.Lock()
			if start > 0 && sh.resizes != resizes {
				// A new connection grew the shard between chunks and moved
				// its entries: walk it again (what was purged stays so).
				start = 0
			}
			resizes = sh.resizes
			if start >= sh.n {
				sh.mu.Unlock()
				break
			}
			i := start
			end := min(start+connSweepChunk, sh.n)
			for i < end && !rel.full() {
				e := &sh.slots[i]
				if e.kind != kindEmpty && e.real == id && e.flags&flagNoReal == 0 {
					if e.kind == kindTemplate && e.aux > 0 {
						if r := d.realByID(src, id); r != nil {
							r.Unbind(balancer.ConnTemplate)
						}
						e.flags |= flagNoReal
					} else {
						d.dropEntry(src, sh, i, &rel)
						removed++
						continue
					}
				}
				i++
			}
			sh.mu.Unlock()
			rel.run(d)
			start = i
		}
	}
	d.ctr.purged.Add(uint64(removed))
	return removed
}
