package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"math"
	"strings"
	"testing"
)

// wrkOutput is wrk 4.1.0's summary with --latency, socket errors and
// non-2xx answers, as Debian's wrk prints it.
const wrkOutput = `Running 2s test @ http://10.0.1.100:5300/
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   785.84us    1.83ms  14.68ms   91.20%
    Req/Sec    11.95k     5.88k   19.52k    50.00%
  Latency Distribution
     50%  111.00us
     75%  339.00us
     90%    2.30ms
     99%    1.20s
  26112 requests in 1.10s, 3.96MB read
  Socket errors: connect 1, read 12, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:  23717.38
Transfer/sec:      3.60MB
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkOutput)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{rps: 23717.38, p50: 0.111, p99: 1200, requests: 26112, sockErrors: 16, non2xx: 7}
	if math.Abs(r.p50-want.p50) > 1e-9 || r.rps != want.rps || r.p99 != want.p99 || r.requests != want.requests ||
		r.sockErrors != want.sockErrors || r.non2xx != want.non2xx {
		t.Errorf("parseWrk = %+v, want %+v", r, want)
	}
	// Without --latency, errors or non-2xx lines.
	plain := "Running 1s test @ http://x/\n  13415 requests in 1.13s, 1.97MB read\nRequests/sec:  11905.47\n"
	if r, err := parseWrk(plain); err != nil || r.rps != 11905.47 || r.requests != 13415 || r.p50 != 0 || r.sockErrors != 0 {
		t.Errorf("parseWrk(plain) = %+v, %v", r, err)
	}
	for name, bad := range map[string]string{
		"no rate":        "Running 1s test @ http://x/\n  0 requests in 1.00s, 0B read\n",
		"bad rate":       "Requests/sec:  fast\n",
		"negative rate":  "Requests/sec:  -3\n",
		"bad percentile": "     50%  soon\nRequests/sec: 1\n",
		"bad errors":     "  Socket errors: connect x, read 0, write 0, timeout 0\nRequests/sec: 1\n",
		"empty":          "",
	} {
		if _, err := parseWrk(bad); err == nil {
			t.Errorf("parseWrk(%s) succeeded", name)
		}
	}
}

func TestParseWrkDuration(t *testing.T) {
	for in, want := range map[string]float64{"111.00us": 0.111, "2.30ms": 2.3, "1.20s": 1200, "1.50m": 90e3, "0.00us": 0} {
		if got, err := parseWrkDuration(in); err != nil || math.Abs(got-want) > 1e-9 {
			t.Errorf("parseWrkDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "ms", "1.2", "fast", "-1ms", "1.2xs"} {
		if _, err := parseWrkDuration(bad); err == nil {
			t.Errorf("parseWrkDuration(%q) succeeded", bad)
		}
	}
}

func TestParseIperf3(t *testing.T) {
	ok := `{"start":{},"intervals":[],"end":{"sum_sent":{"bytes":1,"bits_per_second":2.5e9,"retransmits":12},
		"sum_received":{"bytes":1,"bits_per_second":2.4e9}}}`
	r, err := parseIperf3([]byte(ok))
	if err != nil || r.gbps != 2.4 || r.retransmits != 12 {
		t.Errorf("parseIperf3 = %+v, %v; want 2.4 Gbit/s received, 12 retransmits", r, err)
	}
	for name, bad := range map[string]string{
		"error":        `{"start":{},"end":{},"error":"unable to connect to server: Connection refused"}`,
		"no end":       `{"start":{}}`,
		"not JSON":     `iperf3: error - unable to connect`,
		"negative":     `{"end":{"sum_received":{"bits_per_second":-1}}}`,
		"wrong type":   `{"end":{"sum_received":{"bits_per_second":"fast"}}}`,
		"empty output": ``,
	} {
		if _, err := parseIperf3([]byte(bad)); err == nil {
			t.Errorf("parseIperf3(%s) succeeded", name)
		}
	}
	if _, err := parseIperf3([]byte(`{"error":"unable to connect to server: Connection refused"}`)); err == nil ||
		!strings.Contains(err.Error(), "Connection refused") {
		t.Errorf("iperf3's own error is not passed on: %v", err)
	}
}

func FuzzParseWrk(f *testing.F) {
	f.Add(wrkOutput)
	f.Add("Requests/sec: 1\n  Socket errors: connect 1,\n")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseWrk(s)
		if err == nil && (r.rps < 0 || r.p50 < 0 || r.p99 < 0 || math.IsNaN(r.rps)) {
			t.Errorf("parseWrk accepted %q as %+v", s, r)
		}
	})
}

func FuzzParseIperf3(f *testing.F) {
	f.Add([]byte(`{"end":{"sum_sent":{"retransmits":3},"sum_received":{"bits_per_second":1e9}}}`))
	f.Add([]byte(`{"error":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseIperf3(b)
		if err == nil && (r.gbps < 0 || math.IsNaN(r.gbps)) {
			t.Errorf("parseIperf3 accepted %q as %+v", b, r)
		}
	})
}

