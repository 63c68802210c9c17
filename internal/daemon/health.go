package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/internal/config"
	"github.com/ulvs/ulvs/internal/health"
	"github.com/ulvs/ulvs/internal/status"
)

// Health checking: checkers run in their own goroutines and report
// verdict changes; onCheck records them under d.ctl and republishes the
// table through apply, which filters the desired services through the
// health state (effective). The desired list itself (file + admin edits)
// is never changed by health, so an admin edit or a reload composes with
// it: a failed server stays out whatever its configured weight.

// realRef names a real server as findReal normalises it.
type realRef struct {
	svc  balancer.ServiceKey
	real netip.AddrPort
}

type checkState struct {
	conf   *config.Check
	timing health.Timing
	up     bool
	weight int
	err    string
}

type realHealth struct {
	ref        realRef
	checks     []*checkState
	inhibit    bool
	up         bool
	weight     int // dynamic weight, -1 when none
	since      time.Time
	lastErr    string
	notifyUp   *config.Script
	notifyDown *config.Script
}

type vsHealth struct {
	key          balancer.ServiceKey
	quorum       *health.Quorum
	sorry        *config.SorryServer
	sorryInhibit bool
	quorumUp     *config.Script
	quorumDown   *config.Script
	omega        bool
}

// healthState is the health checking of one configuration generation.
type healthState struct {
	gen      int
	reals    map[realRef]*realHealth
	order    []*realHealth
	vss      map[balancer.ServiceKey]*vsHealth
	notifier *health.Notifier
	cancel   context.CancelFunc
	wg       *sync.WaitGroup
}

func (rh *realHealth) recompute() {
	up, w, msg := true, -1, ""
	for _, c := range rh.checks {
		if !c.up {
			up = false
			if msg == "" {
				msg = fmt.Sprintf("%v: %s", c.conf.Kind, c.err)
			}
		}
		if c.weight >= 0 {
			w = c.weight
		}
	}
	rh.up, rh.weight = up, w
	if msg != "" {
		rh.lastErr = msg
	}
}

func normReal(key balancer.ServiceKey, addr netip.Addr, port uint16, m balancer.Method) netip.AddrPort {
	if port == 0 || m != balancer.NAT {
		port = key.Port
	}
	return netip.AddrPortFrom(addr.Unmap(), port)
}

// newHealth builds the health state of cfg, carrying the verdicts of
// checkers that survive from prev (same real server, same checker
// position and kind). d.ctl must be held, or the director not running.
func (d *Director) newHealth(cfg *config.Config, prev *healthState) *healthState {
	h := &healthState{reals: map[realRef]*realHealth{}, vss: map[balancer.ServiceKey]*vsHealth{},
		notifier: &health.Notifier{Env: health.ScriptEnv{User: cfg.Global.ScriptUser, Group: cfg.Global.ScriptGroup},
			Log: d.log.With("part", "scripts")}}
	if prev != nil {
		h.gen = prev.gen + 1
	}
	now := time.Now()
	for _, vs := range cfg.VirtualServers {
		if vs.Group != "" || vs.FWMark != 0 {
			continue
		}
		key := balancer.ServiceKey{Addr: vs.Addr.Unmap(), Port: vs.Port, Proto: vs.Protocol}
		vh := &vsHealth{key: key, sorry: vs.Sorry, sorryInhibit: vs.SorryInhibit, omega: vs.Omega}
		vh.quorumUp, _ = config.ParseScript(vs.Pos, vs.QuorumUp)
		vh.quorumDown, _ = config.ParseScript(vs.Pos, vs.QuorumDown)
		var alive uint64
		for _, rs := range vs.Reals {
			if rs.Health != nil && prev == nil {
				for _, n := range rs.Health.Unsupported {
					d.log.Warn("config: checker not supported by ulvs yet; ignored (the other checkers still run)",
						"checker", n.Keyword, "at", n.Pos.String())
				}
			}
			if rs.Health == nil || len(rs.Health.Checks) == 0 {
				alive += uint64(rs.Weight)
				continue
			}
			ref := realRef{key, normReal(key, rs.Addr, rs.Port, rs.Method)}
			rh := &realHealth{ref: ref, inhibit: rs.InhibitOnFailure, since: now,
				notifyUp: rs.Health.NotifyUp, notifyDown: rs.Health.NotifyDown}
			var old *realHealth
			if prev != nil {
				old = prev.reals[ref]
			}
			for i, c := range rs.Health.Checks {
				cs := &checkState{conf: c, timing: health.TimingOf(c), up: !c.Alpha, weight: -1}
				if c.Alpha {
					cs.err = "alpha: not checked yet"
				}
				if old != nil && i < len(old.checks) && old.checks[i].conf.Kind == c.Kind {
					cs.up, cs.weight, cs.err = old.checks[i].up, old.checks[i].weight, old.checks[i].err
				}
				rh.checks = append(rh.checks, cs)
			}
			rh.recompute()
			if old != nil && old.up == rh.up {
				rh.since, rh.lastErr = old.since, old.lastErr
			}
			if rh.up {
				w := uint64(rs.Weight)
				if rh.weight >= 0 {
					w = uint64(rh.weight)
				}
				alive += w
			}
			h.reals[ref] = rh
			h.order = append(h.order, rh)
		}
		vh.quorum = health.NewQuorum(uint64(vs.Quorum), uint64(vs.Hysteresis), alive)
		if prev != nil {
			if pv := prev.vss[key]; pv != nil {
				vh.quorum.Resume(pv.quorum.Up())
			}
		}
		h.vss[key] = vh
	}
	return h
}

