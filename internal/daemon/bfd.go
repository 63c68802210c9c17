package daemon

import (
	"context"
	"fmt"
	"reflect"
	"sync"

	"github.com/ulvs/ulvs/bfd"
	"github.com/ulvs/ulvs/internal/config"
	"github.com/ulvs/ulvs/internal/health"
)

// BFD: the bfd_instance sessions run in one bfd.Router for the life of
// the daemon (restarted by a reload only when the bfd_instances changed).
// BFD_CHECK checkers do not probe: each watches its session's verdict in
// bfdHub and reports changes like any checker, so a real server is
// up only while every one of its checkers is (keepalived's rule).
//
// The verdicts follow keepalived's checker: a session reaching Up says
// up, a session leaving Up says down, unless the peer took it down on
// purpose (AdminDown, which RFC 5880 section 6.8.16 says is no failure);
// a session that never came Up says nothing, so the checker keeps its
// initial state (up, or down with alpha).

// bfdHub holds the last verdict of each session and wakes the watchers
// when one changes.
type bfdHub struct {
	mu      sync.Mutex
	verdict map[string]bfdVerdict
	changed chan struct{} // closed and replaced at every change
}

type bfdVerdict struct {
	up  bool
	err string
}

func newBFDHub() *bfdHub {
	return &bfdHub{verdict: map[string]bfdVerdict{}, changed: make(chan struct{})}
}

// get returns name's verdict, whether there is one yet, and a channel
// closed at the next change.
func (b *bfdHub) get(name string) (bfdVerdict, bool, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.verdict[name]
	return v, ok, b.changed
}

// event records a session's state change as keepalived's checker hears
// it: Up, or the fall from Up.
func (b *bfdHub) event(ev bfd.Event) {
	var v bfdVerdict
	switch {
	case ev.State == bfd.Up:
		v.up = true
	case ev.Old == bfd.Up && ev.RemoteState != bfd.AdminDown:
		v.err = fmt.Sprintf("BFD session %s is %v (%v; peer says %v)", ev.Name, ev.State, ev.Diag, ev.RemoteDiag)
	default:
		return
	}
	b.mu.Lock()
	b.verdict[ev.Name] = v
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// bfdRun is a running Router and how to stop it.
type bfdRun struct {
	conf   []config.BFDInstance
	router *bfd.Router
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *bfdRun) stop() {
	if r != nil {
		r.cancel()
		<-r.done
	}
}

// bfdConf is cfg's sessions without their positions, to compare reloads.
func bfdConf(cfg *config.Config) []config.BFDInstance {
	out := make([]config.BFDInstance, 0, len(cfg.BFD))
	for _, b := range cfg.BFD {
		c := *b
		c.Pos = config.Pos{}
		out = append(out, c)
	}
	return out
}

// startBFD starts the sessions of cfg unless the running ones are the
// same. d.ctl must be held, or Run not yet serving.
func (d *Director) startBFD(ctx context.Context, cfg *config.Config) error {
	conf := bfdConf(cfg)
	if d.bfd != nil && reflect.DeepEqual(d.bfd.conf, conf) {
		return nil
	}
	d.bfd.stop()
	d.bfd = nil
	if len(conf) == 0 {
		return nil
	}
	rc := bfd.RouterConfig{Log: d.log.With("part", "bfd"), OnChange: d.bfdHub.event}
	for _, b := range conf {
		rc.Sessions = append(rc.Sessions, bfd.SessionConfig{Name: b.Name, Peer: b.Neighbor, Local: b.Source,
			Multihop: b.Multihop, TTL: b.TTL, MaxHops: b.MaxHops,
			Config: bfd.Config{DesiredMinTx: b.MinTx, RequiredMinRx: b.MinRx, IdleTx: b.IdleTx,
				DetectMult: b.Multiplier, Passive: b.Passive}})
	}
	r, err := bfd.NewRouter(rc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	run := &bfdRun{conf: conf, router: r, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(run.done)
		_ = r.Run(ctx)
	}()
	d.bfd = run
	d.log.Info("BFD sessions started", "sessions", len(conf))
	return nil
}

// watchBFD is the runner of one BFD_CHECK: it reports its session's
// verdicts to onCheck until ctx ends.
func (d *Director) watchBFD(ctx context.Context, h *healthState, rh *realHealth, id int, name string, up bool) {
	for {
		v, ok, changed := d.bfdHub.get(name)
		if ok && v.up != up {
			up = v.up
			ev := health.Event{ID: id, Up: up, Weight: -1}
			if !up {
				ev.Err = fmt.Errorf("%s", v.err)
			}
			d.onCheck(h, rh, ev)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}
