package bench

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ulvs/ulvs/internal/netns"
)

// TestRunClosedLoopShort runs wrk against nginx (keep-alive and a new
// connection per request) and iperf3 through ulvs NAT and kernel DNAT for
// a second each and checks that every subject carried every test, that
// the ratios are there and that nearly every request was answered. No
// rate is asserted.
func TestRunClosedLoopShort(t *testing.T) {
	if !netns.IsRoot() {
		t.Skip("bench: skipping, the closed-loop run builds network namespaces and needs root")
	}
	if testing.Short() {
		t.Skip("bench: skipping the namespace closed-loop run in -short mode")
	}
	for _, tool := range []string{"nginx", "wrk", "iperf3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: make deps installs it (Makefile DEB_PKGS)", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	subjects := []Subject{ULVSNAT, KernelDNAT}
	rep, err := RunClosedLoop(ctx, Config{Binary: ulvsBinary, Duration: time.Second, Subjects: subjects},
		ClosedLoop{HTTP: true, Conns: []int{2}, Bulk: true, Streams: []int{2}})
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
	tests := []string{TestHTTPKeepAlive, TestHTTPClose, TestBulk}
	if len(rep.Results) != len(tests)*len(subjects) {
		t.Fatalf("%d results, want %d (every test through every subject)", len(rep.Results), len(tests)*len(subjects))
	}
	for _, q := range rep.Results {
		if len(q.Values) != 1 || q.Value <= 0 {
			t.Errorf("%s through %s: values %v; want one run that carried traffic", q.Test, q.Subject, q.Values)
		}
		// wrk counts a request over its 2 s timeout as an error, which a
		// loaded machine can cause; a broken rewrite fails most of them.
		if q.Test != TestBulk && (q.Errors*10 > uint64(q.Value) || q.LatencyP50 <= 0 || q.LatencyP99 < q.LatencyP50) {
			t.Errorf("%s through %s: %d errors in about %.0f requests, latency p50 %v p99 %v ms", q.Test, q.Subject, q.Errors, q.Value, q.LatencyP50, q.LatencyP99)
		}
		if q.Subject.IsULVS() && q.SubjectCPUPct <= 0 {
			t.Errorf("%s through %s: no ulvs CPU measured", q.Test, q.Subject)
		}
	}
	if len(rep.Ratios) != len(tests) {
		t.Errorf("ratios %+v; want ulvs-nat / kernel-dnat for each test", rep.Ratios)
	}
	for _, q := range rep.Ratios {
		if q.Value <= 0 || q.Paired <= 0 {
			t.Errorf("ratio %+v: nothing measured", q)
		}
	}
	var svg strings.Builder
	if err := rep.WriteSVG(&svg); err != nil || !strings.Contains(svg.String(), ">ulvs-nat</text>") || !strings.Contains(svg.String(), ">kernel-dnat</text>") {
		t.Errorf("the chart lacks a subject (err %v)", err)
	}
	if !strings.Contains(rep.Server, "nginx") || !strings.Contains(rep.Client, "wrk") || !strings.Contains(rep.Client, "iperf") {
		t.Errorf("the report does not name its programs: server %q, client %q", rep.Server, rep.Client)
	}
	if _, err := RunClosedLoop(ctx, Config{Binary: ulvsBinary, Subjects: []Subject{Null}}, ClosedLoop{HTTP: true}); err == nil ||
		!strings.Contains(err.Error(), "compare NAT") {
		t.Errorf("a null forwarder in a closed-loop run: err %v, want one that names the NAT subjects", err)
	}
}
