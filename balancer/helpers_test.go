package balancer

import (
	"net/netip"
	"testing"
)

var testVIP = netip.MustParseAddr("192.0.2.1")

// realAddr returns the i-th test real server address.
func realAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// serviceConfig returns a TCP service on testVIP:80 with one NAT real server
// per weight, in order.
func serviceConfig(sched string, weights ...uint32) ServiceConfig {
	c := ServiceConfig{
		Key:       ServiceKey{Addr: testVIP, Port: 80, Proto: TCP},
		Scheduler: sched,
	}
	for i, w := range weights {
		c.Reals = append(c.Reals, RealConfig{Addr: realAddr(i + 1), Port: 8080, Weight: w})
	}
	return c
}

func mustTable(t testing.TB, prev *Table, cfgs ...ServiceConfig) *Table {
	t.Helper()
	tab, err := NewTable(prev, cfgs)
	if err != nil {
		t.Fatalf("NewTable: %v", err)
	}
	return tab
}

// newService builds a one-service table and returns its service.
func newService(t testing.TB, sched string, weights ...uint32) *Service {
	t.Helper()
	return mustTable(t, nil, serviceConfig(sched, weights...)).Services()[0]
}

// letters renders picks as A, B, C... by list position; '-' is nil.
func letters(svc *Service, n int) string {
	b := make([]byte, n)
	for i := range b {
		r := svc.Sched.Schedule(nil)
		if r == nil {
			b[i] = '-'
			continue
		}
		b[i] = 'A' + byte(r.index)
	}
	return string(b)
}

// setCounts puts a real server's counters in a given state through the
// public Bind/Unbind/Move path, so that scheduler trees see every change.
func setCounts(r *RealServer, active, inactive int32) {
	for r.Stats.ActiveConns() < active {
		r.Bind(ConnActive)
	}
	for r.Stats.ActiveConns() > active {
		r.Unbind(ConnActive)
	}
	for r.Stats.InactiveConns() < inactive {
		r.Bind(ConnInactive)
	}
	for r.Stats.InactiveConns() > inactive {
		r.Unbind(ConnInactive)
	}
}

// setOverloaded forces the overload flag, as a threshold crossing would, and
// notifies the scheduler tree.
func setOverloaded(r *RealServer, on bool) {
	r.Stats.overloaded.Store(on)
	r.Stats.changed()
}
