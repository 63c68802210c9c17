package bench

import (
	"context"
	"fmt"
	"runtime"
	"time"
)

// interleaveGap is the pause after every slice: the subject that was fed
// works through what its RX ring still holds (up to ~100 ms of frames with
// the default 8 MiB ring) before the other one's slice starts.
const interleaveGap = 150 * time.Millisecond

// runInterleaved measures every pair of interleavePairs(c.Subjects) side by
// side: A on Run's topology (a), B on a second copy of it built here, both
// subjects running at once on the subject CPU and the generator feeding
// one at a time. Host speed on a shared VM moves in steps that last seconds
// (docs/benchmarks.md); two slices a few hundred milliseconds apart nearly
// always see the same step, where two windows of Run are several seconds
// apart.
func runInterleaved(ctx context.Context, c Config, a *measurer, clk *clock, genCPU int) ([]PairResult, error) {
	pairs := interleavePairs(c.Subjects)
	if len(pairs) == 0 {
		return nil, nil
	}
	hb, closeTwin, err := newHarness(ctx, c, a.h.pinned, a.h.tcp)
	if err != nil {
		return nil, err
	}
	defer closeTwin()
	gb, err := newStreamGen(hb, c.Traffic, clk, genCPU)
	if err != nil {
		return nil, err
	}
	defer gb.conn.Close()
	b := &measurer{h: hb, c: c, g: gb}
	var out []PairResult
	for _, p := range pairs {
		r, err := interleavePair(ctx, c, a, b, p, genCPU)
		if err != nil {
			return nil, fmt.Errorf("bench: interleaved %s / %s: %w", p.A, p.B, err)
		}
		c.Logger.Info("interleaved", "pair", r.Name, "ratio", fmt.Sprintf("%.3f", r.Ratio),
			"a_kpps", int(r.MedianA/1e3), "b_kpps", int(r.MedianB/1e3))
		out = append(out, r)
	}
	return out, nil
}

// interleavePair runs p.A on a's topology and p.B on b's, both at once,
// and feeds them c.Rounds slices each in the order A B, B A, A B, ...
func interleavePair(ctx context.Context, c Config, a, b *measurer, p Pair, genCPU int) (PairResult, error) {
	r := PairResult{A: p.A, B: p.B, SliceSeconds: c.Interleave.Seconds()}
	subA, err := a.h.newSubject(p.A, 0)
	if err != nil {
		return r, err
	}
	subB, err := b.h.newSubject(p.B, 0)
	if err != nil {
		return r, err
	}
	for _, s := range []subject{subA, subB} {
		if err := s.start(); err != nil {
			return r, err
		}
		defer s.stop()
	}
	if err := a.warm(subA, p.A.IsULVS() && len(a.g.syns) > 0); err != nil {
		return r, err
	}
	if err := b.warm(subB, p.B.IsULVS() && len(b.g.syns) > 0); err != nil {
		return r, err
	}
	type side struct {
		m   *measurer
		sub subject
		pps *[]float64
	}
	sides := [2]side{{a, subA, &r.APPS}, {b, subB, &r.BPPS}}
	for round := range c.Rounds {
		order := sides
		if round%2 == 1 {
			order[0], order[1] = sides[1], sides[0]
		}
		for _, s := range order {
			if err := ctx.Err(); err != nil {
				return r, err
			}
			time.Sleep(interleaveGap)
			pps, err := s.m.slice(c.Interleave, genCPU)
			if err != nil {
				return r, err
			}
			if err := s.sub.alive(); err != nil {
				return r, err
			}
			*s.pps = append(*s.pps, pps)
		}
	}
	r.summarize()
	return r, nil
}

// slice feeds m's subject for d and returns its delivered rate over the
// middle half of that time, read from the real servers' ingress counters
// on the generator's CPU.
func (m *measurer) slice(d time.Duration, genCPU int) (float64, error) {
	type reading struct {
		at time.Time
		n  uint64
	}
	type result struct {
		r   [2]reading
		err error
	}
	done := make(chan result, 1)
	go func() {
		// Never unlocked: the thread ends with the goroutine, so its
		// affinity does not leak into the runtime's thread pool.
		runtime.LockOSThread()
		var res result
		if genCPU >= 0 {
			if _, err := pinThread(genCPU); err != nil {
				res.err = err
				done <- res
				return
			}
		}
		start := time.Now()
		for i, at := range []time.Duration{d / 4, 3 * d / 4} {
			time.Sleep(time.Until(start.Add(at)))
			t0 := time.Now()
			n, err := m.ingress()
			if err != nil {
				res.err = err
				break
			}
			res.r[i] = reading{at: t0.Add(time.Since(t0) / 2), n: n}
		}
		done <- res
	}()
	_, genErr := m.g.run(d, m.c.Pace, 0, m.c.MaxFrames)
	res := <-done
	if genErr != nil {
		return 0, genErr
	}
	if res.err != nil {
		return 0, res.err
	}
	secs := res.r[1].at.Sub(res.r[0].at).Seconds()
	if secs <= 0 {
		return 0, fmt.Errorf("bench: slice of %v too short to sample", d)
	}
	return float64(res.r[1].n-res.r[0].n) / secs, nil
}

// ingress sums the packets the real servers' interfaces received.
func (m *measurer) ingress() (uint64, error) {
	var sum uint64
	for _, r := range m.h.lvs.Reals {
		s, err := readLinkStats(r.NS, r.Dev.Name)
		if err != nil {
			return 0, err
		}
		sum += s.rxPackets
	}
	return sum, nil
}
