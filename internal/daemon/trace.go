package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/forward"
	"github.com/ulvs/ulvs/internal/admin"
)

// traceDrainInterval is how often a trace's rings are drained; with the
// default 64 slots a worker can keep 3200 samples/s between drains.
const traceDrainInterval = 20 * time.Millisecond

// Trace serves `ulvs trace`: it arms a trace on the packet loop, streams
// its samples with the decision's names, and disarms it when ctx ends,
// the request's count or duration is reached or emit fails.
func (c control) Trace(ctx context.Context, req admin.TraceRequest, emit func(admin.TraceEvent) error) error {
	d := c.Daemon
	d.running.Lock()
	loop := d.running.loop
	d.running.Unlock()
	if loop == nil {
		return errors.New("the data plane is not running yet; try again in a moment")
	}
	cfg, err := d.traceConfig(req)
	if err != nil {
		return err
	}
	tr, err := loop.StartTrace(cfg)
	if err != nil {
		return err
	}
	defer tr.Stop()
	d.log.Info("trace attached", "service", req.Service, "client", req.Client, "real", req.Real, "drop", req.Drop)
	defer d.log.Info("trace detached")

	stats := func() error {
		s := tr.Stats()
		return emit(admin.TraceEvent{Stats: &admin.TraceStats{Sampled: s.Sampled, RingFull: s.RingFull, RateLimited: s.RateLimited}})
	}
	if err := stats(); err != nil {
		return nil
	}
	var end <-chan time.Time
	if req.Duration > 0 {
		t := time.NewTimer(req.Duration)
		defer t.Stop()
		end = t.C
	}
	tick := time.NewTicker(traceDrainInterval)
	defer tick.Stop()
	lastStats := time.Now()
	sent := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-end:
			stats()
			return nil
		case now := <-tick.C:
			tab := d.table.Load()
			var failed error
			tr.Drain(func(s *forward.TraceSample) {
				if failed != nil || (req.Count > 0 && sent >= req.Count) {
					return
				}
				rec := traceRecord(tab, s)
				failed = emit(admin.TraceEvent{Record: &rec})
				sent++
			})
			if failed != nil {
				return nil // the client left
			}
			if req.Count > 0 && sent >= req.Count {
				stats()
				return nil
			}
			if now.Sub(lastStats) >= time.Second {
				lastStats = now
				if stats() != nil {
					return nil
				}
			}
		}
	}
}

// traceConfig turns a request into the data plane's filter.
func (d *Daemon) traceConfig(req admin.TraceRequest) (forward.TraceConfig, error) {
	cfg := forward.TraceConfig{Rate: req.Rate, Snap: req.Snap}
	f := &cfg.Filter
	var svc *balancer.ServiceKey
	if req.Service != "" {
		k, err := admin.ParseService(req.Service)
		if err != nil {
			return cfg, err
		}
		f.Service, svc = k, &k
	}
	if s := req.Client; s != "" {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return cfg, fmt.Errorf("client %q: write an address or a prefix, e.g. 10.0.1.10 or 10.0.1.0/24", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		f.Client = p
	}
	if req.Real != "" {
		ap, err := admin.ParseReal(req.Real)
		if err != nil {
			return cfg, err
		}
		for _, s := range d.table.Load().Services() {
			if svc != nil && (s.Key.Addr != svc.Addr || s.Key.Proto != svc.Proto || (svc.Port != 0 && s.Key.Port != svc.Port)) {
				continue
			}
			for _, r := range s.Reals {
				if r.Addr.Unmap() == ap.Addr() && (ap.Port() == 0 || r.Port == ap.Port()) {
					f.Reals = append(f.Reals, r.ID)
				}
			}
		}
		if len(f.Reals) == 0 {
			return cfg, fmt.Errorf("real server %s: no service has it (ulvs list shows the real servers)", req.Real)
		}
	}
	switch req.Drop {
	case "":
	case "any":
		f.Outcome = forward.TraceDropped
	case "none":
		f.Outcome = forward.TraceForwarded
	default:
		r, err := forward.ParseTraceReason(req.Drop)
		if err != nil {
			return cfg, fmt.Errorf("%v; or any (every drop), none (forwarded frames only)", err)
		}
		f.Reason = r
	}
	return cfg, nil
}

// traceRecord names a sample's decision from the table.
func traceRecord(tab *balancer.Table, s *forward.TraceSample) admin.TraceRecord {
	side := func(client bool) string {
		if client {
			return admin.SideClient
		}
		return admin.SideReals
	}
	rec := admin.TraceRecord{Seq: s.Seq, Time: s.Time, Worker: s.Worker, Side: side(s.FromClient),
		Before: s.Before, BeforeLen: s.BeforeLen, BeforeRewritten: s.BeforeRewritten}
	if s.Drop != 0 {
		rec.Drop = s.Drop.String()
	}
	if len(s.After) > 0 {
		rec.After, rec.AfterLen, rec.AfterSide, rec.Generated = s.After, s.AfterLen, side(s.ToClient), s.Generated
	}
	if s.HasService {
		if svc := tab.LookupV4(s.Proto, s.VIP, s.VPort); svc != nil {
			rec.Service, rec.Scheduler = admin.FormatService(svc.Key), svc.Scheduler
		} else {
			rec.Service = strings.ToLower(s.Proto.String()) + ":" + netip.AddrPortFrom(netip.AddrFrom4(s.VIP), s.VPort).String()
		}
	}
	if r := tab.Real(s.Real); r != nil {
		port := r.Port
		if port == 0 {
			port = s.VPort
		}
		rec.Real, rec.Method = netip.AddrPortFrom(r.Addr, port).String(), r.Method.String()
	}
	return rec
}