// sampleLoop is a summarized two-run closed-loop report of ulvs-nat and
// kernel DNAT.
func sampleLoop() *ClosedLoopReport {
	rep := &ClosedLoopReport{Runs: 2, Duration: "3s", Client: "HTTP: wrk 4.1.0", Server: "HTTP: nginx/1.22.1", Warnings: []string{}}
	add := func(test string, conns int, s Subject, cpu float64, runs ...loopRun) {
		q := rep.result(test, conns, s)
		for _, r := range runs {
			q.Values = append(q.Values, r.value)
			q.lat = append(q.lat, [2]float64{r.p50, r.p99})
			q.Errors += r.errors
			q.Retransmits += r.retransmits
			if cpu > 0 {
				q.cpu = append(q.cpu, cpu)
			}
		}
	}
	add(TestHTTPKeepAlive, 4, ULVSNAT, 20, loopRun{value: 3000, p50: 1, p99: 2}, loopRun{value: 4000, p50: 0.9, p99: 1.8, errors: 2})
	add(TestHTTPKeepAlive, 4, KernelDNAT, 0, loopRun{value: 30000, p50: 0.1, p99: 0.2}, loopRun{value: 20000, p50: 0.15, p99: 0.3})
	add(TestBulk, 1, ULVSNAT, 70, loopRun{value: 2.8, retransmits: 5}, loopRun{value: 3.0})
	add(TestBulk, 1, KernelDNAT, 0, loopRun{value: 4.0}, loopRun{value: 4.0})
	rep.summarize()
	return rep
}

func TestClosedLoopSummary(t *testing.T) {
	rep := sampleLoop()
	ka := rep.result(TestHTTPKeepAlive, 4, ULVSNAT)
	if ka.Value != 3500 || ka.Unit != "requests/s" || ka.Errors != 2 || ka.SubjectCPUPct != 20 {
		t.Errorf("ulvs-nat keep-alive: %+v; want median 3500 requests/s, 2 errors, 20%% CPU", ka)
	}
	// wrk's latency is the median run's: the lower of two (3000 rps).
	if ka.LatencyP50 != 1 || ka.LatencyP99 != 2 {
		t.Errorf("ulvs-nat keep-alive latency %v/%v ms; want the 3000 rps run's 1/2", ka.LatencyP50, ka.LatencyP99)
	}
	if b := rep.result(TestBulk, 1, ULVSNAT); b.Unit != "Gbit/s" || math.Abs(b.Value-2.9) > 1e-9 || b.Retransmits != 5 {
		t.Errorf("ulvs-nat bulk: %+v; want 2.9 Gbit/s, 5 retransmits", b)
	}
	if len(rep.Ratios) != 2 {
		t.Fatalf("ratios %+v; want one per test", rep.Ratios)
	}
	q := rep.Ratios[0]
	// Medians 3500/25000; paired: 3000/30000 = 0.1 and 4000/20000 = 0.2.
	if q.Name != "ulvs-nat / kernel-dnat" || q.Test != TestHTTPKeepAlive || math.Abs(q.Value-0.14) > 1e-9 || math.Abs(q.Paired-0.15) > 1e-9 {
		t.Errorf("keep-alive ratio %+v; want 0.14 of the medians, 0.15 paired", q)
	}
	if q := rep.Ratios[1]; q.Test != TestBulk || math.Abs(q.Value-0.725) > 1e-9 {
		t.Errorf("bulk ratio %+v; want 0.725", q)
	}
	// Another build of ulvs-nat is compared with the default one first.
	q2 := rep.result(TestBulk, 1, ULVSNAT+"@/tmp/old/ulvs")
	q2.Values = []float64{1.4, 1.5} // median 1.45, half of 2.9
	rep.summarize()
	var names []string
	for _, q := range rep.Ratios {
		names = append(names, q.Name)
	}
	if want := "ulvs-nat / kernel-dnat,ulvs-nat / kernel-dnat,ulvs-nat@/tmp/old/ulvs / ulvs-nat,ulvs-nat@/tmp/old/ulvs / kernel-dnat"; strings.Join(names, ",") != want {
		t.Errorf("ratios %q, want %q", strings.Join(names, ","), want)
	}
	if q := rep.Ratios[2]; math.Abs(q.Value-0.5) > 1e-9 {
		t.Errorf("old build / new build %+v; want 0.5", q)
	}
}

