package daemon

import (
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/ulvs/ulvs/forward"
	"github.com/ulvs/ulvs/internal/admin"
	"github.com/ulvs/ulvs/internal/metrics"
	"github.com/ulvs/ulvs/internal/status"
)

// Version is reported by ulvs_build_info; cmd/ulvs sets it.
var Version = "dev"

// control is the Daemon as admin.Control sees it.
type control struct{ *Daemon }

func (c control) Conns(limit int) []status.Conn { return c.ConnList(limit) }

// adminSocket is the admin socket path in effect, "" when off.
func (d *Daemon) adminSocket() string {
	p := firstNonEmpty(d.opts.AdminSocket, d.cfg.ULVS.AdminSocket)
	if p == "none" {
		return ""
	}
	return p
}

// startServers starts the admin socket and the metrics listener, and
// returns what stops them.
func (d *Daemon) startServers() (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if p := d.adminSocket(); p != "" {
		// Forwarding matters more than the API: without the socket ulvs
		// runs on, and says how to get it back.
		if srv, err := admin.Listen(p, control{d}, d.log); err != nil {
			d.log.Error("admin API off", "err", err)
		} else {
			stops = append(stops, func() { srv.Close() })
			d.log.Info("admin API listening", "socket", p)
		}
	}
	if addr := d.metricsListen(); addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			d.log.Error("metrics listener off", "listen", addr, "err", err)
		} else {
			mux := http.NewServeMux()
			mux.Handle("/metrics", metrics.Handler(metrics.New(metricsSource{d}), Version))
			srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					d.log.Error("metrics listener stopped", "err", err)
				}
			}()
			stops = append(stops, func() { srv.Close() })
			d.log.Info("metrics listening", "addr", ln.Addr().String())
		}
	}
	return stop, nil
}

func (d *Daemon) metricsListen() string {
	a := firstNonEmpty(d.opts.MetricsListen, d.cfg.ULVS.MetricsListen)
	if a == "none" {
		return ""
	}
	return a
}

// metricsSource is the Daemon as the metrics collector reads it.
type metricsSource struct{ d *Daemon }

func (m metricsSource) Counters() (*status.Snapshot, status.Stats) {
	m.d.ctl.Lock()
	defer m.d.ctl.Unlock()
	return m.d.snapshot(true), m.d.ctl.retired
}

func (m metricsSource) Loop() forward.LoopStats { return m.d.Stats() }

func (m metricsSource) Neighbours() map[string]metrics.NeighbourState {
	out := map[string]metrics.NeighbourState{}
	for _, p := range []*forward.Port{m.d.client, m.d.reals} {
		if p == nil || p.Neigh == nil {
			continue
		}
		if _, done := out[p.Name]; done {
			continue
		}
		st := metrics.NeighbourState{Stats: p.Neigh.Stats(), ByState: map[string]int{}}
		for _, n := range p.Neigh.Neighbors() {
			st.ByState[n.State]++
		}
		out[p.Name] = st
	}
	return out
}

// AlertMails counts the smtp_alert mails (metrics.AlertSource).
func (m metricsSource) AlertMails() (sent, failed, dropped uint64) {
	a := m.d.alerts
	if a == nil {
		return 0, 0, 0
	}
	return a.Sent.Load(), a.Failed.Load(), a.Dropped.Load()
}

func (m metricsSource) Reloads() metrics.Reloads {
	r := m.d.ReloadStats()
	return metrics.Reloads{OK: r.OK, Failed: r.Failed, LastOK: r.LastOK, LastFailed: r.LastFailure.After(r.LastOK)}
}
