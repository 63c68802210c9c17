package bench

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	}
	for _, tc := range tests {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// sampleReport is a three-run report of every subject, summarized and with
// its ratios computed.
func sampleReport() *BenchReport {
	mk := func(s Subject, del ...float64) SubjectResult {
		r := SubjectResult{Subject: s, Description: s.Describe()}
		for i, d := range del {
			r.Windows = append(r.Windows, Window{Run: i + 1, DeliveredPPS: d, OfferedPPS: 1e6, SubjectNsPerPkt: 1000,
				GenNsPerPkt: 700 + float64(i), CPUBusy: []float64{100 - float64(i), 90 + float64(i)}, Limit: "subject"})
		}
		r.summarize()
		return r
	}
	rep := &BenchReport{Setup: BenchSetup{Source: "synthetic", Flows: 10000, Reals: 4, Runs: 3, Window: "3s", Warmup: "300ms", Workers: 1, Pinned: true, SubjectCPU: 1}}
	rep.Results = []SubjectResult{
		mk(ULVSNAT, 800e3, 900e3, 850e3), mk(ULVSDR, 900e3, 900e3, 900e3), mk(ULVSTUN, 450e3, 500e3, 400e3),
		mk(Null, 1e6, 1e6, 1e6), mk(NullIPIP, 900e3, 900e3, 900e3), mk(KernelDNAT, 500e3, 500e3, 500e3), mk(KernelDNATRPS, 250e3, 250e3, 250e3),
	}
	rep.computeRatios()
	return rep
}

func TestSummaryAndRatios(t *testing.T) {
	rep := sampleReport()
	nat := rep.Result(ULVSNAT)
	if nat.DeliveredPPS != 850e3 || nat.DeliveredMin != 800e3 || nat.DeliveredMax != 900e3 || nat.GenNsPerPkt != 701 || nat.Limit != "subject" {
		t.Errorf("ulvs-nat summary %+v", nat)
	}
	if len(nat.CPUBusy) != 2 || nat.CPUBusy[0] != 99 || nat.CPUBusy[1] != 91 {
		t.Errorf("ulvs-nat median CPU busy %v, want [99 91]", nat.CPUBusy)
	}
	want := map[string]float64{
		"ulvs-nat / null-forwarder": 0.85, "ulvs-dr / kernel-dnat": 1.8, "ulvs-tun / kernel-dnat-rps": 1.8,
		"ulvs-tun / null-ipip": 0.5,
	}
	got := map[string]float64{}
	for _, q := range rep.Ratios {
		got[q.Name] = q.Value
	}
	if len(got) != 10 {
		t.Errorf("%d ratios, want 10: %v", len(got), rep.Ratios)
	}
	for k, v := range want {
		if g := got[k]; g < v-1e-9 || g > v+1e-9 {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
	if r := rep.Result("nope"); r != nil {
		t.Errorf("Result of an unknown subject = %+v", r)
	}
}

// windowsOf is s's summarized result with one window per delivered rate.
func windowsOf(s Subject, delivered ...float64) SubjectResult {
	r := SubjectResult{Subject: s}
	for i, d := range delivered {
		r.Windows = append(r.Windows, Window{Run: i + 1, DeliveredPPS: d})
	}
	r.summarize()
	return r
}

// TestPairedRatio: the paired ratio takes each run's two windows together,
// so a run in which the whole machine was slow counts as one run, where the
// ratio of medians can pair a fast window with a slow one.
func TestPairedRatio(t *testing.T) {
	rep := &BenchReport{Results: []SubjectResult{windowsOf(ULVSNAT, 100, 900, 500), windowsOf(Null, 200, 1000, 400)}}
	rep.computeRatios()
	if len(rep.Ratios) != 1 {
		t.Fatalf("ratios %+v, want ulvs-nat / null-forwarder alone", rep.Ratios)
	}
	q := rep.Ratios[0]
	if q.Value != 500.0/400 || q.Paired != 0.9 || q.PairedMin != 0.5 || q.PairedMax != 1.25 {
		t.Errorf("ratio %+v, want value 1.25 and paired 0.9 (0.5-1.25)", q)
	}
}

func TestSubjectBinary(t *testing.T) {
	tests := []struct {
		s          Subject
		kind       Subject
		bin        string
		ulvs, good bool
	}{
		{ULVSDR, ULVSDR, "", true, true},
		{"ulvs-dr@/tmp/old/ulvs", ULVSDR, "/tmp/old/ulvs", true, true},
		{"ulvs-tun@b@c", ULVSTUN, "b@c", true, true},
		{"ulvs-nat@", ULVSNAT, "", true, false}, // no binary after @
		{"null-forwarder@/tmp/x", Null, "/tmp/x", false, false},
		{KernelDNAT, KernelDNAT, "", false, true},
		{"ulvs-fast@/tmp/x", "ulvs-fast", "/tmp/x", false, false},
	}
	for _, tc := range tests {
		if k, b, u, g := tc.s.Kind(), tc.s.Binary(), tc.s.IsULVS(), tc.s.valid(); k != tc.kind || b != tc.bin || u != tc.ulvs || g != tc.good {
			t.Errorf("%q: kind %q, binary %q, ulvs %v, valid %v; want %q, %q, %v, %v", tc.s, k, b, u, g, tc.kind, tc.bin, tc.ulvs, tc.good)
		}
	}
	if d := Subject("ulvs-dr@/tmp/old/ulvs").Describe(); d != "ulvs run, lb_kind DR, binary /tmp/old/ulvs" {
		t.Errorf("Describe = %q", d)
	}
}

// TestRatioOfTwoBuilds: a ulvs subject with a binary of its own is also
// compared with the same mode of the default binary, run by run.
func TestRatioOfTwoBuilds(t *testing.T) {
	old := Subject("ulvs-dr@/tmp/old")
	rep := &BenchReport{Results: []SubjectResult{windowsOf(ULVSDR, 100, 200), windowsOf(old, 50, 200), windowsOf(Null, 200, 200)}}
	rep.computeRatios()
	got := map[string]float64{}
	for _, q := range rep.Ratios {
		got[q.Name] = q.Paired
	}
	want := map[string]float64{"ulvs-dr / null-forwarder": 0.75, "ulvs-dr@/tmp/old / ulvs-dr": 0.75, "ulvs-dr@/tmp/old / null-forwarder": 0.625}
	if len(got) != len(want) {
		t.Errorf("ratios %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s paired = %v, want %v", k, got[k], v)
		}
	}
}

func TestReportOutputs(t *testing.T) {
	rep := sampleReport()
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, s := range AllSubjects() {
		if !strings.Contains(b.String(), string(s)) {
			t.Errorf("table lacks %s:\n%s", s, b.String())
		}
	}
	for _, want := range []string{"ulvs-nat / null-forwarder            0.850", "850.0 ( 800.0- 900.0)", "99/91"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	var js strings.Builder
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back BenchReport
	if err := json.Unmarshal([]byte(js.String()), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Results) != 7 || back.Results[0].Windows[0].DeliveredPPS != 800e3 || back.Results[0].DeliveredMax != 900e3 || len(back.Ratios) != 10 {
		t.Errorf("JSON round trip lost data: %s", js.String())
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if len(c.Subjects) != len(AllSubjects()) || c.Runs != 1 || c.Reals != 4 || c.SubjectCPU != 1 || c.GenCPU != 0 || c.Workers != 1 || c.Logger == nil {
		t.Errorf("defaults %+v", c)
	}
	c = Config{GenCPU: 1, SubjectCPU: 0}.withDefaults()
	if c.GenCPU != 1 || c.SubjectCPU != 0 {
		t.Errorf("explicit CPUs overridden: %+v", c)
	}
}

// TestReportCountOnly checks that a count-only report shows the checks it
// did not make as "-" rather than as zeros that read like clean results.
func TestReportCountOnly(t *testing.T) {
	tests := []struct {
		name      string
		countOnly bool
		want      []string
		notWant   []string
	}{
		{"verifying", false, []string{"generator and sinks on CPU0", "ulvs-nat              850.0     1000.0         0          0       0      0     0     -       0.0"}, []string{"not measured"}},
		{"count only", true, []string{"generator on CPU0, subject on CPU1", "ulvs-nat              850.0     1000.0         -          -       -      -     -     -         -         -         -     1000", "not measured"}, []string{"sinks on CPU0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := sampleReport()
			rep.Setup.CountOnly = tc.countOnly
			var table, svg strings.Builder
			if err := rep.WriteTable(&table); err != nil {
				t.Fatal(err)
			}
			if err := rep.WriteSVG(&svg); err != nil {
				t.Fatal(err)
			}
			out := table.String() + svg.String()
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestInterleavePairs(t *testing.T) {
	tests := []struct {
		subjects []Subject
		want     []Pair
	}{
		{AllSubjects(), []Pair{{ULVSNAT, Null}, {ULVSDR, Null}, {ULVSTUN, Null}, {ULVSTUN, NullIPIP}}},
		{[]Subject{ULVSTUN, Null}, []Pair{{ULVSTUN, Null}}},
		{[]Subject{"ulvs-dr@/tmp/old", ULVSDR}, []Pair{{"ulvs-dr@/tmp/old", Null}, {ULVSDR, Null}}},
		{[]Subject{Null, KernelDNAT}, nil},
	}
	for _, tt := range tests {
		if got := interleavePairs(tt.subjects); !slices.Equal(got, tt.want) {
			t.Errorf("interleavePairs(%q) = %v, want %v", tt.subjects, got, tt.want)
		}
	}
}

func TestPairResultSummary(t *testing.T) {
	// Adjacent slices share the host's speed: the ratio of each pair is
	// 0.9 however much the speed moves between rounds.
	p := PairResult{A: ULVSDR, B: Null,
		APPS: []float64{450, 900, 540, 630, 720},
		BPPS: []float64{500, 1000, 600, 700, 800}}
	p.summarize()
	if p.Name != "ulvs-dr / null-forwarder" || p.Rounds != 5 {
		t.Errorf("name %q, rounds %d", p.Name, p.Rounds)
	}
	if math.Abs(p.Ratio-0.9) > 1e-9 || math.Abs(p.RatioQ1-0.9) > 1e-9 || math.Abs(p.RatioQ3-0.9) > 1e-9 {
		t.Errorf("ratio %v (%v-%v), want 0.9 throughout", p.Ratio, p.RatioQ1, p.RatioQ3)
	}
	if p.MedianA != 630 || p.MedianB != 700 {
		t.Errorf("medians %v / %v, want 630 / 700", p.MedianA, p.MedianB)
	}
	for _, tt := range []struct{ q, want float64 }{{0, 1}, {0.25, 2}, {0.5, 3}, {0.75, 4}, {1, 5}, {0.125, 1.5}} {
		if got := quantile([]float64{1, 2, 3, 4, 5}, tt.q); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
}
