package daemon

import (
	"github.com/ulvs/ulvs/internal/admin"
	"github.com/ulvs/ulvs/internal/status"
)

// control is the Director as admin.Control sees it.
type control struct{ *Director }

func (c control) Conns(limit int) []status.Conn { return c.ConnList(limit) }

// adminSocket is the admin socket path in effect, "" when off.
func (d *Director) adminSocket() string {
	p := firstNonEmpty(d.opts.AdminSocket, d.cfg.ULVS.AdminSocket)
	if p == "none" {
		return ""
	}
	return p
}

// startServers starts the admin socket and the metrics listener, and
// returns what stops them.
func (d *Director) startServers() (stop func(), err error) {
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
	return stop, nil
}
