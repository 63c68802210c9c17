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
// a time; a request that comes during one is refused (false), as the
// running one will cover the new backup too: the messages go to the
// group.
func (s *Sender) Resync(ctx context.Context, t Table, req Ext) (sent int, served bool) {
	if !s.resyncing.CompareAndSwap(false, true) {
		return 0, false
	}
	defer s.resyncing.Store(false)
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
