package daemon

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/ulvs/ulvs/internal/announce"
	"github.com/ulvs/ulvs/internal/config"
)

// bgpPeriod is how often the announcements follow health, quorum and VRRP
// state: a check result reaches the routers within it.
const bgpPeriod = 200 * time.Millisecond

var errNoBGP = errors.New("this director has no bgp block; nothing to drain or undrain")

// bgpState is the embedded BGP speaker of a director whose configuration
// has a bgp block.
type bgpState struct {
	sp   *announce.GoBGP
	ctl  *announce.Controller
	mu   sync.Mutex
	cfg  *config.BGP
	stop chan struct{}
}

// startBGP starts the speaker and the loop that feeds it; without a bgp
// block it does nothing. The speaker stops (a Cease to every neighbour)
// when ctx ends.
func (d *Daemon) startBGP(ctx context.Context, bg *sync.WaitGroup) error {
	b := d.cfg.ULVS.BGP
	if b == nil {
		return nil
	}
	rid, err := announce.RouterID(b)
	if err != nil {
		return err
	}
	sp, err := announce.StartGoBGP(b.LocalAS, rid, d.log)
	if err != nil {
		return err
	}
	if err := sp.SetNeighbors(announce.Neighbors(b)); err != nil {
		sp.Close()
		return err
	}
	s := &bgpState{sp: sp, ctl: announce.NewController(sp, d.log), cfg: b}
	d.running.Lock()
	d.running.bgp = s
	d.running.Unlock()
	d.log.Info("bgp: speaker started", "local_as", b.LocalAS, "router_id", rid, "neighbors", len(b.Neighbors),
		"announce", b.Announce.String())
	bg.Add(1)
	go func() {
		defer bg.Done()
		t := time.NewTicker(bgpPeriod)
		defer t.Stop()
		for {
			if err := s.ctl.Update(d.bgpInput()); err != nil {
				d.log.Warn("bgp: announcement failed; retrying", "err", err)
			}
			select {
			case <-ctx.Done():
				if err := sp.Close(); err != nil {
					d.log.Warn("bgp: stop", "err", err)
				}
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// bgpInput gathers what the announcement decision needs: each service's
// VIP and quorum, and which VIPs VRRP holds.
func (d *Daemon) bgpInput() announce.Input {
	d.running.Lock()
	s := d.running.bgp
	d.running.Unlock()
	s.mu.Lock()
	in := announce.Input{Mode: announce.ModeOf(s.cfg)}
	s.mu.Unlock()
	d.ctl.Lock()
	if t := d.table.Load(); t != nil {
		for _, svc := range t.Services() {
			if svc.Key.FWMark != 0 {
				continue // no address of its own to announce
			}
			up := false
			if vh := d.ctl.health.vss[svc.Key]; vh != nil && vh.quorum != nil {
				up = vh.quorum.Up()
			} else {
				for _, r := range svc.Reals {
					up = up || r.Weight > 0
				}
			}
			in.Services = append(in.Services, announce.Service{VIP: svc.Key.Addr, Up: up})
		}
	}
	d.ctl.Unlock()
	d.vrrpVIPs.Lock()
	if len(d.vrrpVIPs.managed) > 0 {
		in.VRRP = map[netip.Addr]bool{}
		for a := range d.vrrpVIPs.managed {
			in.VRRP[netip.AddrFrom4(a)] = d.vrrpVIPs.held[a]
		}
	}
	d.vrrpVIPs.Unlock()
	return in
}

// reloadBGP applies a reloaded bgp block: neighbours and the announce
// mode change at once (unchanged sessions stay up); local_as, router_id
// and adding or removing the block need a restart. d.ctl is held.
func (d *Daemon) reloadBGP(cfg *config.Config) {
	d.running.Lock()
	s := d.running.bgp
	d.running.Unlock()
	old, cur := d.cfg.ULVS.BGP, cfg.ULVS.BGP
	switch {
	case s == nil && cur == nil:
		return
	case s == nil || cur == nil:
		d.log.Warn("reload: the bgp block was added or removed; that takes effect at the next restart")
		return
	case old.LocalAS != cur.LocalAS || old.RouterID != cur.RouterID:
		d.log.Warn("reload: bgp local_as or router_id changed; that takes effect at the next restart")
	}
	if err := s.sp.SetNeighbors(announce.Neighbors(cur)); err != nil {
		d.log.Error("reload: bgp neighbours", "err", err)
	}
	s.mu.Lock()
	cur.LocalAS, cur.RouterID = old.LocalAS, old.RouterID // what runs, for the next comparison
	s.cfg = cur
	s.mu.Unlock()
}

// BGPDrain withdraws every route and returns drain_time, how long the
// routers need to move the flows elsewhere; 0 without BGP.
func (d *Daemon) BGPDrain() time.Duration {
	d.running.Lock()
	s := d.running.bgp
	d.running.Unlock()
	if s == nil {
		return 0
	}
	if err := s.ctl.Drain(); err != nil {
		d.log.Warn("bgp: drain: withdrawal failed", "err", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.DrainTime
}

// BGPUndrain announces again what health allows.
func (d *Daemon) BGPUndrain() error {
	d.running.Lock()
	s := d.running.bgp
	d.running.Unlock()
	if s == nil {
		return errNoBGP
	}
	return s.ctl.Undrain()
}

// BGPStatus is the speaker's state; nil without BGP.
func (d *Daemon) BGPStatus() *announce.Status {
	d.running.Lock()
	s := d.running.bgp
	d.running.Unlock()
	if s == nil {
		return nil
	}
	st := s.ctl.Status()
	return &st
}
