package status

// EstimatorInterval is how often Estimator.Sample must be called: IPVS's
// estimator runs every two seconds.
const EstimatorInterval = 2 // seconds

// Estimator turns cumulative counters into rates the way IPVS's
// ip_vs_est.c does: every 2 s it takes the difference since the previous
// sample and folds it into an exponentially weighted moving average with
// weight 1/4. Connection and packet rates are kept in fixed point scaled by
// 2^10, byte rates by 2^5, and rounded the same way when read, so a steady
// load reads exactly as ipvsadm --rate would show it. The zero value is
// ready; the first Sample only records the starting point.
type Estimator struct {
	primed             bool
	last               Stats
	cps, inpps, outpps int64 // scaled by 2^10
	inbps, outbps      int64 // scaled by 2^5
}

// Sample folds the counters' growth over the last EstimatorInterval into
// the averages.
func (e *Estimator) Sample(s Stats) {
	if !e.primed {
		e.primed, e.last = true, s
		return
	}
	// delta/2s scaled by 2^10 is delta<<9; scaled by 2^5 it is delta<<4.
	ewma := func(avg *int64, cur, last uint64, shift uint) {
		rate := int64((cur - last) << shift)
		*avg += (rate - *avg) >> 2
	}
	ewma(&e.cps, s.Conns, e.last.Conns, 9)
	ewma(&e.inpps, s.InPkts, e.last.InPkts, 9)
	ewma(&e.outpps, s.OutPkts, e.last.OutPkts, 9)
	ewma(&e.inbps, s.InBytes, e.last.InBytes, 4)
	ewma(&e.outbps, s.OutBytes, e.last.OutBytes, 4)
	e.last = s
}

// Rate returns the current estimates per second.
func (e *Estimator) Rate() Rate {
	rd := func(v int64, half int64, shift uint) uint64 {
		if v <= 0 {
			return 0
		}
		return uint64((v + half) >> shift)
	}
	return Rate{
		CPS:    rd(e.cps, 0x1ff, 10),
		InPPS:  rd(e.inpps, 0x1ff, 10),
		OutPPS: rd(e.outpps, 0x1ff, 10),
		InBPS:  rd(e.inbps, 0xf, 5),
		OutBPS: rd(e.outbps, 0xf, 5),
	}
}

// Reset forgets the averages and restarts from s, as zeroing counters
// does in IPVS.
func (e *Estimator) Reset(s Stats) { *e = Estimator{primed: true, last: s} }
