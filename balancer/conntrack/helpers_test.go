package conntrack

import (
	"testing"

	"github.com/ulvs/ulvs/balancer"
)

func mustTable(t testing.TB, prev *balancer.Table, cfgs ...balancer.ServiceConfig) *balancer.Table {
	t.Helper()
	tab, err := balancer.NewTable(prev, cfgs)
	if err != nil {
		t.Fatalf("NewTable: %v", err)
	}
	return tab
}
