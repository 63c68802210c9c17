package bench

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The closed-loop tests: real TCP clients that wait for each answer
// before they send on, so every microsecond the director adds to a round
// trip costs them throughput.
const (
	// TestHTTPKeepAlive is wrk over persistent connections.
	TestHTTPKeepAlive = "http-keepalive"
	// TestHTTPClose is wrk with "Connection: close": a new TCP connection
	// for every request.
	TestHTTPClose = "http-close"
	// TestBulk is iperf3, client to real server, MTU-sized frames.
	TestBulk = "bulk-tcp"
)

// ClosedLoop selects the closed-loop tests of RunClosedLoop.
type ClosedLoop struct {
	// HTTP runs wrk against nginx on the real servers, keep-alive and a
	// new connection per request, with each of Conns connections
	// (default 4 and 32).
	HTTP  bool
	Conns []int
	// Bulk runs iperf3 to one real server with each of Streams parallel
	// streams (default 1 and 4).
	Bulk    bool
	Streams []int
}

func (l ClosedLoop) withDefaults() ClosedLoop {
	if len(l.Conns) == 0 {
		l.Conns = []int{4, 32}
	}
	if len(l.Streams) == 0 {
		l.Streams = []int{1, 4}
	}
	return l
}

// LoopResult is one subject in one closed-loop test.
type LoopResult struct {
	Test    string  `json:"test"`
	Conns   int     `json:"connections"` // HTTP connections or TCP streams
	Subject Subject `json:"subject"`
	// Unit is "requests/s" or "Gbit/s"; Value the median over runs,
	// Values every run's.
	Unit   string    `json:"unit"`
	Value  float64   `json:"value"`
	Values []float64 `json:"values"`
	// LatencyP50 and LatencyP99 are wrk's request latency percentiles of
	// the median run, milliseconds (HTTP only).
	LatencyP50 float64 `json:"latency_p50_ms"`
	LatencyP99 float64 `json:"latency_p99_ms"`
	// Errors are wrk's socket errors and non-2xx answers; Retransmits
	// iperf3's TCP retransmissions; both summed over runs.
	Errors      uint64 `json:"errors"`
	Retransmits uint64 `json:"retransmits"`
	// SubjectCPUPct is the ulvs process's median CPU in percent of one
	// core while the test ran (0 for the kernel, whose work is softirq).
	SubjectCPUPct float64 `json:"subject_cpu_pct"`

	lat [][2]float64 // per run: p50, p99
	cpu []float64
}

// LoopRatio is a ulvs subject's throughput over the kernel's in one test.
type LoopRatio struct {
	Test  string `json:"test"`
	Conns int    `json:"connections"`
	Name  string `json:"name"`
	// Value is the ratio of the medians; Paired the median of the ratios
	// of the two subjects' runs (same run, seconds apart).
	Value  float64 `json:"value"`
	Paired float64 `json:"paired"`
}

// ClosedLoopReport is the outcome of RunClosedLoop.
type ClosedLoopReport struct {
	Started  time.Time `json:"started"`
	Elapsed  string    `json:"elapsed"`
	Host     Host      `json:"host"`
	Subjects []Subject `json:"subjects"`
	Runs     int       `json:"runs"`
	Duration string    `json:"duration"`
	// Server and Client name the programs (with versions) that ran.
	Server  string       `json:"server"`
	Client  string       `json:"client"`
	Results []LoopResult `json:"results"`
	Ratios  []LoopRatio  `json:"ratios"`
	Notes   []string     `json:"notes"`
	// Warnings: errors the clients reported, and the like.
	Warnings []string `json:"warnings"`
}

// result returns the result of s in test with conns, adding it if new.
func (r *ClosedLoopReport) result(test string, conns int, s Subject) *LoopResult {
	for i := range r.Results {
		if q := &r.Results[i]; q.Test == test && q.Conns == conns && q.Subject == s {
			return q
		}
	}
	unit := "requests/s"
	if test == TestBulk {
		unit = "Gbit/s"
	}
	r.Results = append(r.Results, LoopResult{Test: test, Conns: conns, Subject: s, Unit: unit, Values: []float64{}})
	return &r.Results[len(r.Results)-1]
}

