package lvssync

import (
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Sink is where received entries go: the connection tracker, which
// installs or updates each as the kernel's ip_vs_proc_conn does. c is
// valid only during the call.
type Sink interface {
	SyncConn(c *Conn)
}

// ResyncStatus is the last bulk resync a backup received.
type ResyncStatus struct {
	Nonce     uint32
	From      netip.AddrPort
	Announced uint32 // entries the master said it had
	Received  uint64 // entries received between begin and end
	Sent      uint32 // entries the master said it sent (at end)
	Rate      uint32
	Began     time.Time
	Ended     time.Time // zero while running
}

// ReceiverStats are the receiver's counters.
type ReceiverStats struct {
	Messages, Entries uint64
	Drops             [NumDrops]uint64
}

// Receiver validates received messages, hands their entries to a Sink
// and counts what it drops by reason. Resync requests (when this node is
// the master) go to OnRequest.
type Receiver struct {
	syncID uint8
	sink   Sink
	log    *slog.Logger
	// OnRequest is called, on the receiving goroutine, for a resync
	// request; set it before Run.
	OnRequest func(req Ext, from netip.AddrPort)

	messages, entries atomic.Uint64
	drops             [NumDrops]atomic.Uint64

	mu     sync.Mutex
	resync ResyncStatus

	conn Conn // Handle's scratch entry: the sink gets a pointer, so it lives here, not on the stack
}

// NewReceiver returns a receiver filtering on syncID (0: any) into sink.
func NewReceiver(syncID uint8, sink Sink, log *slog.Logger) *Receiver {
	return &Receiver{syncID: syncID, sink: sink, log: log}
}

// Stats returns the counters.
func (r *Receiver) Stats() ReceiverStats {
	st := ReceiverStats{Messages: r.messages.Load(), Entries: r.entries.Load()}
	for i := range r.drops {
		st.Drops[i] = r.drops[i].Load()
	}
	return st
}

// LastResync is the last bulk resync seen, zero if none.
func (r *Receiver) LastResync() ResyncStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.resync
}

// Handle processes one received datagram, without allocating. It is
// called from one goroutine at a time (Listener.Serve).
func (r *Receiver) Handle(msg []byte, from netip.AddrPort) {
	var rd Reader
	kind, d := rd.Reset(msg, r.syncID)
	if d != DropNone {
		r.drops[d].Add(1)
		return
	}
	if kind == KindExtension {
		r.extension(rd.Extension(), from)
		return
	}
	r.messages.Add(1)
	c := &r.conn
	n := uint64(0)
	for {
		ok, d := rd.Next(c)
		if d != DropNone {
			r.drops[d].Add(1)
		}
		if !ok {
			break
		}
		if d == DropNone {
			r.sink.SyncConn(c)
			n++
		}
	}
	r.entries.Add(n)
	r.mu.Lock()
	if !r.resync.Began.IsZero() && r.resync.Ended.IsZero() && r.resync.From.Addr() == from.Addr() {
		r.resync.Received += n
	}
	r.mu.Unlock()
}

func (r *Receiver) extension(body []byte, from netip.AddrPort) {
	x, err := ParseExt(body)
	if err != nil {
		r.drops[DropExtension].Add(1)
		return
	}
	r.messages.Add(1)
	switch x.Op {
	case OpResyncRequest:
		if r.OnRequest != nil {
			r.OnRequest(x, from)
		}
	case OpResyncBegin:
		r.mu.Lock()
		r.resync = ResyncStatus{Nonce: x.Nonce, From: from, Announced: x.Count, Rate: x.Rate, Began: time.Now()}
		r.mu.Unlock()
		r.log.Info("sync: bulk resync begins", "from", from, "entries", x.Count, "rate", x.Rate)
	case OpResyncEnd:
		r.mu.Lock()
		if r.resync.Nonce == x.Nonce && r.resync.From.Addr() == from.Addr() && r.resync.Ended.IsZero() {
			r.resync.Sent, r.resync.Ended = x.Count, time.Now()
			st := r.resync
			r.mu.Unlock()
			r.log.Info("sync: bulk resync done", "from", from, "sent", st.Sent, "received", st.Received,
				"took", st.Ended.Sub(st.Began))
			return
		}
		r.mu.Unlock()
	}
}
