package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"
)

func TestParseRates(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"1k,10k,100k,max", []string{"1k", "10k", "100k", "max"}},
		{"max, 100k ,1k", []string{"1k", "100k", "max"}},
		{"2.5M,500", []string{"500", "2.5M"}},
		{"12500", []string{"12.5k"}},
		{"max", []string{"max"}},
		{"10k,idle,1k", []string{"idle", "1k", "10k"}},
		{"max,0", []string{"idle", "max"}},
	}
	for _, tc := range tests {
		got, err := ParseRates(tc.in)
		if err != nil {
			t.Errorf("ParseRates(%q): %v", tc.in, err)
			continue
		}
		var names []string
		for _, p := range got {
			names = append(names, rateName(p))
		}
		if strings.Join(names, ",") != strings.Join(tc.want, ",") {
			t.Errorf("ParseRates(%q) = %v, want %v", tc.in, names, tc.want)
		}
	}
	for in, why := range map[string]string{
		"":            "empty",
		"1k,,10k":     "an empty rate",
		"1k,1000":     "the same rate twice",
		"max,max":     "max twice",
		"recorded":    "a capture's pace",
		"x2":          "a multiple of a capture's pace",
		"idle,0":      "idle twice",
		"0.0":         "a zero rate not spelt idle",
		"10k,fast":    "a word",
		"-1k":         "a negative rate",
		"1k;10k":      "the wrong separator",
		"1k,10k,max,": "a trailing comma",
	} {
		if _, err := ParseRates(in); err == nil {
			t.Errorf("ParseRates(%q) succeeded; want an error for %s", in, why)
		}
	}
}

// sweepWindow is a window of one subject at one rate with the given
// latencies (microseconds), one packet each.
func sweepWindow(target, offered, delivered, cpuSecs float64, lat ...float64) Window {
	w := Window{Run: 1, Seconds: 1, TargetPPS: target, OfferedPPS: offered, DeliveredPPS: delivered, Sent: uint64(offered),
		Offered: uint64(offered), Delivered: uint64(delivered), Verified: uint64(len(lat)), Received: uint64(len(lat)),
		SubjectCPUSeconds: cpuSecs}
	for _, l := range lat {
		w.hist.Add(uint32(l * 1e3))
	}
	w.Limit = limitOf(&w)
	return w
}

// sampleSweep is a summarized two-rate sweep of ulvs-nat, the null
// forwarder and kernel DNAT.
func sampleSweep() *SweepReport {
	rep := &SweepReport{Rates: []string{"1k", "max"}, Notes: []string{queueingNote}, Warnings: []string{},
		Setup: BenchSetup{Source: "synthetic: 100 flows", Window: "1s", Warmup: "300ms", Runs: 1, Reals: 2, Workers: 1}}
	mk := func(s Subject, cpu float64, lat1k, latMax float64) SweepResult {
		r := SweepResult{Subject: s, Description: s.Describe()}
		lo := SubjectResult{Subject: s, Windows: []Window{sweepWindow(1000, 1000, 1000, cpu, lat1k, lat1k, lat1k, 2*lat1k)}}
		hi := SubjectResult{Subject: s, Windows: []Window{sweepWindow(0, 150e3, 140e3, 10*cpu, latMax, latMax, 2*latMax)}}
		r.Points = []SweepPoint{sweepPoint(Pace{Mode: PaceRate, Rate: 1000}, &lo), sweepPoint(Pace{Mode: PaceMax}, &hi)}
		return r
	}
	rep.Results = []SweepResult{mk(ULVSNAT, 0.05, 1000, 100e3), mk(Null, 0.02, 900, 200e3), mk(KernelDNAT, 0, 50, 3000)}
	rep.computeRatios()
	return rep
}

