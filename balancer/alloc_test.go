package balancer

import (
	"net/netip"
	"testing"
)

var (
	sinkReal    *RealServer
	sinkService *Service
)

func TestNoAllocs(t *testing.T) {
	for _, sched := range SchedulerNames() {
		t.Run("Schedule/"+sched, func(t *testing.T) {
			svc := newService(t, sched, 3, 1, 0, 2)
			f := &Flow{Proto: TCP, Src: netip.MustParseAddr("198.51.100.1"), Dst: testVIP, SrcPort: 1234, DstPort: 80}
			if n := testing.AllocsPerRun(1000, func() { sinkReal = svc.Sched.Schedule(f) }); n != 0 {
				t.Errorf("Schedule allocates %v times per call", n)
			}
		})
	}
	tab := mustTable(t, nil, serviceConfig("wlc", 1, 2))
	r := tab.Services()[0].Reals[1]
	vip := testVIP.As4()
	tests := []struct {
		name string
		fn   func()
	}{
		{"LookupV4", func() { sinkService = tab.LookupV4(TCP, vip, 80) }},
		{"LookupV4 miss", func() { sinkService = tab.LookupV4(UDP, vip, 80) }},
		{"LookupV6", func() { sinkService = tab.LookupV6(TCP, [16]byte{0x20, 1}, 80) }},
		{"Real", func() { sinkReal = tab.Real(r.ID) }},
		{"Service", func() { sinkService = tab.Service(1) }},
		{"Bind+Unbind", func() { r.Bind(ConnActive); r.Unbind(ConnActive) }},
		{"Move", func() { r.Move(ConnInactive, ConnActive); r.Move(ConnActive, ConnInactive) }},
		{"CountIn+CountOut", func() { r.CountIn(1, 60); r.CountOut(1, 1500) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(1000, tt.fn); n != 0 {
				t.Errorf("%s allocates %v times per call", tt.name, n)
			}
		})
	}
}
