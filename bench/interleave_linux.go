package bench

import (
	"context"
	"fmt"
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
		r, err := interleavePair(ctx, c, a, b, p)
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
func interleavePair(ctx context.Context, c Config, a, b *measurer, p Pair) (PairResult, error) {
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
			pps, err := s.m.slice(c.Interleave)
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
// middle of that time, read from the real servers' ingress counters. The
// generator takes both readings on its own thread, the first at d/4 and
// the second d/2 after the first, and sends until it has taken them: the
// window always lies inside the slice's traffic and spans at least d/2 of
// it, however late a loaded box schedules the generator. The slice then
// lasts longer than d, which only the pause before the next one absorbs.
func (m *measurer) slice(d time.Duration) (float64, error) {
	type reading struct {
		at time.Time
		n  uint64
	}
	var r [2]reading
	taken := 0
	read := func() (reading, error) {
		t0 := time.Now()
		n, err := m.ingress()
		return reading{at: t0.Add(time.Since(t0) / 2), n: n}, err
	}
	m.g.probe = &genProbe{next: d / 4, take: func(el time.Duration) (time.Duration, bool, error) {
		var err error
		if r[taken], err = read(); err != nil {
			return 0, true, err
		}
		taken++
		return el + d/2, taken == len(r), nil
	}}
	_, err := m.g.run(d, m.c.Pace, 0, m.c.MaxFrames)
	m.g.probe = nil
	if err != nil {
		return 0, err
	}
	if taken < len(r) {
		return 0, fmt.Errorf("bench: the generator sent Config.MaxFrames before the end of a %v slice; raise MaxFrames", d)
	}
	secs := r[1].at.Sub(r[0].at).Seconds()
	if secs <= 0 {
		return 0, fmt.Errorf("bench: slice of %v too short to sample", d)
	}
	return float64(r[1].n-r[0].n) / secs, nil
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
