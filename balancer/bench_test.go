package balancer

import (
	"fmt"
	"testing"
)

// BenchmarkSchedule measures picking a real server for a new connection,
// with the connection then bound and later unbound as a connection table
// would (so lc-family trees see the updates they would in production).
func BenchmarkSchedule(b *testing.B) {
	for _, sched := range []string{"rr", "wrr", "swrr", "wlc", "lc", "sed", "nq", "fo", "ovf", "twos"} {
		for _, n := range []int{10, 1000} {
			b.Run(fmt.Sprintf("%s/reals=%d", sched, n), func(b *testing.B) {
				weights := make([]uint32, n)
				for i := range weights {
					weights[i] = uint32(1 + i%5)
				}
				svc := newService(b, sched, weights...)
				// A standing load so that comparisons are not all ties.
				for i, r := range svc.Reals {
					setCounts(r, int32(i%7), int32(i%13))
				}
				var ring [64]*RealServer
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					r := svc.Sched.Schedule(nil)
					if r != nil { // ovf runs out once every server holds its weight
						r.Bind(ConnActive)
					}
					if old := ring[i&63]; old != nil {
						old.Unbind(ConnActive)
					}
					ring[i&63] = r
				}
			})
		}
	}
}

// BenchmarkScheduleOnly measures Schedule alone, counters fixed.
func BenchmarkScheduleOnly(b *testing.B) {
	for _, sched := range []string{"rr", "wrr", "wlc"} {
		for _, n := range []int{10, 1000} {
			b.Run(fmt.Sprintf("%s/reals=%d", sched, n), func(b *testing.B) {
				weights := make([]uint32, n)
				for i := range weights {
					weights[i] = uint32(1 + i%5)
				}
				svc := newService(b, sched, weights...)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					sinkReal = svc.Sched.Schedule(nil)
				}
			})
		}
	}
}

// BenchmarkScheduleParallel measures contention on the shared rotation or
// tree when every worker schedules at once.
func BenchmarkScheduleParallel(b *testing.B) {
	for _, sched := range []string{"rr", "wrr", "wlc"} {
		b.Run(sched+"/reals=1000", func(b *testing.B) {
			weights := make([]uint32, 1000)
			for i := range weights {
				weights[i] = uint32(1 + i%5)
			}
			svc := newService(b, sched, weights...)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := svc.Sched.Schedule(nil)
					r.Bind(ConnActive)
					r.Unbind(ConnActive)
				}
			})
		})
	}
}

func BenchmarkLookupV4(b *testing.B) {
	for _, nsvc := range []int{1, 1000} {
		b.Run(fmt.Sprintf("services=%d", nsvc), func(b *testing.B) {
			cfgs := make([]ServiceConfig, nsvc)
			for i := range cfgs {
				cfgs[i] = serviceConfig("rr", 1)
				cfgs[i].Key.Port = uint16(1000 + i)
			}
			tab := mustTable(b, nil, cfgs...)
			vip := testVIP.As4()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				sinkService = tab.LookupV4(TCP, vip, uint16(1000+i%nsvc))
			}
		})
	}
}

func BenchmarkReal(b *testing.B) {
	tab := mustTable(b, nil, serviceConfig("rr", make([]uint32, 1000)...))
	ids := make([]RealID, 0, 1000)
	for _, r := range tab.Services()[0].Reals {
		ids = append(ids, r.ID)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sinkReal = tab.Real(ids[i%len(ids)])
	}
}

func BenchmarkCountIn(b *testing.B) {
	r := newService(b, "rr", 1).Reals[0]
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r.CountIn(0, 1500)
	}
}

func BenchmarkTreeVsScan(b *testing.B) {
	defer func(old int) { treeMinReals = old }(treeMinReals)
	for _, n := range []int{4, 10, 16, 32} {
		for _, min := range []int{1, 1 << 30} {
			treeMinReals = min
			name := "tree"
			if min > 1 {
				name = "scan"
			}
			b.Run(fmt.Sprintf("wlc/reals=%d/%s", n, name), func(b *testing.B) {
				weights := make([]uint32, n)
				for i := range weights {
					weights[i] = uint32(1 + i%5)
				}
				svc := newService(b, "wlc", weights...)
				for i, r := range svc.Reals {
					setCounts(r, int32(i%7), int32(i%13))
				}
				var ring [64]*RealServer
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					r := svc.Sched.Schedule(nil)
					r.Bind(ConnActive)
					if old := ring[i&63]; old != nil {
						old.Unbind(ConnActive)
					}
					ring[i&63] = r
				}
			})
		}
	}
}
