package bench

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// ParseRates parses a latency sweep's offered rates: a comma-separated
// list of packet rates ("1k", "10k", "2.5M", "5000"), "max" (as fast as
// the generator can) and "idle" (or "0": one packet at the start of the
// window, then nothing, for the CPU an idle subject uses and the latency
// of a lone packet). They come back in increasing order with max last;
// a rate given twice, or none, is an error.
func ParseRates(s string) ([]Pace, error) {
	var out []Pace
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		p, err := ParsePace(f)
		if f == "idle" || f == "0" {
			p, err = Pace{Mode: PaceRate}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("bench: latency sweep rate %q: use packets per second (1k, 10k, 2.5M), idle or max", f)
		}
		if p.Mode == PaceRecorded {
			return nil, fmt.Errorf("bench: latency sweep rate %q: a sweep offers synthetic traffic at fixed rates; use packets per second or max", f)
		}
		if slices.Contains(out, p) {
			return nil, fmt.Errorf("bench: latency sweep rate %q is given twice", f)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, errors.New("bench: the latency sweep needs at least one rate, e.g. 1k,10k,100k,max")
	}
	slices.SortFunc(out, func(a, b Pace) int {
		if a.Mode != b.Mode {
			return cmp.Compare(b.Mode, a.Mode) // PaceRate (1) before PaceMax (0)
		}
		return cmp.Compare(a.Rate, b.Rate)
	})
	return out, nil
}

// rateName is how a sweep names a rate: "idle", "1k", "12.5k", "2M", "max".
func rateName(p Pace) string {
	if p.Mode == PaceMax {
		return "max"
	}
	if p.Rate == 0 {
		return "idle"
	}
	return rateLabel(p.Rate)
}

// queueingNote is what a sweep says of its saturated points.
const queueingNote = "at max pace (and wherever a subject delivered less than 98% of what was offered) the queues are full: the latency there is the time a frame waits in full rings and socket buffers, not the time the subject takes to forward it"

// SweepPoint is one subject at one offered rate.
type SweepPoint struct {
	// Rate is the offered rate as given ("10k", "max", "idle": one packet
	// per window); TargetPPS the paced rate (0 at max and idle); OfferedPPS
	// and DeliveredPPS the medians measured.
	Rate         string  `json:"rate"`
	TargetPPS    float64 `json:"target_pps"`
	OfferedPPS   float64 `json:"offered_pps"`
	DeliveredPPS float64 `json:"delivered_pps"`
	Sent         uint64  `json:"sent"`
	Delivered    uint64  `json:"delivered"`
	Verified     uint64  `json:"verified"`
	Failed       uint64  `json:"failed"`
	Lost         uint64  `json:"lost"`
	SinkDrops    uint64  `json:"sink_drops"`
	// Latency generator to real server over every window, microseconds;
	// Samples is how many packets it was measured on.
	LatencyP50  float64 `json:"latency_p50_us"`
	LatencyP99  float64 `json:"latency_p99_us"`
	LatencyP999 float64 `json:"latency_p999_us"`
	Samples     uint64  `json:"latency_samples"`
	// SubjectCPUPct is the subject's median on-CPU time in percent of one
	// core (ulvs process or null forwarder thread); 0 for the kernel
	// subjects, whose work is softirq on whichever CPU.
	SubjectCPUPct float64 `json:"subject_cpu_pct"`
	Limit         string  `json:"limit"`
	// Queueing is set where the latency is queueing (see queueingNote).
	Queueing bool     `json:"queueing"`
	Windows  []Window `json:"windows"`
}

// SweepResult is one subject's points, in increasing offered rate.
type SweepResult struct {
	Subject     Subject      `json:"subject"`
	Description string       `json:"description"`
	Points      []SweepPoint `json:"points"`
}

// SweepRatio compares a ulvs subject's latency with a kernel subject's at
// one rate: P50 is the ratio of the medians, P99 of the 99th percentiles.
type SweepRatio struct {
	Name string  `json:"name"`
	Rate string  `json:"rate"`
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
}

// SweepReport is the outcome of RunSweep.
type SweepReport struct {
	Started  time.Time     `json:"started"`
	Elapsed  string        `json:"elapsed"`
	Host     Host          `json:"host"`
	Setup    BenchSetup    `json:"setup"`
	Rates    []string      `json:"rates"`
	Results  []SweepResult `json:"results"`
	Ratios   []SweepRatio  `json:"ratios"`
	Notes    []string      `json:"notes"`
	Warnings []string      `json:"warnings"`
}

// sweepPoint summarizes a subject's windows at one rate.
func sweepPoint(rate Pace, res *SubjectResult) SweepPoint {
	res.summarize()
	p := SweepPoint{Rate: rateName(rate), TargetPPS: res.TargetPPS, OfferedPPS: res.OfferedPPS, DeliveredPPS: res.DeliveredPPS,
		Sent: res.Sent, Delivered: res.Delivered, Verified: res.Verified, Failed: sumFailures(res.Failures), Lost: res.Lost,
		SinkDrops: res.SinkDrops, LatencyP50: res.LatencyP50, LatencyP99: res.LatencyP99, LatencyP999: res.LatencyP999,
		Samples: res.Verified, Limit: res.Limit, Windows: res.Windows}
	var cpu []float64
	for _, w := range res.Windows {
		if w.Seconds > 0 && w.SubjectCPUSeconds > 0 {
			cpu = append(cpu, 100*w.SubjectCPUSeconds/w.Seconds)
		}
	}
	p.SubjectCPUPct = median(cpu)
	p.Queueing = rate.Mode == PaceMax || res.Limit == "subject"
	if isIdle(rate) {
		p.Limit, p.Queueing = "idle", false
	}
	return p
}