// startHealth starts the checkers of h; they stop when ctx ends or h is
// replaced.
func (d *Director) startHealth(ctx context.Context, h *healthState) {
	ctx, h.cancel = context.WithCancel(ctx)
	h.wg = &sync.WaitGroup{}
	for _, rh := range h.order {
		for i, cs := range rh.checks {
			if cs.conf.Kind == config.CheckBFD {
				name, up := cs.conf.BFD.Name, cs.up
				h.wg.Add(1)
				go func() {
					defer h.wg.Done()
					d.watchBFD(ctx, h, rh, i, name, up)
				}()
				continue
			}
			p, err := health.New(cs.conf, h.notifier.Env)
			if err != nil {
				d.log.Error("health checker not started; the server keeps its state", "real", rh.ref.real.String(),
					"checker", cs.conf.Kind.String(), "at", cs.conf.Pos.String(), "err", err)
				continue
			}
			m := health.NewMachine(cs.timing)
			m.Resume(cs.up, cs.weight)
			rh, i := rh, i
			log := d.log.With("service", rh.ref.svc.String(), "real", rh.ref.real.String(), "checker", cs.conf.Kind.String())
			r := &health.Runner{ID: i, Prober: p, Timing: cs.timing, Log: log, LogAllFailures: cs.conf.LogAllFailures,
				Report: func(ev health.Event) { d.onCheck(h, rh, ev) }}
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				r.Run(ctx, m)
			}()
		}
	}
}

// stopHealth stops h's checkers; wait must be false while d.ctl is held
// (a checker may be waiting for it to report).
func stopHealth(h *healthState, wait bool) {
	if h == nil || h.cancel == nil {
		return
	}
	h.cancel()
	if wait {
		h.wg.Wait()
	}
}

// onCheck records a checker's verdict change and applies what follows.
func (d *Director) onCheck(h *healthState, rh *realHealth, ev health.Event) {
	d.ctl.Lock()
	defer d.ctl.Unlock()
	if d.health != h {
		return // a reload replaced this generation
	}
	cs := rh.checks[ev.ID]
	cs.up, cs.weight = ev.Up, ev.Weight
	if ev.Err != nil {
		cs.err = ev.Err.Error()
	}
	wasUp, oldWeight := rh.up, rh.weight
	rh.recompute()
	if rh.up == wasUp && rh.weight == oldWeight {
		return
	}
	log := d.log.With("service", rh.ref.svc.String(), "real", rh.ref.real.String())
	if rh.up != wasUp {
		rh.since = time.Now()
		if rh.up {
			log.Info("real server up", "checker", cs.conf.Kind.String())
			if rh.notifyUp != nil {
				h.notifier.Run(rh.notifyUp.Args, rh.notifyUp.User, rh.notifyUp.Group, nil)
			}
		} else {
			how := "removed"
			if rh.inhibit {
				how = "weight 0 (inhibit_on_failure)"
			}
			log.Warn("real server down", "checker", cs.conf.Kind.String(), "err", cs.err, "detected_after", ev.Elapsed, "now", how)
			if rh.notifyDown != nil {
				h.notifier.Run(rh.notifyDown.Args, rh.notifyDown.User, rh.notifyDown.Group, nil)
			}
		}
	} else {
		log.Info("real server weight set by MISC_CHECK", "weight", rh.weight)
	}
	d.updateQuorum(h, rh.ref.svc)
	d.applyHealth()
}

