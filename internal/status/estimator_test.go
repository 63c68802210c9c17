package status

import "testing"

func TestEstimator(t *testing.T) {
	var e Estimator
	var s Stats
	e.Sample(s)
	if r := e.Rate(); r != (Rate{}) {
		t.Fatalf("first sample gave %+v, want zero rates", r)
	}
	// A steady 500 conn/s, 10000 pkt/s in, 8000 out, 1.5 MB/s in, 12 MB/s out.
	step := func() {
		s.Conns += 1000
		s.InPkts += 20000
		s.OutPkts += 16000
		s.InBytes += 3_000_000
		s.OutBytes += 24_000_000
		e.Sample(s)
	}
	step()
	// One sample moves the average a quarter of the way, as ip_vs_est.c.
	if r := e.Rate(); r.CPS != 125 || r.InPPS != 2500 || r.InBPS != 375_000 {
		t.Errorf("after one sample: %+v, want cps 125, inpps 2500, inbps 375000", r)
	}
	for range 60 {
		step()
	}
	want := Rate{CPS: 500, InPPS: 10000, OutPPS: 8000, InBPS: 1_500_000, OutBPS: 12_000_000}
	if r := e.Rate(); r != want {
		t.Errorf("steady state %+v, want %+v", r, want)
	}
	// Load stops: the estimate decays towards zero, never below.
	for range 100 {
		e.Sample(s)
	}
	if r := e.Rate(); r != (Rate{}) {
		t.Errorf("after the load stopped: %+v, want zero", r)
	}
	e.Reset(s)
	if r := e.Rate(); r != (Rate{}) {
		t.Errorf("after reset: %+v", r)
	}
}
