package bfd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultTTL is the TTL (IPv6 hop limit) sent and required on receipt by
// RFC 5881's Generalized TTL Security Mechanism.
const DefaultTTL = 255

// SessionConfig is one session: keepalived's bfd_instance.
type SessionConfig struct {
	Name string
	Peer netip.Addr
	// Local is the source address (source_ip); the zero Addr lets the
	// kernel choose, and then packets to any local address match.
	Local netip.Addr
	// Multihop uses RFC 5883's port 4784.
	Multihop bool
	// TTL is sent on every packet and is what a received packet must
	// carry, less MaxHops (255 turns the receive check off).
	TTL     uint8
	MaxHops int
	Config
}

// Event is a session changing state.
type Event struct {
	Name       string
	Peer       netip.Addr
	State, Old State
	// RemoteState is the peer's, from its last packet: AdminDown when it
	// took the session down on purpose (RFC 5880 6.8.16: not a failure).
	RemoteState State
	// Diag is ours (why we went down); RemoteDiag the peer's.
	Diag, RemoteDiag Diag
}

// Status is a session as Router.Status reports it.
type Status struct {
	Name                    string
	Peer, Local             netip.Addr
	State, RemoteState      State
	Diag, RemoteDiag        Diag
	LocalDisc, RemoteDisc   uint32
	TxInterval, DetectTime  time.Duration
	Since                   time.Time
	Sent, Received, SendErr uint64
}

// RouterConfig configures a Router.
type RouterConfig struct {
	Sessions []SessionConfig
	// OnChange is called from the Router's goroutine for every state
	// change, outside its lock; it must not block for long.
	OnChange func(Event)
	Log      *slog.Logger // nil discards
	// Rand returns a number in [0, n); nil uses math/rand/v2.
	Rand func(n int64) int64
}

type session struct {
	SessionConfig
	m  *Machine
	tx *sender // nil while source_ip is not (yet) an address of this host
	// port is the peer's BFD port; lastOpen is when opening tx last failed.
	port     int
	lastOpen time.Time
	buf      []byte
	sent     uint64
	received uint64
	sendErr  uint64
}

// rxPacket is one received datagram; large enough for the header and
// any authentication section worth parsing (Parse drops those anyway).
type rxPacket struct {
	buf      [128]byte
	n        int
	src, dst netip.Addr
	srcPort  uint16
	ttl      int
	multihop bool
}

// Router runs BFD sessions over UDP: one goroutine owns the machines and
// timers, one per listener reads.
type Router struct {
	cfg       RouterConfig
	log       *slog.Logger
	listeners []*listener
	rx        chan rxPacket
	drops     [dropCount]atomic.Uint64

	mu     sync.Mutex
	sess   []*session
	byDisc map[uint32]*session
}

// NewRouter opens the sockets of cfg's sessions. It fails when the BFD
// port is taken or a source address is not local.
func NewRouter(cfg RouterConfig) (*Router, error) {
	r := &Router{cfg: cfg, log: cfg.Log, rx: make(chan rxPacket, 64), byDisc: map[uint32]*session{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	rnd := cfg.Rand
	if rnd == nil {
		rnd = rand.Int64N
	}
	type sock struct {
		v6   bool
		port int
	}
	opened := map[sock]bool{}
	for _, sc := range cfg.Sessions {
		if sc.TTL == 0 {
			sc.TTL = DefaultTTL
		}
		port := Port
		if sc.Multihop {
			port = MultihopPort
		}
		k := sock{sc.Peer.Is6(), port}
		if !opened[k] {
			l, err := listen(k.v6, port)
			if err != nil {
				r.close()
				return nil, err
			}
			opened[k] = true
			r.listeners = append(r.listeners, l)
		}
		tx, err := openSender(sc.Local, sc.Peer, port, sc.TTL)
		if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			r.close()
			return nil, fmt.Errorf("bfd_instance %s: %w", sc.Name, err)
		}
		if err != nil {
			// Like keepalived, wait for the address (a VRRP address, an
			// interface still coming up) instead of refusing to start.
			r.log.Warn("BFD source address not on this host yet; the session waits for it",
				"bfd_instance", sc.Name, "source_ip", sc.Local.String())
		}
		disc := uint32(0)
		for disc == 0 || r.byDisc[disc] != nil {
			disc = uint32(rnd(1 << 32))
		}
		s := &session{SessionConfig: sc, m: NewMachine(sc.Config, disc, rnd), tx: tx, port: port,
			buf: make([]byte, 0, HeaderLen)}
		r.sess = append(r.sess, s)
		r.byDisc[disc] = s
	}
	return r, nil
}

func (r *Router) close() {
	for _, l := range r.listeners {
		l.conn.Close()
	}
	for _, s := range r.sess {
		if s.tx != nil {
			s.tx.conn.Close()
		}
	}
}

// Drops returns how many received packets were dropped for reason d.
func (r *Router) Drops(d Drop) uint64 {
	if d >= dropCount {
		return 0
	}
	return r.drops[d].Load()
}

// Status returns every session's state, in configuration order.
func (r *Router) Status() []Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Status, 0, len(r.sess))
	for _, s := range r.sess {
		m := s.m
		out = append(out, Status{Name: s.Name, Peer: s.Peer, Local: s.Local, State: m.State(),
			RemoteState: m.RemoteState(), Diag: m.Diag(), RemoteDiag: m.RemoteDiag(),
			LocalDisc: m.LocalDisc(), RemoteDisc: m.RemoteDisc(), TxInterval: m.TxInterval(),
			DetectTime: m.DetectTime(), Since: m.Since(), Sent: s.sent, Received: s.received, SendErr: s.sendErr})
	}
	return out
}