// updateQuorum recomputes a service's live weight and runs quorum_up or
// quorum_down when the quorum changes. d.ctl must be held.
func (d *Director) updateQuorum(h *healthState, key balancer.ServiceKey) {
	vh := h.vss[key]
	i := findService(d.desired, key)
	if vh == nil || i < 0 {
		return
	}
	var alive uint64
	s := &d.desired[i]
	for _, r := range s.Reals {
		rh := h.reals[realRef{key, normReal(key, r.Addr, r.Port, r.Method)}]
		switch {
		case rh == nil:
			alive += uint64(r.Weight)
		case rh.up && rh.weight >= 0:
			alive += uint64(rh.weight)
		case rh.up:
			alive += uint64(r.Weight)
		}
	}
	if !vh.quorum.Update(alive) {
		return
	}
	if vh.quorum.Up() {
		d.log.Info("quorum gained", "service", key.String(), "alive_weight", alive, "quorum", vh.quorum.Need)
		if vh.quorumUp != nil {
			h.notifier.Run(vh.quorumUp.Args, "", "", nil)
		}
		return
	}
	d.log.Warn("quorum lost", "service", key.String(), "alive_weight", alive, "quorum", vh.quorum.Need,
		"sorry_server", vh.sorry != nil)
	if vh.quorumDown != nil {
		h.notifier.Run(vh.quorumDown.Args, "", "", nil)
	}
}

// applyHealth republishes the table and moves UDP flows off servers that
// just stopped taking traffic: a datagram of such a flow is scheduled
// anew instead of being black-holed until the flow times out. TCP follows
// IPVS: a removed server's connections go with expire_nodest_conn, a
// quiesced one (inhibit_on_failure) keeps its established connections.
func (d *Director) applyHealth() {
	prev := d.table.Load()
	if err := d.apply(d.desired); err != nil {
		d.log.Error("health: applying the new state failed; the table is unchanged", "err", err)
		return
	}
	next := d.table.Load()
	if prev == nil {
		return
	}
	for _, s := range prev.Services() {
		if s.Key.Proto != balancer.UDP {
			continue
		}
		for _, r := range s.Reals {
			if r.Weight == 0 {
				continue
			}
			nr := next.Real(r.ID)
			switch {
			case nr != nil && nr.Weight == 0:
				n := d.conns.PurgeReal(next, r.ID)
				d.log.Info("UDP flows of a quiesced real server purged; they move on their next datagram",
					"real", r.AddrPort().String(), "entries", n)
			case nr == nil && !d.conns.Config().ExpireNodestConn:
				n := d.conns.PurgeReal(next, r.ID)
				d.log.Info("UDP flows of a removed real server purged", "real", r.AddrPort().String(), "entries", n)
			}
		}
	}
}

