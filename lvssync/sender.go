package lvssync

import (
	"context"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"
)

// Config is one sync daemon's transport: keepalived's lvs_sync_daemon
// parameters.
type Config struct {
	Interface string
	Group     netip.Addr // DefaultGroup when zero
	Port      uint16     // DefaultPort when 0
	TTL       uint8      // DefaultTTL when 0
	SyncID    uint8      // 0: send 0, accept every sync ID
	MaxLen    int        // message size; NewSender: the interface MTU less 28 when 0
	// Tick is how often the sender drains the rings; 20 ms when 0 (the
	// kernel's IPVS_SYNC_SEND_DELAY). A partial message goes at every
	// tick, so an entry waits at most this long.
	Tick time.Duration
	// ResyncRate paces a bulk resync, in entries a second; 100000 when 0.
	ResyncRate int
	// ResyncInterval is the least time between the starts of two bulk
	// resyncs, so that forged or looping requests cannot keep the link
	// busy; 5 s when 0. A backup refused retries (AskResync).
	ResyncInterval time.Duration
}

func (c Config) withDefaults() Config {
	if !c.Group.IsValid() {
		c.Group = DefaultGroup
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.MaxLen == 0 {
		c.MaxLen = DefaultMaxLen
	}
	if c.Tick == 0 {
		c.Tick = 20 * time.Millisecond
	}
	if c.ResyncRate == 0 {
		c.ResyncRate = 100000
	}
	if c.ResyncInterval == 0 {
		c.ResyncInterval = 5 * time.Second
	}
	return c
}

// datagrams is where the sender's messages go: the multicast socket
// (transport_linux.go), or a test's recorder.
type datagrams interface {
	Send(msg []byte) error
	Close() error
}

// SenderStats are the sender's counters.
type SenderStats struct {
	Messages, Entries, Bytes uint64
	SendErrors               uint64
	QueueFull                uint64 // events refused by full rings
	Resyncs                  uint64 // bulk resyncs served
	ResyncsRefused           uint64 // requests refused: one running, or too soon after the last
}

// Sender multicasts sync messages off the forwarding path: one Ring per
// packet worker, drained by Run's goroutine every Tick into messages
// packed up to MaxLen.
type Sender struct {
	cfg   Config
	out   datagrams
	rings []*Ring
	enc   *Encoder
	log   *slog.Logger

	messages, entries, bytes, sendErrors atomic.Uint64
	resyncs, resyncsRefused              atomic.Uint64
	resyncing                            atomic.Bool
	lastResync                           time.Time // start of the last one; owned by whoever holds resyncing
}

// newSender builds a sender on out with workers rings of ringSize.
func newSender(cfg Config, out datagrams, workers, ringSize int, log *slog.Logger) *Sender {
	cfg = cfg.withDefaults()
	s := &Sender{cfg: cfg, out: out, enc: NewEncoder(cfg.MaxLen, cfg.SyncID), log: log}
	for range workers {
		s.rings = append(s.rings, NewRing(ringSize))
	}
	return s
}

// Ring is worker i's queue.
func (s *Sender) Ring(i int) *Ring { return s.rings[i] }

// Close closes the socket.
func (s *Sender) Close() error { return s.out.Close() }

// Stats returns the counters.
func (s *Sender) Stats() SenderStats {
	st := SenderStats{Messages: s.messages.Load(), Entries: s.entries.Load(), Bytes: s.bytes.Load(),
		SendErrors: s.sendErrors.Load(), Resyncs: s.resyncs.Load(), ResyncsRefused: s.resyncsRefused.Load()}
	for _, r := range s.rings {
		st.QueueFull += r.Full()
	}
	return st
}

// Run drains the rings until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.drain()
			return
		case <-t.C:
			s.drain()
		}
	}
}

// drain sends everything queued now, in as few messages as fit.
func (s *Sender) drain() {
	var ev Event
	var c Conn
	for _, r := range s.rings {
		for r.Pop(&ev) {
			ev.Conn(&c)
			s.add(s.enc, &c)
		}
	}
	s.flush(s.enc)
}

// add puts c into enc, sending enc's message first when full.
func (s *Sender) add(enc *Encoder, c *Conn) {
	ok, err := enc.Add(c)
	if err != nil {
		s.log.Warn("sync: entry not sent", "err", err)
		return
	}
	if !ok {
		s.flush(enc)
		enc.Add(c)
	}
}

// flush sends enc's message, if it has entries, and empties it.
func (s *Sender) flush(enc *Encoder) {
	if enc.Len() == 0 {
		return
	}
	s.send(enc.Bytes(), enc.Len())
	enc.Reset()
}

func (s *Sender) send(msg []byte, entries int) {
	if err := s.out.Send(msg); err != nil {
		if s.sendErrors.Add(1) == 1 {
			s.log.Warn("sync: sending a message failed (further failures are counted only)", "err", err)
		}
		return
	}
	s.messages.Add(1)
	s.entries.Add(uint64(entries))
	s.bytes.Add(uint64(len(msg)))
}

// RequestResync asks the master for its whole table (sent by a backup
// that starts); maxRate bounds the pace it accepts, 0 for the master's.
func (s *Sender) RequestResync(nonce uint32, maxRate int) error {
	msg := AppendExt(nil, s.cfg.SyncID, Ext{Op: OpResyncRequest, Nonce: nonce, Rate: uint32(max(maxRate, 0))})
	return s.out.Send(msg)
}
