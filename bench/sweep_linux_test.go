package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ulvs/ulvs/internal/netns"
)

// TestRunSweepShort runs a three-rate latency sweep (idle, 2k, max) of a ulvs mode, the null
// forwarder and kernel DNAT for a fraction of a second per point and checks
// that every subject delivered and timed traffic at every rate, that the
// max point is marked as queueing and that the table, JSON and plot carry
// every subject. No timing is asserted.
func TestRunSweepShort(t *testing.T) {
	if !netns.IsRoot() {
		t.Skip("bench: skipping, the latency sweep builds network namespaces and needs root")
	}
	if testing.Short() {
		t.Skip("bench: skipping the namespace latency sweep in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rates, err := ParseRates("idle,2k,max")
	if err != nil {
		t.Fatal(err)
	}
	subjects := []Subject{ULVSNAT, Null, KernelDNAT}
	rep, err := RunSweep(ctx, Config{Binary: ulvsBinary, Traffic: figuresTraffic(t, 100), Duration: 300 * time.Millisecond,
		Warmup: 100 * time.Millisecond, Reals: 2, Subjects: subjects}, rates)
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
	if len(rep.Results) != len(subjects) || strings.Join(rep.Rates, ",") != "idle,2k,max" {
		t.Fatalf("%d results at rates %v; want %d at idle,2k,max", len(rep.Results), rep.Rates, len(subjects))
	}
	for _, res := range rep.Results {
		if len(res.Points) != 3 {
			t.Errorf("%s: %d points, want 3", res.Subject, len(res.Points))
			continue
		}
		// Idle: the one packet of the window reached a real server.
		if p := res.Points[0]; p.Rate != "idle" || p.Sent != 1 || p.Verified != 1 || p.Queueing {
			t.Errorf("%s idle: rate %q, sent %d, verified %d, queueing %v; want one packet sent and verified", res.Subject, p.Rate, p.Sent, p.Verified, p.Queueing)
		}
		for _, p := range res.Points[1:] {
			if p.Sent == 0 || p.Delivered == 0 || p.Verified == 0 || p.Samples == 0 || p.Failed != 0 {
				t.Errorf("%s at %s: sent %d, delivered %d, verified %d, failed %d: no verified traffic", res.Subject, p.Rate, p.Sent, p.Delivered, p.Verified, p.Failed)
			}
			if p.LatencyP50 <= 0 || p.LatencyP99 < p.LatencyP50 || p.LatencyP999 < p.LatencyP99 {
				t.Errorf("%s at %s: latency p50 %v p99 %v p99.9 %v", res.Subject, p.Rate, p.LatencyP50, p.LatencyP99, p.LatencyP999)
			}
			if len(p.Windows) != 1 {
				t.Errorf("%s at %s: %d windows, want 1", res.Subject, p.Rate, len(p.Windows))
			}
		}
		if lo, hi := res.Points[1], res.Points[2]; lo.TargetPPS != 2000 || hi.TargetPPS != 0 || !hi.Queueing {
			t.Errorf("%s: target %v then %v, max queueing %v; want 2000, 0 and queueing", res.Subject, lo.TargetPPS, hi.TargetPPS, hi.Queueing)
		}
		if attributable := res.Subject != KernelDNAT; attributable && res.Points[1].SubjectCPUPct <= 0 {
			t.Errorf("%s: no CPU share measured at 2k", res.Subject)
		}
	}
	if len(rep.Ratios) != 3 {
		t.Errorf("ratios %+v; want ulvs-nat / kernel-dnat at every rate", rep.Ratios)
	}
	var svg bytes.Buffer
	if err := rep.WriteSVG(&svg); err != nil {
		t.Fatal(err)
	}
	for _, s := range subjects {
		if !strings.Contains(svg.String(), ">"+string(s)+"</text>") {
			t.Errorf("the plot has no legend entry for %s", s)
		}
	}
}
