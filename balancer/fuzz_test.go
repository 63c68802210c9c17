package balancer

import "testing"

// FuzzWeights builds services from fuzzed weights and checks, for every
// scheduler, that no weight-0 server is ever picked, and for the rotations
// that one period gives every server exactly its share: rr one pick each,
// wrr and swrr weight/gcd picks each.
// flowHashed are the schedulers whose pick depends on the flow, so that a
// weight-0 server hashed to means no pick.
var flowHashed = map[string]bool{"sh": true, "mh": true, "dh": true, "lblc": true, "lblcr": true}

func FuzzWeights(f *testing.F) {
	f.Add([]byte{4, 3, 2}, false)
	f.Add([]byte{5, 1, 1}, true)
	f.Add([]byte{0, 0, 7, 0}, false)
	f.Add([]byte{}, false)
	f.Add([]byte{255, 255, 254, 1, 0, 128, 64, 2, 3, 5, 7, 11, 13, 17, 19, 23}, true)
	f.Fuzz(func(t *testing.T, raw []byte, wide bool) {
		if len(raw) > 16 {
			raw = raw[:16]
		}
		weights := make([]uint32, len(raw))
		var g, sum uint32
		for i, b := range raw {
			weights[i] = uint32(b)
			if wide {
				weights[i] *= 257 // up to 65535; periods stay the same
			}
			if weights[i] > 0 {
				g = gcd(g, weights[i])
			}
		}
		for _, w := range weights {
			if g > 0 {
				sum += w / g
			}
		}
		for _, sched := range SchedulerNames() {
			if flowHashed[sched] {
				continue // they read the flow; FuzzHashSchedulers covers them
			}
			svc := newService(t, sched, weights...)
			picks := int(sum)
			if picks < 20 {
				picks = 20
			}
			counts := make([]uint32, len(weights))
			for range picks {
				r := svc.Sched.Schedule(nil)
				if r == nil {
					if g != 0 {
						t.Fatalf("%s%v: no pick although some weight is positive", sched, weights)
					}
					continue
				}
				if r.Weight == 0 {
					t.Fatalf("%s%v picked a weight-0 server", sched, weights)
				}
				counts[r.index]++
			}
			if g == 0 || (sched != "wrr" && sched != "swrr") {
				continue
			}
			// Rerun exactly one period on a fresh service.
			svc = newService(t, sched, weights...)
			clear(counts)
			for range sum {
				counts[svc.Sched.Schedule(nil).index]++
			}
			for i, w := range weights {
				if counts[i] != w/g {
					t.Fatalf("%s%v: server %d got %d of %d picks, want %d", sched, weights, i, counts[i], sum, w/g)
				}
			}
		}
	})
}
