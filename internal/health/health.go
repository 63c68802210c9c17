// Package health runs keepalived's health checkers against real servers:
// the probes (TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, UDP_CHECK,
// PING_CHECK, DNS_CHECK, SMTP_CHECK), track files (FILE_CHECK), the
// retry/delay state machine that turns probe
// results into up/down transitions, quorum with hysteresis, and notify
// scripts run without a shell. It decides; the daemon applies the
// decisions to the balancer.
package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/ulvs/ulvs/internal/config"
)

// Result is the outcome of one probe.
type Result struct {
	// Err is nil when the probe passed; otherwise it says what failed.
	Err error
	// Weight is the weight a passing MISC_CHECK with misc_dynamic asked
	// for (exit status - 2), or -1 for the configured weight.
	Weight int
}

// Up reports whether the probe passed.
func (r Result) Up() bool { return r.Err == nil }

// Prober runs one probe of one checker. Probe must return by the deadline
// of ctx.
type Prober interface {
	Probe(ctx context.Context) Result
}

// ErrUnsupported is returned by New for a checker ulvs cannot run.
var ErrUnsupported = errors.New("checker not supported")

// New returns the prober for c. env says who runs MISC_CHECK scripts.
func New(c *config.Check, env ScriptEnv) (Prober, error) {
	switch c.Kind {
	case config.CheckTCP:
		return &TCP{Target: c.Target, Bind: c.Bind}, nil
	case config.CheckHTTP, config.CheckSSL:
		return &HTTP{Target: c.Target, Bind: c.Bind, Conf: *c.HTTP, TLS: c.Kind == config.CheckSSL}, nil
	case config.CheckMisc:
		cred, err := env.credential(c.Misc.User, c.Misc.Group)
		if err != nil {
			return nil, err
		}
		return &Misc{Args: c.Misc.Path, Dynamic: c.Misc.Dynamic, Cred: cred}, nil
	case config.CheckUDP:
		return &UDP{Target: c.Target, Bind: c.Bind, Conf: *c.UDP}, nil
	case config.CheckPing:
		return &Ping{Target: c.Target.Addr(), Bind: c.Bind.Addr()}, nil
	case config.CheckDNS:
		return &DNS{Target: c.Target, Bind: c.Bind, Type: c.DNS.Type, Name: c.DNS.Name}, nil
	case config.CheckSMTP:
		return &SMTP{Target: c.Target, Bind: c.Bind, Helo: c.SMTP.HeloName, Step: c.ConnectTimeout}, nil
	}
	return nil, fmt.Errorf("%w: %v", ErrUnsupported, c.Kind)
}

// Timing is the schedule of one checker (keepalived's common keywords).
type Timing struct {
	DelayLoop        time.Duration
	ConnectTimeout   time.Duration
	DelayBeforeRetry time.Duration
	Retry            int
	Warmup           time.Duration
	Alpha            bool
}

// TimingOf returns c's schedule. A MISC_CHECK's probe is bounded by
// misc_timeout instead of connect_timeout; an SMTP_CHECK's by
// connect_timeout for each of its steps, as in keepalived.
func TimingOf(c *config.Check) Timing {
	t := Timing{DelayLoop: c.DelayLoop, ConnectTimeout: c.ConnectTimeout, DelayBeforeRetry: c.DelayBeforeRetry,
		Retry: c.Retry, Warmup: c.Warmup, Alpha: c.Alpha}
	if c.Misc != nil {
		t.ConnectTimeout = c.Misc.Timeout
	}
	if c.Kind == config.CheckSMTP {
		t.ConnectTimeout = c.ConnectTimeout * smtpSteps
	}
	return t
}

// DetectionBound is the longest time from a server failing to the checker
// declaring it down: the wait for the next check, then every attempt
// timing out with the retry delays between them.
func (t Timing) DetectionBound() time.Duration {
	return t.DelayLoop + t.ConnectTimeout*time.Duration(t.Retry+1) + t.DelayBeforeRetry*time.Duration(t.Retry)
}