func TestSweepPoint(t *testing.T) {
	rep := sampleSweep()
	nat := rep.Results[0]
	lo, hi := nat.Points[0], nat.Points[1]
	if lo.Rate != "1k" || lo.TargetPPS != 1000 || lo.Queueing || lo.Limit != "offered load" {
		t.Errorf("ulvs-nat at 1k: rate %q target %v queueing %v limit %q; want 1k, 1000, not queueing, offered load", lo.Rate, lo.TargetPPS, lo.Queueing, lo.Limit)
	}
	if math.Abs(lo.LatencyP50-1000)/1000 > 0.07 || math.Abs(lo.LatencyP999-2000)/2000 > 0.07 || lo.Samples != 4 {
		t.Errorf("ulvs-nat at 1k: p50 %v p99.9 %v over %d samples; want ~1000, ~2000 over 4", lo.LatencyP50, lo.LatencyP999, lo.Samples)
	}
	if math.Abs(lo.SubjectCPUPct-5) > 1e-9 || math.Abs(hi.SubjectCPUPct-50) > 1e-9 {
		t.Errorf("ulvs-nat CPU %v%% and %v%% of a core; want 5 and 50", lo.SubjectCPUPct, hi.SubjectCPUPct)
	}
	if hi.Rate != "max" || !hi.Queueing || hi.xOf() != 150e3 {
		t.Errorf("ulvs-nat at max: rate %q queueing %v x %v; want max, queueing, at the offered 150k", hi.Rate, hi.Queueing, hi.xOf())
	}
	if k := rep.Results[2].Points[0]; k.SubjectCPUPct != 0 {
		t.Errorf("kernel-dnat has a subject CPU share %v; its work is softirq and not attributable", k.SubjectCPUPct)
	}
	// Idle: one packet, not queueing, not drawn on the load axis.
	idle := SubjectResult{Windows: []Window{sweepWindow(0, 1, 1, 0.003, 40)}}
	if p := sweepPoint(Pace{Mode: PaceRate}, &idle); p.Rate != "idle" || p.Queueing || p.Limit != "idle" || p.xOf() != 0 || math.Abs(p.SubjectCPUPct-0.3) > 1e-9 {
		t.Errorf("idle point %+v; want rate idle, limit idle, not queueing, x 0, 0.3%% CPU", p)
	}
	// A paced rate the subject could not carry is queueing too.
	over := SubjectResult{Windows: []Window{sweepWindow(100e3, 100e3, 50e3, 1, 5000)}}
	if p := sweepPoint(Pace{Mode: PaceRate, Rate: 100e3}, &over); !p.Queueing || p.Limit != "subject" {
		t.Errorf("a subject delivering half of the offered rate: queueing %v, limit %q; want queueing, subject", p.Queueing, p.Limit)
	}
}

func TestSweepRatios(t *testing.T) {
	rep := sampleSweep()
	// A second build of ulvs-nat is compared with the first, then with the kernel.
	other := sampleSweep().Results[0]
	other.Subject = ULVSNAT + "@/tmp/new/ulvs"
	other.Points[0].LatencyP50, other.Points[0].LatencyP99 = 100, 400
	rep.Results = append(rep.Results, other)
	rep.computeRatios()
	var names []string
	for _, q := range rep.Ratios {
		names = append(names, q.Name+" "+q.Rate)
	}
	want := "ulvs-nat / kernel-dnat 1k,ulvs-nat / kernel-dnat max,ulvs-nat@/tmp/new/ulvs / ulvs-nat 1k,ulvs-nat@/tmp/new/ulvs / ulvs-nat max," +
		"ulvs-nat@/tmp/new/ulvs / kernel-dnat 1k,ulvs-nat@/tmp/new/ulvs / kernel-dnat max"
	if strings.Join(names, ",") != want {
		t.Errorf("ratios %q, want %q", strings.Join(names, ","), want)
	}
	if q := rep.Ratios[2]; math.Abs(q.P50-0.1)/0.1 > 0.1 {
		t.Errorf("new build / old build at 1k: p50 ratio %v, want about 0.1", q.P50)
	}
	rep = sampleSweep()
	if len(rep.Ratios) != 2 {
		t.Fatalf("%d ratios %+v; want ulvs-nat / kernel-dnat at 1k and at max", len(rep.Ratios), rep.Ratios)
	}
	q := rep.Ratios[0]
	if q.Name != "ulvs-nat / kernel-dnat" || q.Rate != "1k" || math.Abs(q.P50-20)/20 > 0.1 {
		t.Errorf("ratio %+v; want ulvs-nat / kernel-dnat at 1k, p50 about 20", q)
	}
}