// effective is cfgs as health checking lets them run: failed servers
// removed (or at weight 0 with inhibit_on_failure), dynamic weights
// applied, and the sorry server in place of everything while the quorum
// is lost. d.ctl must be held.
func (d *Director) effective(cfgs []balancer.ServiceConfig) []balancer.ServiceConfig {
	h := d.health
	if h == nil || len(h.vss) == 0 {
		return cfgs
	}
	out := cloneConfigs(cfgs)
	for i := range out {
		s := &out[i]
		vh := h.vss[s.Key]
		reals := s.Reals[:0]
		for _, r := range s.Reals {
			if rh := h.reals[realRef{s.Key, normReal(s.Key, r.Addr, r.Port, r.Method)}]; rh != nil {
				switch {
				case !rh.up && rh.inhibit:
					r.Weight = 0
				case !rh.up:
					continue
				case rh.weight >= 0:
					r.Weight = uint32(rh.weight)
				}
			}
			reals = append(reals, r)
		}
		if vh != nil && vh.sorry != nil {
			sorry := balancer.RealConfig{Addr: vh.sorry.Addr, Port: vh.sorry.Port, Method: vh.sorry.Method, Weight: 1}
			sref := normReal(s.Key, sorry.Addr, sorry.Port, sorry.Method)
			dup := slices.ContainsFunc(reals, func(r balancer.RealConfig) bool {
				return normReal(s.Key, r.Addr, r.Port, r.Method) == sref
			})
			switch {
			case dup:
			case !vh.quorum.Up():
				// keepalived: the sorry server replaces the pool.
				kept := reals[:0]
				for _, r := range reals {
					if rh := h.reals[realRef{s.Key, normReal(s.Key, r.Addr, r.Port, r.Method)}]; rh != nil && rh.inhibit {
						r.Weight = 0
						kept = append(kept, r)
					}
				}
				reals = append(kept, sorry)
			case vh.sorryInhibit:
				sorry.Weight = 0
				reals = append(reals, sorry)
			}
		}
		s.Reals = reals
	}
	return out
}

// healthStatus fills the health fields of a listed real server. d.ctl
// must be held.
func (d *Director) healthStatus(key balancer.ServiceKey, r *balancer.RealServer, out *status.Real) {
	h := d.health
	if h == nil {
		return
	}
	ap := netip.AddrPortFrom(r.Addr, r.Port)
	if rh := h.reals[realRef{key, ap}]; rh != nil {
		fillHealth(rh, out)
		return
	}
	if vh := h.vss[key]; vh != nil && vh.sorry != nil && normReal(key, vh.sorry.Addr, vh.sorry.Port, vh.sorry.Method) == ap {
		out.Health = "sorry"
	}
}

func fillHealth(rh *realHealth, out *status.Real) {
	out.Health = "up"
	if !rh.up {
		out.Health = "down"
		out.HealthError = rh.lastErr
	}
	out.HealthSince = rh.since
	for _, c := range rh.checks {
		out.Checks = append(out.Checks, c.conf.Kind.String())
	}
}

// failedReals lists a service's real servers that health checking took
// out of the table, and its quorum state. d.ctl must be held.
func (d *Director) failedReals(key balancer.ServiceKey, tab *balancer.Table) (failed []status.Real, quorum string) {
	h := d.health
	if h == nil {
		return nil, ""
	}
	if vh := h.vss[key]; vh != nil {
		quorum = "up"
		if !vh.quorum.Up() {
			quorum = "down"
		}
	}
	i := findService(d.desired, key)
	if i < 0 {
		return nil, quorum
	}
	s := &d.desired[i]
	for _, r := range s.Reals {
		ap := normReal(key, r.Addr, r.Port, r.Method)
		rh := h.reals[realRef{key, ap}]
		if rh == nil || d.tableReal(tab, key, ap) != nil {
			continue
		}
		out := status.Real{Addr: ap.Addr(), Port: ap.Port(), Forward: r.Method.IPVSName(), Weight: r.Weight}
		fillHealth(rh, &out)
		if rh.up {
			out.Health = "standby" // healthy, replaced by the sorry server
		}
		failed = append(failed, out)
	}
	return failed, quorum
}

// omegaScripts runs quorum_down for services with omega at shutdown and
// waits for them (bounded).
func (d *Director) omegaScripts() {
	d.ctl.Lock()
	h := d.health
	var runs [][]string
	if h != nil {
		for _, vh := range h.vss {
			if vh.omega && vh.quorumDown != nil {
				runs = append(runs, vh.quorumDown.Args)
			}
		}
	}
	d.ctl.Unlock()
	var wg sync.WaitGroup
	for _, args := range runs {
		wg.Add(1)
		h.notifier.Run(args, "", "", func(error) { wg.Done() })
	}
	wg.Wait()
}