// Run runs the sessions until ctx ends, then announces AdminDown to
// every peer (so that it does not report a failure) and closes the
// sockets. A Router runs once, in the network namespace of NewRouter: it
// opens the socket of a source address that appears late.
func (r *Router) Run(ctx context.Context) error {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, l := range r.listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.read(l, done)
		}()
	}
	defer func() {
		close(done)
		r.close() // unblocks the readers
		wg.Wait()
	}()

	var events []Event
	r.mu.Lock()
	now := time.Now()
	for _, s := range r.sess {
		events = r.act(s, s.m.Start(now), now, Down, events)
	}
	r.mu.Unlock()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		events = r.report(events)
		r.mu.Lock()
		wait := time.Hour
		for _, s := range r.sess {
			if d := s.m.Deadline(); !d.IsZero() {
				wait = min(wait, time.Until(d))
			}
		}
		r.mu.Unlock()
		timer.Reset(max(wait, 0))
		select {
		case <-ctx.Done():
			r.mu.Lock()
			now := time.Now()
			for _, s := range r.sess {
				if s.m.Shutdown(now).Has(Send) {
					s.send(now, r.log)
				}
			}
			r.mu.Unlock()
			return nil
		case p := <-r.rx:
			r.mu.Lock()
			events = r.handle(&p, time.Now(), events)
			r.mu.Unlock()
		case <-timer.C:
			r.mu.Lock()
			now := time.Now()
			for _, s := range r.sess {
				old := s.m.State()
				events = r.act(s, s.m.Tick(now), now, old, events)
			}
			r.mu.Unlock()
		}
	}
}

func (r *Router) report(events []Event) []Event {
	for _, ev := range events {
		if r.cfg.OnChange != nil {
			r.cfg.OnChange(ev)
		}
	}
	return events[:0]
}

// read passes the listener's datagrams to the loop until done.
func (r *Router) read(l *listener, done <-chan struct{}) {
	var p rxPacket
	for {
		if err := l.read(&p); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond): // not a busy loop on a persistent error
			}
			continue
		}
		select {
		case r.rx <- p:
		case <-done:
			return
		}
	}
}

// handle matches a datagram to its session and steps the machine.
// r.mu is held.
func (r *Router) handle(p *rxPacket, now time.Time, events []Event) []Event {
	c, drop := Parse(p.buf[:min(p.n, len(p.buf))])
	if drop != DropNone {
		r.drops[drop].Add(1)
		return events
	}
	var s *session
	if d := c.YourDisc(); d != 0 {
		s = r.byDisc[d]
	} else {
		for _, x := range r.sess {
			if x.Peer == p.src && (!x.Local.IsValid() || x.Local == p.dst) && x.Multihop == p.multihop {
				s = x
				break
			}
		}
	}
	switch {
	case s == nil || s.Peer != p.src || s.Multihop != p.multihop:
		drop = DropNoSession
	case s.MaxHops < 255 && (p.ttl < 0 || p.ttl+s.MaxHops < int(s.TTL)):
		drop = DropTTL
	case s.m.State() == AdminDown:
		drop = DropAdminDown
	}
	if drop != DropNone {
		r.drops[drop].Add(1)
		return events
	}
	s.received++
	old := s.m.State()
	return r.act(s, s.m.Receive(now, c), now, old, events)
}

// act carries out a machine's actions. r.mu is held.
func (r *Router) act(s *session, a Action, now time.Time, old State, events []Event) []Event {
	if a.Has(Send) {
		s.send(now, r.log)
	}
	if a.Has(Changed) {
		m := s.m
		ev := Event{Name: s.Name, Peer: s.Peer, State: m.State(), Old: old, RemoteState: m.RemoteState(),
			Diag: m.Diag(), RemoteDiag: m.RemoteDiag()}
		log := r.log.With("bfd_instance", s.Name, "peer", s.Peer.String(), "from", old.String(), "to", m.State().String())
		switch {
		case m.State() == Up:
			log.Info("BFD session up", "tx_interval", m.TxInterval(), "detect_time", m.DetectTime())
		case old == Up:
			log.Warn("BFD session down", "diag", m.Diag().String(), "peer_diag", m.RemoteDiag().String())
		default:
			log.Debug("BFD session state")
		}
		events = append(events, ev)
	}
	return events
}

// reopenEvery paces the attempts to bind a missing source address.
const reopenEvery = time.Second

func (s *session) send(now time.Time, log *slog.Logger) {
	s.buf = s.m.AppendPacket(now, s.buf[:0])
	if s.tx == nil && now.Sub(s.lastOpen) >= reopenEvery {
		tx, err := openSender(s.Local, s.Peer, s.port, s.TTL)
		if err != nil {
			s.lastOpen = now
		} else {
			s.tx = tx
			log.Info("BFD source address is here; sending", "bfd_instance", s.Name, "source_ip", s.Local.String())
		}
	}
	if s.tx == nil {
		s.sendErr++
		return
	}
	if err := s.tx.send(s.buf); err != nil {
		if s.sendErr == 0 {
			log.Warn("BFD send failed; the session will go down if it persists", "bfd_instance", s.Name, "err", err)
		}
		s.sendErr++
		return
	}
	s.sent++
}