// summarize fills the medians, and the ratios of every ulvs subject to
// every kernel subject in each test (and of ulvs-nat@PATH to ulvs-nat).
func (r *ClosedLoopReport) summarize() {
	for i := range r.Results {
		q := &r.Results[i]
		q.Value, q.SubjectCPUPct = median(q.Values), median(q.cpu)
		if len(q.lat) == len(q.Values) && len(q.lat) > 0 {
			// wrk's latency of the run whose rate is the median (the
			// lower middle one for an even count).
			idx := make([]int, len(q.Values))
			for k := range idx {
				idx[k] = k
			}
			slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(q.Values[a], q.Values[b]) })
			m := idx[(len(idx)-1)/2]
			q.LatencyP50, q.LatencyP99 = q.lat[m][0], q.lat[m][1]
		}
	}
	r.Ratios = []LoopRatio{}
	for _, u := range r.Results {
		if !u.Subject.IsULVS() {
			continue
		}
		for _, k := range r.Results {
			same := u.Subject.Binary() != "" && k.Subject == u.Subject.Kind()
			if k.Test != u.Test || k.Conns != u.Conns || (k.Subject != KernelDNAT && k.Subject != KernelDNATRPS && !same) || k.Value <= 0 {
				continue
			}
			q := LoopRatio{Test: u.Test, Conns: u.Conns, Name: fmt.Sprintf("%s / %s", u.Subject, k.Subject), Value: u.Value / k.Value}
			var per []float64
			for i := range min(len(u.Values), len(k.Values)) {
				if k.Values[i] > 0 {
					per = append(per, u.Values[i]/k.Values[i])
				}
			}
			q.Paired = median(per)
			r.Ratios = append(r.Ratios, q)
		}
	}
}

// testName says what a test is in a table.
func testName(test string, conns int) string {
	switch test {
	case TestHTTPKeepAlive:
		return fmt.Sprintf("HTTP keep-alive, %d conns", conns)
	case TestHTTPClose:
		return fmt.Sprintf("HTTP new conn/request, %d conns", conns)
	}
	return fmt.Sprintf("bulk TCP, %d stream(s)", conns)
}

// WriteTable writes the closed-loop results and ratios as a table.
func (r *ClosedLoopReport) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "ulvs bench, closed-loop clients, %d x %s per test and subject, nothing pinned\nclients: %s\nservers: %s\n", r.Runs, r.Duration, r.Client, r.Server)
	fmt.Fprintf(&b, "host: %s, %d CPUs, kernel %s, %s, load average at start %s\n\n", r.Host.Model, r.Host.CPUs, r.Host.Kernel, r.Host.Go, r.Host.LoadAvg)
	nw := 16
	for _, q := range r.Results {
		nw = max(nw, len(q.Subject))
	}
	fmt.Fprintf(&b, "%-34s %-*s %12s %-10s %8s %8s %7s %6s\n", "test", nw, "subject", "median", "unit", "p50 ms", "p99 ms", "errors", "cpu %")
	for _, q := range r.Results {
		p50, p99, cpu, errs := "-", "-", "-", fmt.Sprint(q.Errors)
		if q.Test != TestBulk {
			p50, p99 = fmt.Sprintf("%.2f", q.LatencyP50), fmt.Sprintf("%.2f", q.LatencyP99)
		} else {
			errs = fmt.Sprintf("%d rtx", q.Retransmits)
		}
		if q.SubjectCPUPct > 0 {
			cpu = fmt.Sprintf("%.0f", q.SubjectCPUPct)
		}
		val := fmt.Sprintf("%.0f", q.Value)
		if q.Unit == "Gbit/s" {
			val = fmt.Sprintf("%.2f", q.Value)
		}
		fmt.Fprintf(&b, "%-34s %-*s %12s %-10s %8s %8s %7s %6s\n", testName(q.Test, q.Conns), nw, q.Subject, val, q.Unit, p50, p99, errs, cpu)
	}
	if len(r.Ratios) > 0 {
		b.WriteString("\nratios in the same run: of the medians; paired run by run (median)\n")
		qw := 26
		for _, q := range r.Ratios {
			qw = max(qw, len(q.Name))
		}
		for _, q := range r.Ratios {
			fmt.Fprintf(&b, "  %-34s %-*s %.3f   %.3f\n", testName(q.Test, q.Conns), qw, q.Name, q.Value, q.Paired)
		}
	}
	return writeNotes(w, &b, r.Notes, r.Warnings)
}

