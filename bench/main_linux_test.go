package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ulvs/ulvs/internal/netns"
)

// ulvsBinary is the binary the ulvs subjects run: $ULVS_BIN, or one built
// by TestMain.
var ulvsBinary string

func TestMain(m *testing.M) {
	code := func() int {
		if !netns.IsRoot() {
			return m.Run() // the namespace tests skip with their reason
		}
		if b := os.Getenv("ULVS_BIN"); b != "" {
			ulvsBinary = b
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "ulvs-bench-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		ulvsBinary = filepath.Join(dir, "ulvs")
		gobin, err := exec.LookPath("go")
		if err != nil {
			gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		cmd := exec.Command(gobin, "build", "-o", ulvsBinary, "github.com/ulvs/ulvs/cmd/ulvs")
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building ulvs:", err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// TestRunPPSShort runs every subject for about a second and checks that
// each one delivered frames and that the report is complete.
func TestRunPPSShort(t *testing.T) {
	if !netns.IsRoot() {
		t.Skip("bench: skipping, the throughput run builds network namespaces and needs root")
	}
	if testing.Short() {
		t.Skip("bench: skipping the namespace throughput run in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := RunPPS(ctx, Options{Binary: ulvsBinary, Duration: time.Second, Warmup: 200 * time.Millisecond,
		Runs: 1, Flows: 1000, Reals: 2})
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
	if len(rep.Results) != len(AllSubjects()) {
		t.Fatalf("%d results, want one per subject (%d)", len(rep.Results), len(AllSubjects()))
	}
	for _, res := range rep.Results {
		if len(res.Samples) != 1 {
			t.Errorf("%s: %d samples, want 1", res.Subject, len(res.Samples))
			continue
		}
		s := res.Samples[0]
		if s.Delivered == 0 || res.DeliveredPPS <= 0 {
			t.Errorf("%s delivered nothing (offered %d): %+v", res.Subject, s.Offered, s)
		}
		if s.Offered == 0 || s.Sent == 0 || res.OfferedPPS <= 0 {
			t.Errorf("%s: the generator offered nothing: %+v", res.Subject, s)
		}
		// Frames offered just before the window opens may still sit in the
		// subject's RX ring (up to ~58k 60-byte frames) and be delivered
		// inside it, so a short window can deliver a little more than it
		// offered; double counting would show as about twice.
		if s.Delivered > s.Offered+s.Offered/4 {
			t.Errorf("%s: delivered %d > offered %d: a sink double counts", res.Subject, s.Delivered, s.Offered)
		}
		if s.Seconds < 0.9 || s.Seconds > 2 {
			t.Errorf("%s: window lasted %.2fs, want about 1s", res.Subject, s.Seconds)
		}
		if len(s.CPUBusy) != runtime.NumCPU() || res.GenNsPerPkt <= 0 {
			t.Errorf("%s: CPU accounting missing: busy %v, gen ns/pkt %v", res.Subject, s.CPUBusy, res.GenNsPerPkt)
		}
		attributable := res.Subject.IsULVS() || res.Subject == Null
		if attributable && res.SubjectNsPerPkt <= 0 {
			t.Errorf("%s: no subject CPU time per packet", res.Subject)
		}
		if res.Subject.IsULVS() && s.Counters["inbound"] == 0 {
			t.Errorf("%s: ulvs reported no inbound packets: %v", res.Subject, s.Counters)
		}
		if res.Subject == KernelDNAT && s.Counters["conntrack_entries"] < 1000 {
			t.Errorf("%s: %d conntrack entries, want one per flow (1000)", res.Subject, s.Counters["conntrack_entries"])
		}
	}
	if len(rep.Ratios) != 9 {
		t.Errorf("%d ratios, want 9 (3 ulvs modes x null and 2 kernel subjects): %v", len(rep.Ratios), rep.Ratios)
	}
	for _, q := range rep.Ratios {
		if q.Value <= 0 {
			t.Errorf("ratio %s = %v", q.Name, q.Value)
		}
	}
	if rep.Host.Kernel == "" || rep.Host.CPUs == 0 || rep.Setup.FrameLen != FrameLen {
		t.Errorf("host or setup missing: %+v %+v", rep.Host, rep.Setup)
	}
}

// TestFiguresPPS is the full measurement behind docs/benchmarks.md. It runs
// only with ULVS_BENCH_PPS=1 (`make figures`): it takes minutes and wants a
// quiet machine. ULVS_BENCH_RUNS, ULVS_BENCH_SECONDS, ULVS_BENCH_WORKERS,
// ULVS_BENCH_GOMAXPROCS, ULVS_BENCH_SUBJECTS (comma-separated), ULVS_BENCH_NOPIN=1,
// ULVS_BENCH_PROFILE_DIR and ULVS_BENCH_JSON tune it.
func TestFiguresPPS(t *testing.T) {
	if os.Getenv("ULVS_BENCH_PPS") != "1" {
		t.Skip("bench: the full throughput measurement runs only with ULVS_BENCH_PPS=1 (make figures)")
	}
	if !netns.IsRoot() {
		t.Skip("bench: skipping, the throughput run builds network namespaces and needs root")
	}
	o := Options{Binary: ulvsBinary, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	o.Runs = envInt(t, "ULVS_BENCH_RUNS")
	o.Duration = time.Duration(envInt(t, "ULVS_BENCH_SECONDS")) * time.Second
	o.Workers = envInt(t, "ULVS_BENCH_WORKERS")
	o.GOMAXPROCS = envInt(t, "ULVS_BENCH_GOMAXPROCS")
	o.ProfileDir = os.Getenv("ULVS_BENCH_PROFILE_DIR")
	if s := os.Getenv("ULVS_BENCH_SUBJECTS"); s != "" {
		for _, name := range strings.Split(s, ",") {
			o.Subjects = append(o.Subjects, Subject(strings.TrimSpace(name)))
		}
	}
	if os.Getenv("ULVS_BENCH_NOPIN") == "1" {
		o.NoPin = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	rep, err := RunPPS(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteTable(os.Stdout); err != nil {
		t.Fatal(err)
	}
	if p := os.Getenv("ULVS_BENCH_JSON"); p != "" {
		if err := rep.WriteJSON(p); err != nil {
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
