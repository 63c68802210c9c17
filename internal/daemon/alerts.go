package daemon

import (
	"context"
	"errors"
	"net/netip"
	"sync"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/internal/alert"
	"github.com/ulvs/ulvs/internal/config"
	"github.com/ulvs/ulvs/internal/health"
	"github.com/ulvs/ulvs/vrrp"
)

// smtp_alert: which events mail, as keepalived decides it; the mailer
// (internal/alert) queues and delivers without blocking the caller.

// startAlerts runs the mailer; the function returned stops it after it
// has delivered what is queued (bounded).
func (d *Daemon) startAlerts() func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.alerts.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// checkerAlert mails a checker's verdict change, as keepalived's checkers
// do: when the real server's smtp_alert is on, and (with
// no_checker_emails) only if the server itself changed state. FILE_CHECK
// sends none in keepalived, nor here. d.ctl is held.
func (d *Daemon) checkerAlert(h *healthState, rh *realHealth, cs *checkState, rsWasUp bool, err error) {
	if !rh.alert || cs.conf.Kind == config.CheckFile || (h.noCheckerEmails && rh.up == rsWasUp) {
		return
	}
	key := rh.ref.svc
	vs := alert.Trio(netip.AddrPortFrom(key.Addr, key.Port), key.Proto)
	rs := alert.Trio(rh.ref.real, key.Proto)
	// SMTP_CHECK quotes its failure, in keepalived's words.
	detail := ""
	if se := (*health.SMTPError)(nil); errors.As(err, &se) {
		detail = se.Keepalived
	}
	if cs.conf.Kind == config.CheckBFD {
		detail = cs.conf.BFD.Name
	}
	d.alerts.RealServer(rs, vs, rh.up, alert.CheckerBody(cs.conf.Kind, cs.up, detail))
}

// quorumAlert mails a virtual server's quorum change with keepalived's
// figures: the threshold crossed is quorum+hysteresis going up,
// quorum-hysteresis going down. d.ctl is held.
func (d *Daemon) quorumAlert(vh *vsHealth, alive uint64) {
	q := vh.quorum
	threshold := q.Need + q.Hysteresis
	if !q.Up() {
		threshold = q.Need - min(q.Need, q.Hysteresis)
	}
	d.alerts.Quorum(alert.Trio(netip.AddrPortFrom(vh.key.Addr, vh.key.Port), vh.key.Proto), q.Up(),
		q.Need, q.Hysteresis, threshold, alive)
}

// vrrpAlerts are the VRRP mail switches of the configuration in force.
type vrrpAlerts struct {
	mu        sync.Mutex
	instances map[string]bool
	groups    map[string]bool
	noFaults  bool
	// last is the state last mailed per instance or group, as
	// keepalived's last_email_state: one mail per state entered.
	last map[[2]string]vrrp.State
}

func (a *vrrpAlerts) set(g *config.GlobalDefs, v *config.VRRP) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.instances, a.groups = map[string]bool{}, map[string]bool{}
	for _, in := range v.Instances {
		a.instances[in.Name] = g.AlertVRRP(in.SMTPAlert)
	}
	for _, sg := range v.SyncGroups {
		a.groups[sg.Name] = g.AlertVRRP(sg.SMTPAlert)
	}
	a.noFaults = g.Alerts.NoEmailFaults
	if a.last == nil {
		a.last = map[[2]string]vrrp.State{}
	}
}

// vrrpAlert is the VRRP router's transition hook.
func (d *Daemon) vrrpAlert(group bool, name string, s vrrp.State) {
	a := &d.vrrpAlerts
	a.mu.Lock()
	on := a.instances[name]
	kind := "instance"
	if group {
		on, kind = a.groups[name], "group"
	}
	k := [2]string{kind, name}
	prev, seen := a.last[k]
	send := on && (s != vrrp.Fault || !a.noFaults) && (!seen || prev != s)
	if send {
		a.last[k] = s
	}
	a.mu.Unlock()
	if send {
		d.alerts.VRRP(group, name, s.String())
	}
}

// liveReals calls fn for each real server of cfg's address services (the
// ones health checking follows) that is alive in h: unchecked, or up.
func liveReals(cfg *config.Config, h *healthState, fn func(vs *config.VirtualServer, rs *config.RealServer, key balancer.ServiceKey, ref realRef)) {
	for _, vs := range cfg.VirtualServers {
		if vs.Group != "" || vs.FWMark != 0 {
			continue
		}
		key := balancer.ServiceKey{Addr: vs.Addr.Unmap(), Port: vs.Port, Proto: vs.Protocol}
		for _, rs := range vs.Reals {
			ref := realRef{key, normReal(key, rs.Addr, rs.Port, rs.Method)}
			if h != nil {
				if rh := h.reals[ref]; rh != nil && !rh.up {
					continue
				}
			}
			fn(vs, rs, key, ref)
		}
	}
}

// removedAlerts mails "=> Removing <=" for each live real server a reload
// takes out of the configuration, as keepalived does. d.ctl is held.
func (d *Daemon) removedAlerts(old, cur *config.Config, oldHealth *healthState) {
	kept := map[realRef]bool{}
	liveReals(cur, nil, func(_ *config.VirtualServer, _ *config.RealServer, _ balancer.ServiceKey, ref realRef) {
		kept[ref] = true
	})
	liveReals(old, oldHealth, func(_ *config.VirtualServer, rs *config.RealServer, key balancer.ServiceKey, ref realRef) {
		if !kept[ref] && old.Global.AlertRS(rs) {
			d.alerts.RealServer(alert.Trio(ref.real, key.Proto), alert.Trio(netip.AddrPortFrom(key.Addr, key.Port), key.Proto),
				false, "=> Removing <=")
		}
	})
}

// shutdownAlerts mails "=> Shutting down <=" at exit for the virtual
// servers with omega (keepalived sends nothing for the others): each live
// real server with smtp_alert, and the service itself with its own.
func (d *Daemon) shutdownAlerts() {
	d.ctl.Lock()
	defer d.ctl.Unlock()
	cfg, h := d.cfg, d.ctl.health
	if cfg == nil {
		return
	}
	liveReals(cfg, h, func(vs *config.VirtualServer, rs *config.RealServer, key balancer.ServiceKey, ref realRef) {
		if vs.Omega && cfg.Global.AlertRS(rs) {
			d.alerts.RealServer(alert.Trio(ref.real, key.Proto), alert.Trio(netip.AddrPortFrom(key.Addr, key.Port), key.Proto),
				false, "=> Shutting down <=")
		}
	})
	for _, vs := range cfg.VirtualServers {
		if vs.Omega && vs.Group == "" && vs.FWMark == 0 && cfg.Global.AlertVS(vs) {
			key := balancer.ServiceKey{Addr: vs.Addr.Unmap(), Port: vs.Port, Proto: vs.Protocol}
			d.alerts.VirtualServer(alert.Trio(netip.AddrPortFrom(key.Addr, key.Port), key.Proto), false, "=> Shutting down <=")
		}
	}
}
