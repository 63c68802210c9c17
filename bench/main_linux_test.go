package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ulvs/ulvs/internal/netns"
	"github.com/ulvs/ulvs/internal/testbin"
)

// ulvsBinary is the binary the ulvs subjects run: $ULVS_BIN, or one built
// by TestMain.
var ulvsBinary string

func TestMain(m *testing.M) { testbin.Main(m, &ulvsBinary) }

// figuresTraffic is the traffic of `make figures`: minimum-size UDP frames
// (60 bytes, 64 on the wire) over the given number of flows.
func figuresTraffic(t *testing.T, flows int) *Traffic {
	t.Helper()
	tr, err := Synthetic(SyntheticSpec{Flows: flows, Sizes: []int{60}})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// logTable logs the report as the table `ulvs bench` prints.
func logTable(t *testing.T, rep *BenchReport) {
	t.Helper()
	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
}

// TestRunShort runs every subject for about a second with the traffic of
// `make figures` at full speed and checks that each one delivered frames,
// that nothing it delivered failed verification and that the report is
// complete.
func TestRunShort(t *testing.T) {
	if !netns.IsRoot() {
		t.Skip("bench: skipping, the throughput run builds network namespaces and needs root")
	}
	if testing.Short() {
		t.Skip("bench: skipping the namespace throughput run in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const flows = 1000
	rep, err := Run(ctx, Config{Binary: ulvsBinary, Traffic: figuresTraffic(t, flows), Duration: time.Second,
		Warmup: 200 * time.Millisecond, Reals: 2})
	if err != nil {
		t.Fatal(err)
	}
	logTable(t, rep)
	if len(rep.Results) != len(AllSubjects()) {
		t.Fatalf("%d results, want one per subject (%d)", len(rep.Results), len(AllSubjects()))
	}
	for _, res := range rep.Results {
		if len(res.Windows) != 1 {
			t.Errorf("%s: %d windows, want 1", res.Subject, len(res.Windows))
			continue
		}
		w := res.Windows[0]
		if w.Delivered == 0 || res.DeliveredPPS <= 0 || res.Verified == 0 {
			t.Errorf("%s delivered nothing (offered %d, verified %d): %+v", res.Subject, w.Offered, res.Verified, w)
		}
		if w.Offered == 0 || w.Sent == 0 || res.OfferedPPS <= 0 {
			t.Errorf("%s: the generator offered nothing: %+v", res.Subject, w)
		}
		if n := sumFailures(res.Failures); n != 0 || res.WrongReal != 0 {
			t.Errorf("%s: %d packets failed verification (%v), %d reached a second real", res.Subject, n, res.Failures, res.WrongReal)
		}
		// Frames offered just before the window opens may still sit in the
		// subject's RX ring (up to ~58k 60-byte frames) and be delivered
		// inside it, so a short window can deliver a little more than it
		// offered; double counting would show as about twice.
		if w.Delivered > w.Offered+w.Offered/4 {
			t.Errorf("%s: delivered %d > offered %d: a sink double counts", res.Subject, w.Delivered, w.Offered)
		}
		if w.Seconds < 0.9 || w.Seconds > 2 {
			t.Errorf("%s: window lasted %.2fs, want about 1s", res.Subject, w.Seconds)
		}
		if len(w.CPUBusy) != runtime.NumCPU() || w.GenNsPerPkt <= 0 {
			t.Errorf("%s: CPU accounting missing: busy %v, gen ns/pkt %v", res.Subject, w.CPUBusy, w.GenNsPerPkt)
		}
		attributable := res.Subject.IsULVS() || res.Subject == Null
		if attributable && res.SubjectNsPerPkt <= 0 {
			t.Errorf("%s: no subject CPU time per packet", res.Subject)
		}
		if res.Subject.IsULVS() && w.Counters["inbound"] == 0 {
			t.Errorf("%s: ulvs reported no inbound packets: %v", res.Subject, w.Counters)
		}
		if res.Subject == KernelDNAT && w.Counters["conntrack_entries"] < flows {
			t.Errorf("%s: %d conntrack entries, want one per flow (%d)", res.Subject, w.Counters["conntrack_entries"], flows)
		}
	}
	if len(rep.Ratios) != 10 {
		t.Errorf("%d ratios, want 10 (3 ulvs modes x null and 2 kernel subjects, and ulvs-tun / null-ipip): %v", len(rep.Ratios), rep.Ratios)
	}
	for _, q := range rep.Ratios {
		if q.Value <= 0 {
			t.Errorf("ratio %s = %v", q.Name, q.Value)
		}
	}
	if rep.Host.Kernel == "" || rep.Host.CPUs == 0 || rep.Setup.Flows != flows || rep.Setup.Packets != flows || rep.Setup.UDPPackets != flows {
		t.Errorf("host or setup missing: %+v %+v", rep.Host, rep.Setup)
	}
}

// TestRunCountOnly runs three subjects in count-only mode and checks that
// delivered packets are counted while nothing is read or verified, and
// that the report says so. The third is ulvs-nat again from a copy of the
// binary (KIND@BINARY), as when two builds are compared.
func TestRunCountOnly(t *testing.T) {
	if !netns.IsRoot() {
		t.Skip("bench: skipping, the throughput run builds network namespaces and needs root")
	}
	if testing.Short() {
		t.Skip("bench: skipping the namespace throughput run in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	other := filepath.Join(t.TempDir(), "ulvs-other")
	copyFile(t, ulvsBinary, other)
	otherNAT := Subject(string(ULVSNAT) + "@" + other)
	var progress int
	rep, err := Run(ctx, Config{Binary: ulvsBinary, Traffic: figuresTraffic(t, 1000), Duration: 500 * time.Millisecond,
		Warmup: 150 * time.Millisecond, Reals: 2, Subjects: []Subject{ULVSNAT, Null, otherNAT}, CountOnly: true,
		Progress: func(p Progress) {
			progress++
			if p.Delivered != 0 {
				t.Errorf("progress reports %d delivered in count-only mode, where nothing reads frames", p.Delivered)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	logTable(t, rep)
	if !rep.Setup.CountOnly || len(rep.Warnings) == 0 || !strings.Contains(rep.Warnings[0], "not measured") {
		t.Errorf("report does not say it only counted: setup %+v, warnings %q", rep.Setup, rep.Warnings)
	}
	if progress == 0 {
		t.Error("no progress reports")
	}
	for _, res := range rep.Results {
		if res.Delivered == 0 || res.Sent == 0 || res.OfferedPPS <= 0 {
			t.Errorf("%s: sent %d, delivered %d, offered %.0f pps: nothing counted", res.Subject, res.Sent, res.Delivered, res.OfferedPPS)
		}
		if res.Received != 0 || res.Verified != 0 || res.Lost != 0 || res.SinkDrops != 0 || res.LatencyP50 != 0 {
			t.Errorf("%s: received %d, verified %d, lost %d, sink drops %d, p50 %v: count-only mode measured what it cannot",
				res.Subject, res.Received, res.Verified, res.Lost, res.SinkDrops, res.LatencyP50)
		}
		if res.Rewrite != notChecked || res.FlowChecked {
			t.Errorf("%s: rewrite %q, flow checked %v: count-only results claim checks", res.Subject, res.Rewrite, res.FlowChecked)
		}
	}
	var names []string
	for _, q := range rep.Ratios {
		names = append(names, q.Name)
		if q.Value <= 0 || q.Paired <= 0 {
			t.Errorf("ratio %+v: nothing measured", q)
		}
	}
	want := []string{"ulvs-nat / null-forwarder", string(otherNAT) + " / ulvs-nat", string(otherNAT) + " / null-forwarder"}
	if !slices.Equal(names, want) {
		t.Errorf("ratios %q, want %q", names, want)
	}
	if d := rep.Result(otherNAT).Description; !strings.Contains(d, other) {
		t.Errorf("%s is described as %q, without its binary", otherNAT, d)
	}
}

// TestRunInterleaved runs the side-by-side comparison: ulvs-tun against
// both null forwarders, each pair at the same time on twin topologies.
func TestRunInterleaved(t *testing.T) {
	if !netns.IsRoot() {
		t.Skip("bench: skipping, the throughput run builds network namespaces and needs root")
	}
	if testing.Short() {
		t.Skip("bench: skipping the namespace throughput run in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := Config{Binary: ulvsBinary, Traffic: figuresTraffic(t, 1000), Duration: 300 * time.Millisecond,
		Warmup: 150 * time.Millisecond, Reals: 2, Subjects: []Subject{ULVSTUN, Null, NullIPIP},
		Interleave: 100 * time.Millisecond, Rounds: 3}
	if _, err := Run(ctx, c); err == nil || !strings.Contains(err.Error(), "count-only") {
		t.Fatalf("interleaving without count-only: err %v, want one that asks for --count-only", err)
	}
	c.CountOnly = true
	rep, err := Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	logTable(t, rep)
	var names []string
	for _, p := range rep.Interleaved {
		names = append(names, p.Name)
		if p.Rounds != 3 || len(p.APPS) != 3 || len(p.BPPS) != 3 {
			t.Errorf("%s: %d rounds, %d and %d slices, want 3 of each", p.Name, p.Rounds, len(p.APPS), len(p.BPPS))
		}
		for i := range p.APPS {
			// Both subjects forward at hundreds of kpps here; a slice
			// that fed the wrong topology, or sampled outside the
			// traffic, reads (nearly) nothing.
			if p.APPS[i] < 10e3 || p.BPPS[i] < 10e3 {
				t.Errorf("%s: slice %d delivered %.0f and %.0f pps", p.Name, i, p.APPS[i], p.BPPS[i])
			}
		}
		if p.Ratio < 0.2 || p.Ratio > 5 || p.RatioQ1 > p.Ratio || p.RatioQ3 < p.Ratio {
			t.Errorf("%s: ratio %.3f (%.3f-%.3f)", p.Name, p.Ratio, p.RatioQ1, p.RatioQ3)
		}
	}
	want := []string{"ulvs-tun / null-forwarder", "ulvs-tun / null-ipip"}
	if !slices.Equal(names, want) {
		t.Errorf("interleaved pairs %q, want %q", names, want)
	}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil || !strings.Contains(b.String(), "interleaved: both subjects running at once") {
		t.Errorf("table without the interleaved section (err %v):\n%s", err, b.String())
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestFiguresPPS is the full measurement behind docs/benchmarks.md: Run
// with 60-byte UDP frames over 10,000 flows, 4 real servers, every subject,
// interleaved windows, medians. It counts delivered packets only
// (Config.CountOnly), so the generator has its CPU to itself and offers
// its full rate; ULVS_BENCH_VERIFY=1 verifies every packet instead, at a
// lower offered load. It runs only with ULVS_BENCH_PPS=1 (`make figures`):
// it takes minutes and wants a quiet machine. ULVS_BENCH_RUNS (default 3),
// ULVS_BENCH_SECONDS (default 3), ULVS_BENCH_WORKERS,
// ULVS_BENCH_GOMAXPROCS, ULVS_BENCH_SUBJECTS (comma-separated),
// ULVS_BENCH_NOPIN=1, ULVS_BENCH_PROFILE_DIR and ULVS_BENCH_JSON tune it;
// ULVS_BENCH_INTERLEAVE_MS and ULVS_BENCH_ROUNDS add the interleaved
// comparison (Config.Interleave).
func TestFiguresPPS(t *testing.T) {
	if os.Getenv("ULVS_BENCH_PPS") != "1" {
		t.Skip("bench: the full throughput measurement runs only with ULVS_BENCH_PPS=1 (make figures)")
	}
	if !netns.IsRoot() {
		t.Skip("bench: skipping, the throughput run builds network namespaces and needs root")
	}
	c := Config{Binary: ulvsBinary, Traffic: figuresTraffic(t, 10000), Reals: 4, Runs: 3,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	if n := envInt(t, "ULVS_BENCH_RUNS"); n > 0 {
		c.Runs = n
	}
	c.Duration = time.Duration(envInt(t, "ULVS_BENCH_SECONDS")) * time.Second
	c.Workers = envInt(t, "ULVS_BENCH_WORKERS")
	c.GOMAXPROCS = envInt(t, "ULVS_BENCH_GOMAXPROCS")
	c.ProfileDir = os.Getenv("ULVS_BENCH_PROFILE_DIR")
	if s := os.Getenv("ULVS_BENCH_SUBJECTS"); s != "" {
		for _, name := range strings.Split(s, ",") {
			c.Subjects = append(c.Subjects, Subject(strings.TrimSpace(name)))
		}
	}
	c.NoPin = os.Getenv("ULVS_BENCH_NOPIN") == "1"
	c.CountOnly = os.Getenv("ULVS_BENCH_VERIFY") != "1"
	if ms := envInt(t, "ULVS_BENCH_INTERLEAVE_MS"); ms > 0 && c.CountOnly {
		c.Interleave = time.Duration(ms) * time.Millisecond
		c.Rounds = envInt(t, "ULVS_BENCH_ROUNDS")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	rep, err := Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteTable(os.Stdout); err != nil {
		t.Fatal(err)
	}
	if p := os.Getenv("ULVS_BENCH_JSON"); p != "" {
		if err := rep.WriteFile(p, rep.WriteJSON); err != nil {
			t.Fatal(err)
		}
		fmt.Println("JSON report:", p)
	}
}

func envInt(t *testing.T, key string) int {
	s := os.Getenv(key)
	if s == "" {
		return 0
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s=%q: want an integer", key, s)
	}
	return v
}
