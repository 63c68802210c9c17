package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/balancer/conntrack"
	"github.com/ulvs/ulvs/internal/admin"
	"github.com/ulvs/ulvs/internal/alert"
	"github.com/ulvs/ulvs/internal/config"
	"github.com/ulvs/ulvs/internal/hostnet"
)

// The control plane: every change, from a reload or the admin API, edits
// a copy of the desired service list and goes through apply, which builds
// the next Table from the current one (NewTable keeps the identity,
// counters and connections of everything unchanged), publishes it, and
// then cleans up after what disappeared. d.ctl serialises all of it.

// drain is an admin drain in progress.
type drain struct {
	svc      balancer.ServiceKey
	real     netip.AddrPort
	deadline time.Time // zero: none
}

// ReloadStats counts configuration reloads.
type ReloadStats struct {
	OK, Failed  uint64
	LastOK      time.Time
	LastFailure time.Time
	LastError   string
}

// apply publishes a table built from cfgs and handles what left it:
// connections of removed real servers are purged (expire_nodest_conn on)
// or left to time out; VIPs, kernel drop rules and neighbour resolution
// follow the new set. On error nothing changes. d.ctl must be held.
func (d *Daemon) apply(cfgs []balancer.ServiceConfig) error {
	prev := d.table.Load()
	next, err := balancer.NewTable(prev, d.effective(cfgs))
	if err != nil {
		return err
	}
	for _, w := range next.Warnings() {
		d.log.Warn("config", "warning", w)
	}
	d.table.Store(next)
	d.ctl.desired = cfgs

	removed := 0
	if prev != nil {
		for _, s := range prev.Services() {
			for _, r := range s.Reals {
				if next.Real(r.ID) != nil {
					continue
				}
				removed++
				delete(d.ctl.realEst, r.ID)
				delete(d.ctl.realBase, r.ID)
				if d.conns.Config().ExpireNodestConn {
					n := d.conns.PurgeReal(next, r.ID)
					d.log.Info("real server removed; its connections purged", "service", s.Key.String(),
						"real", r.AddrPort().String(), "entries", n)
				} else {
					d.log.Info("real server removed; its connections expire (expire_nodest_conn off)",
						"service", s.Key.String(), "real", r.AddrPort().String())
				}
			}
			if next.Service(s.ID) == nil {
				t := totals(s.Stats.Conns(), s.Stats.Totals())
				d.ctl.retired.Conns += t.Conns
				d.ctl.retired.InPkts += t.InPkts
				d.ctl.retired.OutPkts += t.OutPkts
				d.ctl.retired.InBytes += t.InBytes
				d.ctl.retired.OutBytes += t.OutBytes
				delete(d.ctl.svcEst, s.ID)
				delete(d.ctl.svcBase, s.ID)
			}
		}
	}
	d.publishVIPs()
	if d.dropInstalled.Load() {
		if err := hostnet.InstallKernelDrop(d.nftTable, d.dropRules()); err != nil {
			d.log.Warn("kernel drop rules not updated", "err", err)
		}
	}
	if d.reals != nil {
		d.wantNeighbours()
	}
	return nil
}

// Reload rereads the configuration file and applies the difference. Drains
// in progress are cancelled: the file is the source of truth. Settings
// that need a restart (interfaces, workers, io, sockets, listeners,
// expire_nodest_conn) are reported when they changed and otherwise kept.
func (d *Daemon) Reload() error {
	d.ctl.Lock()
	defer d.ctl.Unlock()
	err := d.reloadLocked()
	now := time.Now()
	if err != nil {
		d.ctl.reloads.Failed++
		d.ctl.reloads.LastFailure, d.ctl.reloads.LastError = now, err.Error()
		d.log.Error("reload failed; the running configuration is unchanged", "err", err)
		return err
	}
	d.ctl.reloads.OK++
	d.ctl.reloads.LastOK = now
	return nil
}

