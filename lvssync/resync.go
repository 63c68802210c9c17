package lvssync

import (
	"context"
	"time"
)

// Table is where a bulk resync reads the connections from: the
// connection tracker. Walk calls fn for up to max entries from cursor
// on (0 to begin; c is valid only during the call) and returns the
// cursor to resume at, and done once the whole table has been walked.
// It must not hold locks between calls: a resync walks over seconds.
type Table interface {
	Len() int
	Walk(cursor uint64, max int, fn func(c *Conn)) (next uint64, done bool)
}

// Resync answers a resync request: a begin message, the table in plain
// version 1 messages paced at the configured rate (or the requester's
// lower one), and an end message with the count sent. One resync runs at
// a time, at most one per ResyncInterval; a request that comes during
// one or too soon after is refused (false): the running one covers the
// new backup too, as its messages go to the group, and a refused backup
// asks again.
func (s *Sender) Resync(ctx context.Context, t Table, req Ext) (sent int, served bool) {
	if !s.resyncing.CompareAndSwap(false, true) {
		s.resyncsRefused.Add(1)
		return 0, false
	}
	defer s.resyncing.Store(false)
	if now := time.Now(); !s.lastResync.IsZero() && now.Sub(s.lastResync) < s.cfg.ResyncInterval {
		s.resyncsRefused.Add(1)
		return 0, false
	} else {
		s.lastResync = now
	}
	rate := s.cfg.ResyncRate
	if req.Rate > 0 && int(req.Rate) < rate {
		rate = int(req.Rate)
	}
	s.send(AppendExt(nil, s.cfg.SyncID, Ext{Op: OpResyncBegin, Nonce: req.Nonce, Count: uint32(t.Len()), Rate: uint32(rate)}), 0)
	enc := NewEncoder(s.cfg.MaxLen, s.cfg.SyncID)
	perMsg := max(1, min(MaxConns, (s.cfg.MaxLen-HeaderLen)/entryV4Len))
	pace := NewPacer(rate, perMsg, time.Now())
	batch := make([]Conn, 0, perMsg)
	var cursor uint64
	for done := false; !done; {
		batch = batch[:0]
		cursor, done = t.Walk(cursor, perMsg, func(c *Conn) { batch = append(batch, *c) })
		for i := range batch {
			ok, err := enc.Add(&batch[i])
			if err != nil {
				continue
			}
			if !ok {
				if !s.paced(ctx, pace, enc) {
					return sent, true
				}
				sent += enc.Len()
				enc.Reset()
				enc.Add(&batch[i])
			}
		}
	}
	if enc.Len() > 0 {
		n := enc.Len()
		if !s.paced(ctx, pace, enc) {
			return sent, true
		}
		sent += n
	}
	s.send(AppendExt(nil, s.cfg.SyncID, Ext{Op: OpResyncEnd, Nonce: req.Nonce, Count: uint32(sent), Rate: uint32(rate)}), 0)
	s.resyncs.Add(1)
	return sent, true
}

// paced waits for the bucket to pay for enc's entries, then sends them;
// false when ctx ended first.
func (s *Sender) paced(ctx context.Context, p *Pacer, enc *Encoder) bool {
	if w := p.Reserve(time.Now(), enc.Len()); w > 0 {
		t := time.NewTimer(w)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
	s.send(enc.Bytes(), enc.Len())
	return true
}

// AskResync sends resync requests with nonce until r sees the master's
// begin for it, at most tries times, wait apart; it reports whether a
// resync began. A backup calls it when it starts.
func (s *Sender) AskResync(ctx context.Context, r *Receiver, nonce uint32, tries int, wait time.Duration) bool {
	poll := time.NewTicker(max(wait/20, time.Millisecond))
	defer poll.Stop()
	for range tries {
		if err := s.RequestResync(nonce, 0); err != nil {
			s.log.Warn("sync: asking for a bulk resync failed", "err", err)
		}
		for deadline := time.Now().Add(wait); time.Now().Before(deadline); {
			select {
			case <-ctx.Done():
				return false
			case <-poll.C:
			}
			if st := r.LastResync(); st.Nonce == nonce && !st.Began.IsZero() {
				return true
			}
		}
	}
	return false
}
