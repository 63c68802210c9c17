package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/balancer/conntrack"
	"github.com/ulvs/ulvs/forward/afpacket"
	"github.com/ulvs/ulvs/forward/neigh"
)

// BatchSize is how many frames a worker takes from its RX ring per Receive.
const BatchSize = 256

// Port is one interface the loop forwards on, with what the rewriters need
// to know about it.
type Port struct {
	Name  string
	Index int
	MAC   [6]byte
	MTU   int
	// Addr is the director's own IPv4 address on the interface: the outer
	// source of TUN packets and the source of ICMP errors the director sends.
	Addr [4]byte
	// Prefixes are the interface's connected networks; a destination inside
	// one is its own next hop.
	Prefixes []netip.Prefix
	// Gateway is the next hop for destinations outside Prefixes; the zero
	// value means there is none.
	Gateway [4]byte
	// Neigh resolves next hops on this interface. The loop only reads it.
	Neigh *neigh.Cache
}

// NextHop returns the address whose MAC a frame to dst carries.
func (p *Port) NextHop(dst [4]byte) ([4]byte, bool) {
	a := netip.AddrFrom4(dst)
	for _, pf := range p.Prefixes {
		if pf.Contains(a) {
			return dst, true
		}
	}
	return p.Gateway, p.Gateway != [4]byte{}
}

// LoopConfig wires a Loop. Client and Reals may be the same Port (a
// one-armed director).
type LoopConfig struct {
	Client, Reals *Port
	// Table is the current service snapshot, swapped by the control plane.
	Table *atomic.Pointer[balancer.Table]
	// Tracker is the connection table every worker shares.
	Tracker *conntrack.Tracker
	// VIPs are the addresses the loop answers ARP for on the client port.
	VIPs *neigh.VIPSet
	// Workers is the number of workers per receiving interface; zero means
	// one per CPU.
	Workers int
	// IO picks rings (the default) or plain sockets.
	IO afpacket.Mode
	// IOConfig tunes the sockets; nil means defaults.
	IOConfig *afpacket.Config
	// ICMPRate bounds the ICMP errors each worker sends per second
	// (fragmentation needed, time exceeded); zero means 100, like a
	// kernel's icmp_ratelimit of 10 ms with a burst.
	ICMPRate int
	// Clock returns the director's coarse time; nil means conntrack.Now.
	Clock func() conntrack.Tick
	// Logger gets setup and shutdown events, never per-packet ones.
	Logger *slog.Logger
	// Open opens a worker's socket; nil means afpacket.OpenConn with IO.
	// Tests pass in-memory conns.
	Open func(ifname string, cfg *afpacket.Config) (afpacket.Conn, error)
}

// Loop is the data plane: workers that each own an AF_PACKET socket
// (joined in a fanout group per interface), parse every frame once, ask the
// balancer, rewrite in place and transmit through TX rings, one flush per
// batch.
type Loop struct {
	cfg     LoopConfig
	log     *slog.Logger
	workers []*worker
	conns   []afpacket.Conn
	// trace is the armed trace, if any (see trace.go).
	trace atomic.Pointer[Trace]
}

// NewLoop opens every worker's sockets. Close them with Run's return or
// Close.
func NewLoop(cfg LoopConfig) (*Loop, error) {
	if cfg.Client == nil || cfg.Reals == nil || cfg.Table == nil || cfg.Tracker == nil {
		return nil, errors.New("forward: LoopConfig needs Client, Reals, Table and Tracker")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.NumCPU()
	}
	if cfg.ICMPRate <= 0 {
		cfg.ICMPRate = 100
	}
	if cfg.Clock == nil {
		cfg.Clock = conntrack.Now
	}
	if cfg.VIPs == nil {
		cfg.VIPs = new(neigh.VIPSet)
	}
	l := &Loop{cfg: cfg, log: cfg.Logger}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	ports := []*Port{cfg.Client}
	if cfg.Reals != cfg.Client {
		ports = append(ports, cfg.Reals)
	}
	for pi, in := range ports {
		for i := 0; i < cfg.Workers; i++ {
			w, err := l.newWorker(in, pi, ports)
			if err != nil {
				l.Close()
				return nil, err
			}
			l.workers = append(l.workers, w)
		}
	}
	return l, nil
}

func (l *Loop) open(ifname string, c afpacket.Config) (afpacket.Conn, error) {
	var conn afpacket.Conn
	var err error
	if l.cfg.Open != nil {
		conn, err = l.cfg.Open(ifname, &c)
	} else {
		conn, err = afpacket.OpenConn(ifname, l.cfg.IO, &c)
	}
	if err != nil {
		return nil, fmt.Errorf("forward: opening %s on %s: %w", l.cfg.IO, ifname, err)
	}
	l.conns = append(l.conns, conn)
	return conn, nil
}