func (d *Daemon) reloadLocked() error {
	cfg, warnings, err := config.Load(d.opts.ConfigPath, config.Options{Strict: d.opts.Strict})
	if err != nil {
		return err
	}
	for _, w := range warnings {
		d.log.Warn("config", "warning", w.String())
	}
	services, err := d.addressServices(cfg)
	if err != nil {
		return err
	}
	if d.client == nil && len(services) > 0 {
		return errors.New("the file now has virtual_servers, but ulvs started with VRRP only and runs no packet loop: restart ulvs to forward them")
	}
	oldHealth := d.ctl.health
	d.ctl.health = d.newHealth(cfg, oldHealth)
	if err := d.apply(services); err != nil {
		d.ctl.health = oldHealth
		return err
	}
	stopHealth(oldHealth, false)
	d.alerts.SetConfig(alert.FromGlobal(&cfg.Global))
	d.removedAlerts(d.cfg, cfg, oldHealth)
	d.vrrpAlerts.set(&cfg.Global, &cfg.VRRP)
	if d.ctl.healthCtx != nil {
		if err := d.startBFD(d.ctl.healthCtx, cfg); err != nil {
			d.log.Error("reload: BFD sessions not restarted; BFD_CHECK verdicts stay as they were", "err", err)
		}
		d.startHealth(d.ctl.healthCtx, d.ctl.health)
	}
	d.ctl.drains = nil
	d.setTimeouts(cfg.Global.LVSTimeouts)
	d.reloadBGP(cfg)
	if old, cur := d.cfg.ULVS, cfg.ULVS; old.InterfaceClients != cur.InterfaceClients ||
		old.InterfaceReals != cur.InterfaceReals || old.Workers != cur.Workers || old.IO != cur.IO ||
		old.AdminSocket != cur.AdminSocket || old.MetricsListen != cur.MetricsListen ||
		old.KeepNodestConn != cur.KeepNodestConn || old.SloppyTCP != cur.SloppyTCP ||
		old.MaxConns != cur.MaxConns || old.TxRingFrames != cur.TxRingFrames || old.TxZeroCopy != cur.TxZeroCopy {
		d.log.Warn("reload: the ulvs block changed; its settings (interfaces, workers, io, admin_socket, metrics_listen, expire_nodest_conn, sloppy_tcp, max_conns, tx_ring_frames, tx_zero_copy) take effect at the next restart")
	}
	d.cfg = cfg
	d.log.Info("configuration reloaded", "services", len(services))
	return nil
}

// setTimeouts applies lvs_timeouts; an unset value goes back to IPVS's
// default, so removing a line from the file takes effect on reload.
func (d *Daemon) setTimeouts(t config.Timeouts) {
	def := func(v time.Duration, s conntrack.ConnState) time.Duration {
		if v > 0 {
			return v
		}
		return conntrack.DefaultTimeouts[s]
	}
	d.conns.SetTimeouts(def(t.TCP, conntrack.StateEstablished), def(t.TCPFin, conntrack.StateFinWait),
		def(t.UDP, conntrack.StateUDP))
}

