package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"
)

// RunSweep measures every subject at every offered rate on one topology,
// each packet verified and timed as in Run: for every rate (lowest first),
// every subject gets c.Runs windows at that pace. c.Pace, c.CountOnly and
// c.Interleave do not apply: a latency needs sinks that read the frames.
func RunSweep(ctx context.Context, c Config, rates []Pace) (*SweepReport, error) {
	c = c.withDefaults()
	if len(rates) == 0 {
		return nil, errors.New("bench: the latency sweep needs at least one rate, e.g. 1k,10k,100k,max")
	}
	if c.CountOnly {
		return nil, errors.New("bench: the latency sweep times every packet at the real servers; drop --count-only")
	}
	if c.Interleave > 0 {
		return nil, errors.New("bench: --interleave compares throughput; run it without --latency-sweep")
	}
	for _, p := range rates {
		if p.Mode == PaceRecorded {
			return nil, errors.New("bench: a latency sweep runs at fixed rates or max, not at a capture's recorded pace")
		}
	}
	c.Pace = rates[0]
	pinned, err := c.check()
	if err != nil {
		return nil, err
	}
	rep := &SweepReport{Started: time.Now(), Host: hostInfo(), Notes: []string{queueingNote}, Warnings: []string{}}
	rep.Host.CPUs, rep.Host.Go = runtime.NumCPU(), runtime.Version()
	rep.Setup = c.setup(pinned)
	rep.Setup.Pace = "latency sweep"
	for _, p := range rates {
		rep.Rates = append(rep.Rates, rateName(p))
	}
	m, _, _, closeRun, err := openMeasurer(ctx, c, pinned)
	if err != nil {
		return nil, err
	}
	defer closeRun()

	rep.Results = make([]SweepResult, len(c.Subjects))
	for i, s := range c.Subjects {
		rep.Results[i] = SweepResult{Subject: s, Description: s.Describe()}
	}
	m.of = len(rates) * len(c.Subjects) * c.Runs
	for _, rate := range rates {
		m.c.Pace = rate
		for i, s := range c.Subjects {
			res := SubjectResult{Subject: s}
			for run := 1; run <= c.Runs; run++ {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				m.index++
				w, err := m.measure(s, run)
				if err != nil {
					return nil, fmt.Errorf("bench: %s at %s run %d: %w", s, rateName(rate), run, err)
				}
				c.Logger.Info("sweep window", "subject", s, "rate", rateName(rate), "run", run,
					"p50_us", w.LatencyP50, "p99_us", w.LatencyP99, "verified", w.Verified)
				res.Windows = append(res.Windows, w)
			}
			p := sweepPoint(rate, &res)
			if p.SinkDrops > 0 {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s at %s: the sinks missed %d delivered packets; the latency is of those they read", s, p.Rate, p.SinkDrops))
			}
			if p.Failed > 0 {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s at %s: %d packets failed verification", s, p.Rate, p.Failed))
			}
			rep.Results[i].Points = append(rep.Results[i].Points, p)
		}
	}
	rep.computeRatios()
	rep.Elapsed = time.Since(rep.Started).Round(time.Millisecond).String()
	return rep, nil
}
