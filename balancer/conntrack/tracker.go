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

// Config configures a Tracker. The zero value means IPVS defaults
// and room for 1<<20 entries.
type Config struct {
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
func (c Config) Validate() error {
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

// Tracker is the connection-tracking half of an IPVS director: the
// connection table, the TCP state machine, persistence templates and the
// rules that decide, per packet, which real server gets it. It does no I/O.
//
// A Tracker is safe for concurrent use. Each packet-loop goroutine gets its
// own Worker (for scratch space and uncontended counters); control-plane
// calls (Sweep, PurgeReal, Conns, timeouts) may run at any time alongside.
type Tracker struct {
	cfg      Config
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

// New builds a director with all table memory allocated.
func New(cfg Config) (*Tracker, error) {
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
	d := &Tracker{cfg: cfg, tab: newConnTable(cfg.MaxConns, cfg.Shards)}
	d.timeouts.init()
	m := map[balancer.RealID]*balancer.RealServer{}
	d.reg.Store(&m)
	return d, nil
}

// Config returns the configuration in effect (defaults filled in).
func (d *Tracker) Config() Config { return d.cfg }

// Len returns the number of entries (connections and templates), including
// expired ones not yet swept.
func (d *Tracker) Len() int { return int(d.tab.count.Load()) }

// MemoryBytes returns the bytes the table holds, allocated up front for
// MaxConns (ActiveSlots tells how much of it is in use).
func (d *Tracker) MemoryBytes() int {
	return len(d.tab.shards) * int(d.tab.region) * connSlotBytes
}

// ActiveSlots returns how many slots the shards use now: they grow with
// the live entries and shrink back as they expire.
func (d *Tracker) ActiveSlots() int {
	n := 0
	for i := range d.tab.sizes {
		n += int(d.tab.sizes[i].Load())
	}
	return n
}

// Timeouts returns the TCP ESTABLISHED, TCP FIN_WAIT and UDP timeouts, the
// three values of ipvsadm --timeout.
func (d *Tracker) Timeouts() (tcp, tcpFin, udp time.Duration) {
	return d.timeouts.of(StateEstablished).Duration(), d.timeouts.of(StateFinWait).Duration(), d.timeouts.of(StateUDP).Duration()
}

// SetTimeouts is ipvsadm --set tcp tcpfin udp: a zero value leaves that
// timeout unchanged. It affects entries from their next packet on.
func (d *Tracker) SetTimeouts(tcp, tcpFin, udp time.Duration) {
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
func (d *Tracker) SetStateTimeout(s ConnState, t time.Duration) error {
	if s >= numConnStates {
		return ErrUnknownState
	}
	d.timeouts[s].Store(uint32(Ticks(t)))
	return nil
}

// StateTimeout returns the timeout of state s.
func (d *Tracker) StateTimeout(s ConnState) time.Duration {
	if s >= numConnStates {
		return 0
	}
	return d.timeouts.of(s).Duration()
}

// Counters returns the event counters summed over all workers.
func (d *Tracker) Counters() ConnCounters {
	var s ConnCounters
	d.ctr.addTo(&s)
	d.workersMu.Lock()
	for _, w := range d.workers {
		w.ctr.addTo(&s)
	}
	d.workersMu.Unlock()
	return s
}

// Worker is one packet loop's handle on a Tracker. It holds scratch space
// so the per-packet calls allocate nothing, and counters only its goroutine
// writes. A Worker is not safe for concurrent use; make one per goroutine.
type Worker struct {
	d     *Tracker
	flow  balancer.Flow
	ctr   connCounters
	batch [connBatchMax]packet
	// DecideBatch's scratch: packets grouped by shard, and which are left
	// for its per-packet pass.
	order   [connBatchMax]uint16
	pending [connBatchMax]bool
}

// NewWorker returns a handle for one packet-loop goroutine.
func (d *Tracker) NewWorker() *Worker {
	w := &Worker{d: d}
	d.workersMu.Lock()
	d.workers = append(d.workers, w)
	d.workersMu.Unlock()
	return w
}

// realByID resolves a RealID: from the current snapshot when it is there,
// else from the last RealServer bound under that ID.
func (d *Tracker) realByID(src ServiceSource, id balancer.RealID) *balancer.RealServer {
	if src != nil {
		if r := src.Real(id); r != nil {
			return r
		}
	}
	return (*d.reg.Load())[id]
}

// remember records r so connections bound to it can be unbound after r
// leaves the snapshot. Copy-on-write: the map changes once per new RealID.
func (d *Tracker) remember(r *balancer.RealServer) {
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