// addressServices returns the services ulvs can forward, logging the
// fwmark ones it skips (see docs/config.md).
func (d *Daemon) addressServices(cfg *config.Config) ([]balancer.ServiceConfig, error) {
	services, err := cfg.Services()
	if err != nil {
		return nil, err
	}
	out := services[:0]
	for _, s := range services {
		if s.Key.FWMark != 0 {
			d.log.Warn("config: fwmark services need packet marks, which AF_PACKET frames do not carry; skipping",
				"service", s.Key.String())
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// ReloadStats returns the reload counters.
func (d *Daemon) ReloadStats() ReloadStats {
	d.ctl.Lock()
	defer d.ctl.Unlock()
	return d.ctl.reloads
}

// edit applies fn to a copy of the desired services.
func (d *Daemon) edit(fn func(cfgs []balancer.ServiceConfig) ([]balancer.ServiceConfig, error)) error {
	cfgs := cloneConfigs(d.ctl.desired)
	cfgs, err := fn(cfgs)
	if err != nil {
		return err
	}
	return d.apply(cfgs)
}

func cloneConfigs(in []balancer.ServiceConfig) []balancer.ServiceConfig {
	out := make([]balancer.ServiceConfig, len(in))
	for i, s := range in {
		out[i] = s
		out[i].Reals = slices.Clone(s.Reals)
	}
	return out
}

func findService(cfgs []balancer.ServiceConfig, k balancer.ServiceKey) int {
	return slices.IndexFunc(cfgs, func(s balancer.ServiceConfig) bool { return s.Key == k })
}

// findReal matches a real server as NewTable normalises it: port 0 means
// the service port, and DR/TUN servers are reached on the service port.
func findReal(s *balancer.ServiceConfig, ap netip.AddrPort) int {
	norm := func(r balancer.RealConfig) uint16 {
		if r.Port == 0 || r.Method != balancer.NAT {
			return s.Key.Port
		}
		return r.Port
	}
	want := ap.Port()
	if want == 0 {
		want = s.Key.Port
	}
	return slices.IndexFunc(s.Reals, func(r balancer.RealConfig) bool {
		return r.Addr.Unmap() == ap.Addr() && norm(r) == want
	})
}

var errNoService = errors.New("no such service")

func serviceErr(k balancer.ServiceKey) error {
	return fmt.Errorf("%w %s; list them with ulvs list", errNoService, admin.FormatService(k))
}

// SetService implements admin.Control.
func (d *Daemon) SetService(spec admin.ServiceSpec, create bool) error {
	k, err := admin.ParseService(spec.Service)
	if err != nil {
		return err
	}
	d.ctl.Lock()
	defer d.ctl.Unlock()
	return d.edit(func(cfgs []balancer.ServiceConfig) ([]balancer.ServiceConfig, error) {
		i := findService(cfgs, k)
		switch {
		case create && i >= 0:
			return nil, fmt.Errorf("service %s exists; edit it instead", admin.FormatService(k))
		case !create && i < 0:
			return nil, serviceErr(k)
		case create:
			cfgs = append(cfgs, balancer.ServiceConfig{Key: k})
			i = len(cfgs) - 1
		}
		s := &cfgs[i]
		if spec.Scheduler != nil {
			s.Scheduler = *spec.Scheduler
		}
		if spec.Persistence != nil {
			s.Persistence = time.Duration(*spec.Persistence) * time.Second
		}
		if spec.MaskBits != nil {
			s.PersistenceMaskBits = *spec.MaskBits
		}
		if spec.OnePacket != nil {
			s.Flags &^= balancer.FlagOnePacket
			if *spec.OnePacket {
				s.Flags |= balancer.FlagOnePacket
			}
		}
		return cfgs, nil
	})
}

// DeleteService implements admin.Control.
func (d *Daemon) DeleteService(k balancer.ServiceKey) error {
	d.ctl.Lock()
	defer d.ctl.Unlock()
	return d.edit(func(cfgs []balancer.ServiceConfig) ([]balancer.ServiceConfig, error) {
		i := findService(cfgs, k)
		if i < 0 {
			return nil, serviceErr(k)
		}
		return slices.Delete(cfgs, i, i+1), nil
	})
}

// SetReal implements admin.Control.
func (d *Daemon) SetReal(spec admin.RealSpec, create bool) error {
	k, err := admin.ParseService(spec.Service)
	if err != nil {
		return err
	}
	ap, err := admin.ParseReal(spec.Real)
	if err != nil {
		return err
	}
	d.ctl.Lock()
	defer d.ctl.Unlock()
	return d.edit(func(cfgs []balancer.ServiceConfig) ([]balancer.ServiceConfig, error) {
		si := findService(cfgs, k)
		if si < 0 {
			return nil, serviceErr(k)
		}
		s := &cfgs[si]
		ri := findReal(s, ap)
		switch {
		case create && ri >= 0:
			return nil, fmt.Errorf("real server %v exists in %s; edit it instead", ap, admin.FormatService(k))
		case !create && ri < 0:
			return nil, fmt.Errorf("no real server %v in %s; list them with ulvs list", ap, admin.FormatService(k))
		case create:
			s.Reals = append(s.Reals, balancer.RealConfig{Addr: ap.Addr(), Port: ap.Port(), Weight: 1})
			ri = len(s.Reals) - 1
		}
		r := &s.Reals[ri]
		if spec.Method != nil {
			m, err := admin.ParseMethod(*spec.Method)
			if err != nil {
				return nil, err
			}
			r.Method = m
		}
		if spec.Weight != nil {
			r.Weight = *spec.Weight
			d.cancelDrain(k, ap)
		}
		if spec.UThreshold != nil {
			r.UpperThreshold = *spec.UThreshold
		}
		if spec.LThreshold != nil {
			r.LowerThreshold = *spec.LThreshold
		}
		return cfgs, nil
	})
}

// DeleteReal implements admin.Control.
func (d *Daemon) DeleteReal(k balancer.ServiceKey, ap netip.AddrPort) error {
	d.ctl.Lock()
	defer d.ctl.Unlock()
	return d.deleteRealLocked(k, ap)
}

func (d *Daemon) deleteRealLocked(k balancer.ServiceKey, ap netip.AddrPort) error {
	d.cancelDrain(k, ap)
	return d.edit(func(cfgs []balancer.ServiceConfig) ([]balancer.ServiceConfig, error) {
		si := findService(cfgs, k)
		if si < 0 {
			return nil, serviceErr(k)
		}
		ri := findReal(&cfgs[si], ap)
		if ri < 0 {
			return nil, fmt.Errorf("no real server %v in %s; list them with ulvs list", ap, admin.FormatService(k))
		}
		cfgs[si].Reals = slices.Delete(cfgs[si].Reals, ri, ri+1)
		return cfgs, nil
	})
}

// Drain implements admin.Control.
func (d *Daemon) Drain(k balancer.ServiceKey, ap netip.AddrPort, deadline time.Duration) error {
	d.ctl.Lock()
	defer d.ctl.Unlock()
	err := d.edit(func(cfgs []balancer.ServiceConfig) ([]balancer.ServiceConfig, error) {
		si := findService(cfgs, k)
		if si < 0 {
			return nil, serviceErr(k)
		}
		ri := findReal(&cfgs[si], ap)
		if ri < 0 {
			return nil, fmt.Errorf("no real server %v in %s; list them with ulvs list", ap, admin.FormatService(k))
		}
		cfgs[si].Reals[ri].Weight = 0
		return cfgs, nil
	})
	if err != nil {
		return err
	}
	d.cancelDrain(k, ap)
	dr := drain{svc: k, real: ap}
	if deadline > 0 {
		dr.deadline = time.Now().Add(deadline)
	}
	d.ctl.drains = append(d.ctl.drains, dr)
	d.log.Info("draining real server", "service", admin.FormatService(k), "real", ap.String(), "deadline", deadline)
	return nil
}

func (d *Daemon) cancelDrain(k balancer.ServiceKey, ap netip.AddrPort) {
	d.ctl.drains = slices.DeleteFunc(d.ctl.drains, func(dr drain) bool { return dr.svc == k && dr.real == ap })
}

// checkDrains removes drained servers whose connections are gone or whose
// deadline passed.
func (d *Daemon) checkDrains(now time.Time) {
	d.ctl.Lock()
	defer d.ctl.Unlock()
	if len(d.ctl.drains) == 0 {
		return
	}
	tab := d.table.Load()
	var done []drain
	for _, dr := range d.ctl.drains {
		r := d.tableReal(tab, dr.svc, dr.real)
		if r == nil {
			done = append(done, dr)
			continue
		}
		idle := r.Stats.ActiveConns() == 0 && r.Stats.InactiveConns() == 0 && r.Stats.PersistConns() == 0
		if idle || (!dr.deadline.IsZero() && now.After(dr.deadline)) {
			done = append(done, dr)
		}
	}
	for _, dr := range done {
		if err := d.deleteRealLocked(dr.svc, dr.real); err != nil && !strings.Contains(err.Error(), "no real server") &&
			!errors.Is(err, errNoService) {
			d.log.Warn("drain: removing the real server failed", "real", dr.real.String(), "err", err)
		} else {
			d.log.Info("drain finished; real server removed", "service", admin.FormatService(dr.svc), "real", dr.real.String())
		}
	}
}

func (d *Daemon) tableReal(tab *balancer.Table, k balancer.ServiceKey, ap netip.AddrPort) *balancer.RealServer {
	s := tab.ServiceByKey(k)
	if s == nil {
		return nil
	}
	want := ap.Port()
	if want == 0 {
		want = k.Port
	}
	for _, r := range s.Reals {
		if r.Addr == ap.Addr() && r.Port == want {
			return r
		}
	}
	return nil
}

// drainDeadline returns when a drain of r ends, or the zero time.
func (d *Daemon) drainDeadline(k balancer.ServiceKey, r *balancer.RealServer) (time.Time, bool) {
	for _, dr := range d.ctl.drains {
		if dr.svc == k && d.tableReal(d.table.Load(), k, dr.real) == r {
			return dr.deadline, true
		}
	}
	return time.Time{}, false
}