// WriteJSON writes the closed-loop report as indented JSON.
func (r *ClosedLoopReport) WriteJSON(w io.Writer) error { return writeJSON(w, r) }

// wrkResult is what parseWrk reads of wrk's output.
type wrkResult struct {
	rps        float64
	p50, p99   float64 // milliseconds; 0 without --latency
	requests   uint64
	sockErrors uint64 // connect + read + write + timeout
	non2xx     uint64
}

// parseWrk reads wrk's (4.x) human-readable summary.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var haveRPS bool
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil || v < 0 {
				return r, fmt.Errorf("bench: wrk: bad rate in %q", line)
			}
			r.rps, haveRPS = v, true
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			ms, err := parseWrkDuration(f[1])
			if err != nil {
				return r, err
			}
			if f[0] == "50%" {
				r.p50 = ms
			} else {
				r.p99 = ms
			}
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			r.requests, _ = strconv.ParseUint(f[0], 10, 64)
		case len(f) >= 2 && f[0] == "Socket" && f[1] == "errors:":
			// Socket errors: connect 0, read 12, write 0, timeout 3
			for i := 2; i+1 < len(f); i += 2 {
				n, err := strconv.ParseUint(strings.TrimSuffix(f[i+1], ","), 10, 64)
				if err != nil {
					return r, fmt.Errorf("bench: wrk: bad count in %q", line)
				}
				r.sockErrors += n
			}
		case strings.HasPrefix(strings.TrimSpace(line), "Non-2xx or 3xx responses:") && len(f) == 5:
			r.non2xx, _ = strconv.ParseUint(f[4], 10, 64)
		}
	}
	if !haveRPS {
		return r, errors.New("bench: wrk printed no Requests/sec line")
	}
	return r, nil
}

// parseWrkDuration reads wrk's "123.45us", "1.20ms", "2.00s", "1.5m" as
// milliseconds.
func parseWrkDuration(s string) (float64, error) {
	for _, u := range []struct {
		suffix string
		ms     float64
	}{{"us", 1e-3}, {"ms", 1}, {"s", 1e3}, {"m", 60e3}, {"h", 3600e3}} {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || v < 0 {
				break
			}
			return v * u.ms, nil
		}
	}
	return 0, fmt.Errorf("bench: wrk: bad duration %q", s)
}

// iperfResult is what parseIperf3 reads of iperf3 -J.
type iperfResult struct {
	gbps        float64 // received at the server
	retransmits uint64
}

// parseIperf3 reads iperf3's JSON report (-J).
func parseIperf3(b []byte) (iperfResult, error) {
	var doc struct {
		Error string `json:"error"`
		End   struct {
			SumSent struct {
				Retransmits uint64 `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived *struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return iperfResult{}, fmt.Errorf("bench: iperf3 -J: %w", err)
	}
	if doc.Error != "" {
		return iperfResult{}, fmt.Errorf("bench: iperf3: %s", doc.Error)
	}
	if doc.End.SumReceived == nil || doc.End.SumReceived.BitsPerSecond < 0 {
		return iperfResult{}, errors.New("bench: iperf3 -J has no end.sum_received")
	}
	return iperfResult{gbps: doc.End.SumReceived.BitsPerSecond / 1e9, retransmits: doc.End.SumSent.Retransmits}, nil
}

// versionLine is the program name and version from a version flag's
// output: its first line, without a "... version: " lead-in and without
// what follows the version (" [epoll] Copyright ...", " (cJSON ...)").
func versionLine(out, name string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	if _, v, ok := strings.Cut(line, "version: "); ok {
		line = v
	}
	if i := strings.IndexAny(line, "[("); i > 0 {
		line = line[:i]
	}
	if line = strings.TrimSpace(line); line == "" {
		return name
	}
	return line
}