func (l *Loop) newWorker(in *Port, pi int, ports []*Port) (*worker, error) {
	base := afpacket.Config{}
	if l.cfg.IOConfig != nil {
		base = *l.cfg.IOConfig
	}
	base.Logger = l.log
	rxc := base
	rxc.FanoutGroup = uint16(0x5500 + pi) // one group per receiving interface
	rx, err := l.open(in.Name, rxc)
	if err != nil {
		return nil, err
	}
	w := &worker{
		loop:   l,
		idx:    len(l.workers),
		in:     in,
		rx:     rx,
		bw:     l.cfg.Tracker.NewWorker(),
		frames: make([]afpacket.Frame, BatchSize),
		ps:     make([]Parsed, BatchSize),
		pkts:   make([]conntrack.BatchPacket, BatchSize),
		pend:   make([]pendingFrame, BatchSize),
		icmp:   tokenBucket{rate: l.cfg.ICMPRate, burst: max(l.cfg.ICMPRate/10, 10)},
		oneArm: l.cfg.Client == l.cfg.Reals,
	}
	w.reals.shard = w.idx
	w.ctr.init()
	for _, p := range ports {
		if p == in {
			w.setTx(p, rx)
			continue
		}
		txc := base
		txc.NoRX = true
		tx, err := l.open(p.Name, txc)
		if err != nil {
			return nil, err
		}
		w.setTx(p, tx)
	}
	return w, nil
}

// Run runs the workers, each on its own locked OS thread, until ctx is done
// or a worker fails; then it closes every socket and returns the first
// error (nil after a clean stop).
func (l *Loop) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errc := make(chan error, len(l.workers))
	for _, w := range l.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if err := w.run(); err != nil {
				errc <- err
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	l.Close()
	wg.Wait()
	return err
}

// Workers returns the number of workers.
func (l *Loop) Workers() int { return len(l.workers) }

// IOFeatures returns the optional kernel features the first ring socket
// got (afpacket.Features), and false when the loop has no ring socket
// (plain I/O, or in-memory conns).
func (l *Loop) IOFeatures() (afpacket.Features, bool) {
	for _, c := range l.conns {
		if r, ok := c.(*afpacket.RingPort); ok {
			return r.Features(), true
		}
	}
	return afpacket.Features{}, false
}

// Close closes every socket; running workers return.
func (l *Loop) Close() {
	for _, c := range l.conns {
		c.Close()
	}
}

// Stats sums the workers' counters.
func (l *Loop) Stats() LoopStats {
	var s LoopStats
	for _, w := range l.workers {
		w.ctr.addTo(&s)
	}
	for _, c := range l.conns {
		io := c.Stats()
		s.RingDrops += io.RingDrops
		s.TxRingFull += io.TxRingFull
	}
	return s
}

// LoopStats are the data plane's counters.
type LoopStats struct {
	RxFrames   uint64
	TxFrames   uint64
	Inbound    uint64 // client packets forwarded to a real server
	Outbound   uint64 // NAT replies forwarded to a client
	ARPReplies uint64
	ICMPSent   uint64
	// Drops counts frames ulvs did not forward, by reason. DropNotOurs is
	// the ordinary fate of traffic that is the kernel's business.
	Drops [NumDropReasons]uint64
	// BalancerDrops counts the director's drops by reason.
	BalancerDrops [conntrack.NumDropReasons]uint64
	RingDrops     uint64 // frames the kernel could not put in an RX ring
	TxRingFull    uint64 // frames dropped for lack of a TX slot
}

// Step runs one frame, as received on port in, through exactly the path
// Run takes (parse, balancer, rewrite, transmit, flush), synchronously on
// the calling goroutine and with the first worker of that port. It exists
// so that tools can show what the data plane does with a frame (ulvs
// inspect) over the in-memory conns of LoopConfig.Open; it must not be
// called while Run runs. The frame may be rewritten in place.
func (l *Loop) Step(in *Port, f afpacket.Frame) error {
	for _, w := range l.workers {
		if w.in != in {
			continue
		}
		batch := [1]afpacket.Frame{f}
		w.handleBatch(batch[:])
		w.ctr.rx.Add(1)
		return w.flush()
	}
	return fmt.Errorf("forward: Step: no worker receives on %s; pass the LoopConfig's Client or Reals port", in.Name)
}