func TestSweepTableAndJSON(t *testing.T) {
	rep := sampleSweep()
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"--latency-sweep 1k,max", "(queueing)", "not the time the subject takes to forward it", "ulvs-nat / kernel-dnat"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "(queueing)"); n != 3 {
		t.Errorf("%d rows marked queueing, want the 3 at max:\n%s", n, out)
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Rates   []string `json:"rates"`
		Notes   []string `json:"notes"`
		Results []struct {
			Subject string           `json:"subject"`
			Points  []map[string]any `json:"points"`
		} `json:"results"`
		Ratios []map[string]any `json:"ratios"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Rates) != 2 || len(doc.Notes) != 1 || len(doc.Results) != 3 || len(doc.Ratios) != 2 {
		t.Fatalf("JSON: %d rates, %d notes, %d results, %d ratios; want 2, 1, 3, 2", len(doc.Rates), len(doc.Notes), len(doc.Results), len(doc.Ratios))
	}
	for _, k := range []string{"rate", "target_pps", "offered_pps", "delivered_pps", "verified", "lost", "latency_p50_us", "latency_p99_us",
		"latency_p999_us", "latency_samples", "subject_cpu_pct", "limit", "queueing", "windows"} {
		if _, ok := doc.Results[0].Points[0][k]; !ok {
			t.Errorf("JSON point lacks %q", k)
		}
	}
	if doc.Results[0].Points[1]["queueing"] != true {
		t.Errorf("JSON: the max point is not marked queueing: %v", doc.Results[0].Points[1])
	}
}

// svgElem is what the SVG test reads of the plot.
type svgElem struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Kids    []svgElem  `xml:",any"`
}

func (e *svgElem) attr(name string) string {
	for _, a := range e.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (e *svgElem) walk(fn func(*svgElem)) {
	fn(e)
	for i := range e.Kids {
		e.Kids[i].walk(fn)
	}
}

func TestSweepSVG(t *testing.T) {
	rep := sampleSweep()
	var b bytes.Buffer
	if err := rep.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	var root svgElem
	if err := xml.NewDecoder(&b).Decode(&root); err != nil {
		t.Fatalf("the plot is not well-formed XML: %v", err)
	}
	var lines, filled, hollow int
	var texts []string
	root.walk(func(e *svgElem) {
		switch e.XMLName.Local {
		case "polyline":
			lines++
		case "circle":
			if e.attr("fill") == "white" {
				hollow++
			} else {
				filled++
			}
		case "text":
			texts = append(texts, strings.TrimSpace(e.Text))
		}
	})
	// Three subjects in three panels; each has a filled and a hollow
	// point per panel, plus one filled marker in the legend.
	if lines != 9 || hollow != 9 || filled != 9+3 {
		t.Errorf("%d lines, %d hollow and %d filled markers; want 9, 9 and 12", lines, hollow, filled)
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{"p50", "p99", "p99.9", "offered load (packets/s)", "latency", "1k", "100k", "1M", "10 µs", "1 ms", "1 s",
		"ulvs-nat", "null-forwarder", "kernel-dnat", "queueing"} {
		if !strings.Contains(all, want) {
			t.Errorf("the plot has no text %q (texts: %s)", want, all)
		}
	}
	// The log scale: 1k, 10k and 100k are equally spaced on every panel,
	// and a point at 150 kpps sits between 100k and 1M.
	a := newLogAxis(1000, 150e3, 100, 400)
	if a.lo != 3 || a.hi != 6 || math.Abs(a.px(1e4)-200) > 1e-9 || math.Abs(a.px(1e5)-300) > 1e-9 {
		t.Errorf("log axis %+v: 10k at %v, 100k at %v; want decades 3..6, 200 and 300", a, a.px(1e4), a.px(1e5))
	}
	if x := a.px(150e3); x <= 300 || x >= 400 {
		t.Errorf("150k at %v, not between 100k (300) and 1M (400)", x)
	}
	if got := newLogAxis(500, 500, 0, 1); got.hi <= got.lo {
		t.Errorf("a single value gives an empty axis %+v", got)
	}
	for in, want := range map[float64]string{5: "5 µs", 10: "10 µs", 1000: "1 ms", 2.5e5: "250 ms", 1e6: "1 s"} {
		if got := latencyLabel(in); got != want {
			t.Errorf("latencyLabel(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestSweepSVGEmpty(t *testing.T) {
	rep := &SweepReport{Results: []SweepResult{{Subject: ULVSNAT, Points: []SweepPoint{{Rate: "1k", TargetPPS: 1000}}}}}
	var b bytes.Buffer
	if err := rep.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "no latency was measured") {
		t.Errorf("a sweep without latencies draws no note:\n%s", b.String())
	}
	if err := xml.NewDecoder(&b).Decode(new(svgElem)); err != nil && err != io.EOF {
		t.Errorf("not well-formed: %v", err)
	}
}