// Machine is one checker's state: up or down, and the failures seen in a
// row. It is pure (no clock, no I/O) so its timing can be tested exactly.
type Machine struct {
	Timing
	up       bool
	failures int
	weight   int
}

// NewMachine starts a checker up, or down with alpha.
func NewMachine(t Timing) *Machine { return &Machine{Timing: t, up: !t.Alpha, weight: -1} }

// Up reports the checker's current verdict.
func (m *Machine) Up() bool { return m.up }

// Weight is the dynamic weight in force, -1 for the configured one.
func (m *Machine) Weight() int { return m.weight }

// FirstDelay is the wait before the first probe: random in [0, Warmup),
// so that many checkers do not probe in lockstep.
func (m *Machine) FirstDelay(rng func(n int64) int64) time.Duration {
	if m.Warmup <= 0 {
		return 0
	}
	return time.Duration(rng(int64(m.Warmup)))
}

// Step feeds one probe result. It returns how long to wait before the
// next probe and whether the verdict (up, or the dynamic weight) changed.
// Like keepalived, a failure is retried Retry times, DelayBeforeRetry
// apart, before the checker goes down; one success brings it up.
func (m *Machine) Step(r Result) (next time.Duration, changed bool) {
	if r.Up() {
		// A dynamic weight lasts until the next success without one
		// (MISC_CHECK exit 0), which restores the configured weight.
		m.failures = 0
		changed = !m.up || r.Weight != m.weight
		m.up, m.weight = true, r.Weight
		return m.DelayLoop, changed
	}
	m.failures++
	if m.failures <= m.Retry && m.up {
		return m.DelayBeforeRetry, false
	}
	m.failures = 0
	changed = m.up
	m.up = false
	return m.DelayLoop, changed
}

// Event is a checker's verdict changing.
type Event struct {
	// ID is the caller's identifier of the checker.
	ID     int
	Up     bool
	Weight int // dynamic weight, -1 when none
	// Offset is added to the server's weight (FILE_CHECK's weighted
	// value); 0 for the other checkers.
	Offset int64
	Err    error
	// Elapsed is the time from the first failed probe of a run to the
	// verdict (0 for an up event).
	Elapsed time.Duration
}

// Runner runs one checker until its context ends, reporting changes.
type Runner struct {
	ID     int
	Prober Prober
	Timing Timing
	// Log receives failures (each one with log_all_failures, else only the
	// ones that change the verdict); nil discards them.
	Log            *slog.Logger
	LogAllFailures bool
	// Report is called from the runner's goroutine for every change; it
	// must not block for long.
	Report func(Event)
	// Rand returns a number in [0, n); nil uses math/rand/v2.
	Rand func(n int64) int64
}

// Run probes until ctx is done. The machine starts in the state given
// (up, unless alpha), so a reload can carry a checker's verdict over.
func (r *Runner) Run(ctx context.Context, m *Machine) {
	rng := r.Rand
	if rng == nil {
		rng = rand.Int64N
	}
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timer := time.NewTimer(m.FirstDelay(rng))
	defer timer.Stop()
	var failStart time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, r.Timing.ConnectTimeout)
		res := r.Prober.Probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if !res.Up() && failStart.IsZero() {
			failStart = start
		}
		if !res.Up() && r.LogAllFailures {
			log.Warn("health check failed", "err", res.Err)
		}
		next, changed := m.Step(res)
		if changed {
			ev := Event{ID: r.ID, Up: m.Up(), Weight: m.Weight(), Err: res.Err}
			if !m.Up() {
				ev.Elapsed = time.Since(failStart)
			}
			r.Report(ev)
		}
		if res.Up() {
			failStart = time.Time{}
		}
		timer.Reset(next)
	}
}

// Resume sets the verdict a checker starts with, so that a reload keeps
// what the previous checker found instead of starting over.
func (m *Machine) Resume(up bool, weight int) { m.up, m.weight, m.failures = up, weight, 0 }