func TestClosedLoopOutputs(t *testing.T) {
	rep := sampleLoop()
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"HTTP keep-alive, 4 conns", "bulk TCP, 1 stream(s)", "requests/s", "Gbit/s", "5 rtx", "ulvs-nat / kernel-dnat", "0.140", "wrk 4.1.0", "nginx/1.22.1"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
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
	for _, k := range []string{"started", "elapsed", "host", "subjects", "runs", "duration", "server", "client", "results", "ratios", "notes", "warnings"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	res := doc["results"].([]any)[0].(map[string]any)
	for _, k := range []string{"test", "connections", "subject", "unit", "value", "values", "latency_p50_ms", "latency_p99_ms", "errors", "retransmits", "subject_cpu_pct"} {
		if _, ok := res[k]; !ok {
			t.Errorf("JSON result lacks %q", k)
		}
	}
}

func TestVersionLine(t *testing.T) {
	for in, want := range map[string]string{
		"wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer\nUsage: wrk": "wrk debian/4.1.0-3+b2",
		"nginx version: nginx/1.22.1\n":                                            "nginx/1.22.1",
		"iperf 3.12 (cJSON 1.7.15)\nLinux host 6.18 #1 SMP":                        "iperf 3.12",
		"": "tool",
	} {
		if got := versionLine(in, "tool"); got != want {
			t.Errorf("versionLine(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClosedLoopSVG(t *testing.T) {
	rep := sampleLoop()
	var b bytes.Buffer
	if err := rep.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	var root svgElem
	if err := xml.NewDecoder(bytes.NewReader(b.Bytes())).Decode(&root); err != nil {
		t.Fatalf("the chart is not well-formed XML: %v", err)
	}
	if h := root.attr("height"); h == "" || h == "HEIGHT" {
		t.Errorf("the chart's height is %q", h)
	}
	var bars, widest int
	var texts []string
	root.walk(func(e *svgElem) {
		switch e.XMLName.Local {
		case "rect":
			if e.attr("fill") != "white" && e.attr("width") != "14" {
				bars++
				if e.attr("width") == fmt.Sprintf("%.1f", float64(loopBarW)) {
					widest++
				}
			}
		case "text":
			texts = append(texts, strings.TrimSpace(e.Text))
		}
	})
	// A bar per result; the best of each of the two tests spans the row.
	if bars != len(rep.Results) || widest != 2 {
		t.Errorf("%d bars, %d full-length; want %d and 2", bars, widest, len(rep.Results))
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{"HTTP keep-alive, 4 conns", "bulk TCP, 1 stream(s)", "3500 requests/s", "2.90 Gbit/s", "ulvs-nat / kernel-dnat: 0.14", "ulvs-nat", "kernel-dnat"} {
		if !strings.Contains(all, want) {
			t.Errorf("the chart has no text %q (texts: %s)", want, all)
		}
	}
}
