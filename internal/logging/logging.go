// Package logging holds ulvs's slog plumbing: a handler that rate-limits
// repeated messages, so that nothing that can repeat (a neighbour that does
// not answer, a reload loop, a misbehaving client of the admin API) can
// flood the log.
package logging

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// The defaults of Limit as ulvs uses it: at most 10 records with the same
// level and message per 10 seconds.
const (
	DefaultBurst  = 10
	DefaultWindow = 10 * time.Second
)

// Limit wraps h so that at most burst records with the same level and
// message pass per window. The first record after a window in which some
// were dropped carries a "suppressed" attribute with their count.
func Limit(h slog.Handler, burst int, window time.Duration) slog.Handler {
	return &limiter{next: h, state: &limitState{burst: burst, window: window, keys: map[limitKey]*limitCount{}}}
}

type limitKey struct {
	level slog.Level
	msg   string
}

type limitCount struct {
	start      time.Time
	n          int
	suppressed int
}

type limitState struct {
	mu     sync.Mutex
	burst  int
	window time.Duration
	keys   map[limitKey]*limitCount
}

type limiter struct {
	next  slog.Handler
	state *limitState
}

func (l *limiter) Enabled(ctx context.Context, level slog.Level) bool {
	return l.next.Enabled(ctx, level)
}

func (l *limiter) Handle(ctx context.Context, r slog.Record) error {
	s := l.state
	now := r.Time
	if now.IsZero() {
		now = time.Now()
	}
	k := limitKey{r.Level, r.Message}
	s.mu.Lock()
	c := s.keys[k]
	if c == nil {
		if len(s.keys) > 4096 { // bound the memory; forget old windows
			for key, v := range s.keys {
				if now.Sub(v.start) >= s.window {
					delete(s.keys, key)
				}
			}
		}
		c = &limitCount{start: now}
		s.keys[k] = c
	}
	if now.Sub(c.start) >= s.window {
		c.start, c.n = now, 0
	}
	c.n++
	if c.n > s.burst {
		c.suppressed++
		s.mu.Unlock()
		return nil
	}
	suppressed := c.suppressed
	c.suppressed = 0
	s.mu.Unlock()
	if suppressed > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("suppressed", suppressed))
	}
	return l.next.Handle(ctx, r)
}

func (l *limiter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &limiter{next: l.next.WithAttrs(attrs), state: l.state}
}

func (l *limiter) WithGroup(name string) slog.Handler {
	return &limiter{next: l.next.WithGroup(name), state: l.state}
}