// isIdle reports whether p is the sweep's idle rate: the generator sends
// one packet when the window opens (PaceRate's first packet is due at
// once) and then nothing.
func isIdle(p Pace) bool { return p.Mode == PaceRate && p.Rate == 0 }

// point returns r's point at rate, or nil.
func (r *SweepResult) point(rate string) *SweepPoint {
	for i := range r.Points {
		if r.Points[i].Rate == rate {
			return &r.Points[i]
		}
	}
	return nil
}

// computeRatios compares every ulvs subject's latency with kernel DNAT's
// (and kernel-dnat-rps's) at every rate both measured, and a ulvs subject
// with a binary of its own (ulvs-nat@PATH) with the same mode of the
// default binary: before and after a change, in one run.
func (r *SweepReport) computeRatios() {
	r.Ratios = []SweepRatio{}
	for i := range r.Results {
		u := &r.Results[i]
		if !u.Subject.IsULVS() {
			continue
		}
		for j := range r.Results {
			k := &r.Results[j]
			same := u.Subject.Binary() != "" && k.Subject == u.Subject.Kind()
			if k.Subject != KernelDNAT && k.Subject != KernelDNATRPS && !same {
				continue
			}
			for _, rate := range r.Rates {
				a, b := u.point(rate), k.point(rate)
				if a == nil || b == nil || b.LatencyP50 <= 0 || b.LatencyP99 <= 0 {
					continue
				}
				r.Ratios = append(r.Ratios, SweepRatio{Name: fmt.Sprintf("%s / %s", u.Subject, k.Subject), Rate: rate,
					P50: a.LatencyP50 / b.LatencyP50, P99: a.LatencyP99 / b.LatencyP99})
			}
		}
	}
}

// WriteTable writes the sweep as a table: one block per subject, one row
// per rate.
func (r *SweepReport) WriteTable(w io.Writer) error {
	var b strings.Builder
	s := r.Setup
	fmt.Fprintf(&b, "ulvs bench --latency-sweep %s: %s\n%d x %s windows per subject and rate (+%s warmup), %d real servers, ulvs --workers %d\n",
		strings.Join(r.Rates, ","), s.Source, s.Runs, s.Window, s.Warmup, s.Reals, s.Workers)
	fmt.Fprintf(&b, "host: %s, %d CPUs, kernel %s, %s, load average at start %s\n", r.Host.Model, r.Host.CPUs, r.Host.Kernel, r.Host.Go, r.Host.LoadAvg)
	b.WriteString("one-way latency, generator to real server, every delivered packet verified and timed\n\n")
	nw := 16
	for _, res := range r.Results {
		nw = max(nw, len(res.Subject))
	}
	fmt.Fprintf(&b, "%-*s %6s %10s %10s %9s %6s %9s %9s %9s %6s  %s\n", nw, "subject", "rate", "offer kpps", "deliv kpps",
		"verified", "lost", "p50 us", "p99 us", "p99.9 us", "cpu %", "limit")
	for _, res := range r.Results {
		for _, p := range res.Points {
			cpu := "-"
			if p.SubjectCPUPct > 0 {
				cpu = fmt.Sprintf("%.1f", p.SubjectCPUPct)
			}
			mark := ""
			if p.Queueing {
				mark = " (queueing)"
			}
			fmt.Fprintf(&b, "%-*s %6s %10.1f %10.1f %9d %6d %9.1f %9.1f %9.1f %6s  %s%s\n", nw, res.Subject, p.Rate, p.OfferedPPS/1e3,
				p.DeliveredPPS/1e3, p.Verified, p.Lost, p.LatencyP50, p.LatencyP99, p.LatencyP999, cpu, p.Limit, mark)
		}
	}
	if len(r.Ratios) > 0 {
		b.WriteString("\nlatency ratios, same rate, same run: p50  p99\n")
		qw := 0
		for _, q := range r.Ratios {
			qw = max(qw, len(q.Name))
		}
		for _, q := range r.Ratios {
			fmt.Fprintf(&b, "  %-*s %6s  %6.2f %6.2f\n", qw, q.Name, q.Rate, q.P50, q.P99)
		}
	}
	return writeNotes(w, &b, r.Notes, r.Warnings)
}

// writeNotes ends a table in b with its notes and warnings and writes it.
func writeNotes(w io.Writer, b *strings.Builder, notes, warnings []string) error {
	for _, n := range notes {
		fmt.Fprintf(b, "note: %s\n", n)
	}
	for _, wn := range warnings {
		fmt.Fprintf(b, "warning: %s\n", wn)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the sweep as indented JSON.
func (r *SweepReport) WriteJSON(w io.Writer) error { return writeJSON(w, r) }
