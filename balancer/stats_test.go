package balancer

import (
	"sync"
	"testing"
)

func TestTrafficShards(t *testing.T) {
	r := newService(t, "rr", 1).Reals[0]
	var wg sync.WaitGroup
	const workers, per = 8, 1000
	for w := range workers {
		wg.Go(func() {
			for range per {
				r.CountIn(w, 10)
				r.CountOut(w+StatShards(), 3) // wraps onto another worker's shard: still exact
			}
		})
	}
	wg.Wait()
	want := TrafficTotals{InPkts: workers * per, OutPkts: workers * per, InBytes: workers * per * 10, OutBytes: workers * per * 3}
	if got := r.Stats.Totals(); got != want {
		t.Errorf("real totals %+v, want %+v", got, want)
	}
	if got := r.svcStats.Totals(); got != want {
		t.Errorf("service totals %+v, want %+v", got, want)
	}
	if StatShards()&(StatShards()-1) != 0 {
		t.Errorf("StatShards %d is not a power of two", StatShards())
	}
}

func TestBindCounts(t *testing.T) {
	svc := newService(t, "rr", 1)
	r := svc.Reals[0]
	r.Bind(ConnActive)
	r.Bind(ConnTemplate)
	r.Move(ConnActive, ConnInactive)
	if s := r.Stats; s.ActiveConns() != 0 || s.InactiveConns() != 1 || s.PersistConns() != 1 || s.Conns() != 1 {
		t.Errorf("counts a=%d i=%d p=%d c=%d, want 0 1 1 1", s.ActiveConns(), s.InactiveConns(), s.PersistConns(), s.Conns())
	}
	if svc.Stats.Conns() != 1 {
		t.Errorf("service conns %d, want 1 (templates do not count)", svc.Stats.Conns())
	}
	if r.Stats.Overhead() != 1 {
		t.Errorf("overhead %d, want 1", r.Stats.Overhead())
	}
}
