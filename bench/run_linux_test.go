package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ulvs/ulvs/internal/netns"
)

// TestRunEndToEnd replays the project's capture through every subject for
// a short window each and checks that every delivered packet was verified,
// nothing was lost, duplicated or sent to a second real server, and that
// the JSON report has every field.
func TestRunEndToEnd(t *testing.T) {
	if !netns.IsRoot() {
		t.Skip("bench: skipping, ulvs bench builds network namespaces and needs root")
	}
	if testing.Short() {
		t.Skip("bench: skipping the namespace bench run in -short mode")
	}
	tr, err := LoadPcap(testCapture)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var progress int
	rep, err := Run(ctx, Config{Binary: ulvsBinary, Traffic: tr, Pace: Pace{Mode: PaceRecorded, Speed: 10},
		Duration: 500 * time.Millisecond, Warmup: 150 * time.Millisecond, Reals: 2, Progress: func(Progress) { progress++ }})
	if err != nil {
		t.Fatal(err)
	}
	logTable(t, rep)
	if len(rep.Results) != len(AllSubjects()) {
		t.Fatalf("%d results, want %d", len(rep.Results), len(AllSubjects()))
	}
	if progress == 0 {
		t.Error("no progress reports")
	}
	for _, r := range rep.Results {
		if r.Sent == 0 || r.Verified == 0 {
			t.Errorf("%s: sent %d, verified %d", r.Subject, r.Sent, r.Verified)
		}
		if r.Verified != r.Received || sumFailures(r.Failures) != 0 || r.SinkDrops != 0 {
			t.Errorf("%s: received %d, verified %d, failures %v, sink drops %d: not every packet verified", r.Subject, r.Received, r.Verified, r.Failures, r.SinkDrops)
		}
		if r.Lost != 0 || r.Duplicates != 0 || r.WrongReal != 0 || r.Reordered != 0 {
			t.Errorf("%s: lost %d, duplicates %d, wrong real %d, reordered %d", r.Subject, r.Lost, r.Duplicates, r.WrongReal, r.Reordered)
		}
		if r.LatencyP50 <= 0 || r.LatencyP99 < r.LatencyP50 || r.LatencyP999 < r.LatencyP99 {
			t.Errorf("%s: latency p50 %v p99 %v p99.9 %v", r.Subject, r.LatencyP50, r.LatencyP99, r.LatencyP999)
		}
		if r.Subject.IsULVS() && (r.PeakMemoryBytes < 1<<20 || r.SubjectNsPerPkt <= 0) {
			t.Errorf("%s: peak memory %d, ns/pkt %v", r.Subject, r.PeakMemoryBytes, r.SubjectNsPerPkt)
		}
		// 48 packets per 72.5 ms pass, x10, for half a second: ~3300.
		if w := r.Windows[0]; w.TargetPPS < 6000 || w.TargetPPS > 7000 || w.Sent < 2500 || w.Sent > 4000 {
			t.Errorf("%s: target %.0f pps, sent %d; want ~6600 pps and ~3300 packets", r.Subject, w.TargetPPS, w.Sent)
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"started", "elapsed", "host", "setup", "results", "ratios", "warnings"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	res := doc["results"].([]any)[0].(map[string]any)
	for _, k := range []string{"subject", "description", "rewrite_checked", "flow_consistency_checked", "windows", "delivered_pps", "offered_pps",
		"target_pps", "sent", "delivered", "received", "verified", "failures", "sink_drops", "lost", "duplicates", "reordered", "wrong_real",
		"latency_p50_us", "latency_p99_us", "latency_p999_us", "subject_ns_per_pkt", "peak_memory_bytes", "limit"} {
		if _, ok := res[k]; !ok {
			t.Errorf("JSON result lacks %q", k)
		}
	}
	win := res["windows"].([]any)[0].(map[string]any)
	for _, k := range []string{"run", "seconds", "sent", "offered", "offered_pps", "target_pps", "delivered", "delivered_pps", "received",
		"verified", "failures", "sink_drops", "lost", "duplicates", "reordered", "wrong_real", "stale", "latency_p50_us", "latency_p99_us",
		"latency_p999_us", "subject_cpu_seconds", "subject_ns_per_pkt", "gen_ns_per_pkt", "peak_memory_bytes", "cpu_busy_pct",
		"cpu_softirq_pct", "limit", "counters"} {
		if _, ok := win[k]; !ok {
			t.Errorf("JSON window lacks %q", k)
		}
	}
	if len(rep.Ratios) != 10 {
		t.Errorf("%d ratios, want 10", len(rep.Ratios))
	}
	var svg bytes.Buffer
	if err := rep.WriteSVG(&svg); err != nil || !strings.Contains(svg.String(), "<svg") || !strings.Contains(svg.String(), string(KernelDNAT)) {
		t.Errorf("SVG: %v\n%s", err, svg.String())
	}
}
