package bench

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
)

// PaceMode is how fast the generator sends.
type PaceMode int

// Pacing modes.
const (
	// PaceMax sends as fast as the generator can.
	PaceMax PaceMode = iota
	// PaceRate sends Rate packets per second.
	PaceRate
	// PaceRecorded replays a capture at its recorded pace times Speed.
	PaceRecorded
)

// Pace is the generator's sending speed.
type Pace struct {
	Mode  PaceMode
	Rate  float64 // PaceRate: packets per second
	Speed float64 // PaceRecorded: multiple of the recorded pace (1 = as recorded)
}

// ParsePace parses "max", "recorded", "x2.5" (a multiple of the recorded
// pace) or a packet rate ("50000", "50k", "1.2M" packets per second).
func ParsePace(s string) (Pace, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "max":
		return Pace{Mode: PaceMax}, nil
	case s == "recorded":
		return Pace{Mode: PaceRecorded, Speed: 1}, nil
	case strings.HasPrefix(s, "x"):
		v, err := strconv.ParseFloat(s[1:], 64)
		if err != nil || v <= 0 {
			return Pace{}, fmt.Errorf("bench: pace %q: a multiple of the recorded pace is x followed by a positive number, e.g. x2", s)
		}
		return Pace{Mode: PaceRecorded, Speed: v}, nil
	}
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"):
		mult, s = 1e3, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, s = 1e6, s[:len(s)-1]
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 {
		return Pace{}, fmt.Errorf("bench: pace %q: use max, recorded, xN (N times the recorded pace) or packets per second (50000, 50k, 1.2M)", s)
	}
	return Pace{Mode: PaceRate, Rate: v * mult}, nil
}

func (p Pace) String() string {
	switch p.Mode {
	case PaceRate:
		return fmt.Sprintf("%.0f pps", p.Rate)
	case PaceRecorded:
		if p.Speed == 1 {
			return "recorded pace"
		}
		return fmt.Sprintf("%gx recorded pace", p.Speed)
	}
	return "as fast as possible"
}

// Config configures Run. Zero values give the documented defaults.
type Config struct {
	// Binary is the ulvs binary the ulvs subjects run.
	Binary string
	// Subjects, in order; nil means AllSubjects.
	Subjects []Subject
	// Traffic is the source (Synthetic or LoadPcap); required.
	Traffic *Traffic
	// Pace is the sending speed (default as fast as possible).
	Pace Pace
	// Duration of one measured window (default 3 s), Warmup before it
	// (default 300 ms), Runs windows per subject (default 1).
	Duration, Warmup time.Duration
	Runs             int
	// Reals is the number of real servers (default 4).
	Reals int
	// Workers and GOMAXPROCS are ulvs's --workers and environment.
	Workers, GOMAXPROCS int
	// GenCPU and SubjectCPU are the pinned CPUs (defaults 0 and 1); the
	// sinks share the generator's CPU. NoPin leaves all to the scheduler.
	GenCPU, SubjectCPU int
	NoPin              bool
	// CountOnly skips the sinks: no frame is read in userspace, so the
	// generator keeps its CPU to itself and the offered load is the
	// generator's full speed. Delivered is then the real servers' ingress
	// counters alone; received, verified, failures, lost, duplicates,
	// reordering, wrong real and latency are not measured (zero, with
	// BenchSetup.CountOnly set). `make figures` measures this way.
	CountOnly bool
	// MaxFrames bounds the frames of one window (default 50 million).
	MaxFrames uint64
	// Interleave, when set, adds a side-by-side comparison after the
	// windows: every ulvs subject runs at the same time as the null
	// forwarder (and ulvs-tun as null-ipip, when that is a subject), each
	// on its own copy of the topology, and the generator feeds them in
	// turns of Interleave for Rounds rounds (default DefaultRounds); see
	// PairResult. It needs CountOnly.
	Interleave time.Duration
	Rounds     int
	// ProfileDir, if set, makes every ulvs subject write a Go CPU profile
	// there (ulvs run --cpuprofile), and the null forwarder one of its
	// relay: one file per subject and run.
	ProfileDir string
	// Logger receives progress events; nil discards.
	Logger *slog.Logger
	// Progress, if set, is called about four times a second during every
	// window.
	Progress func(Progress)
}

// Progress is the state of a running measurement.
type Progress struct {
	Subject Subject
	Index   int // subject number in this run, from 1
	Of      int // windows in the whole run
	Run     int
	Elapsed time.Duration
	Window  time.Duration
	Sent    uint64
	// Delivered is what the sinks have read so far in this window; always
	// 0 with Config.CountOnly, where nothing reads the frames.
	Delivered uint64
}

func (c Config) withDefaults() Config {
	if c.Subjects == nil {
		c.Subjects = AllSubjects()
	}
	if c.Duration <= 0 {
		c.Duration = 3 * time.Second
	}
	if c.Warmup <= 0 {
		c.Warmup = 300 * time.Millisecond
	}
	if c.Runs <= 0 {
		c.Runs = 1
	}
	if c.Reals <= 0 {
		c.Reals = 4
	}
	if c.Workers <= 0 {
		c.Workers = 1
	}
	if c.GenCPU == 0 && c.SubjectCPU == 0 {
		c.SubjectCPU = 1
	}
	if c.MaxFrames == 0 {
		c.MaxFrames = 50_000_000
	}
	if c.Interleave > 0 && c.Rounds <= 0 {
		c.Rounds = DefaultRounds
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Pace.Mode == PaceRecorded && c.Pace.Speed <= 0 {
		c.Pace.Speed = 1
	}
	return c
}

// rewriteOf is the rewrite the sinks expect from s.
func rewriteOf(s Subject) Rewrite {
	switch s.Kind() {
	case ULVSNAT, KernelDNAT, KernelDNATRPS:
		return RewriteNAT
	case ULVSDR:
		return RewriteDR
	case ULVSTUN, NullIPIP:
		return RewriteTUN
	}
	return RewriteNone
}

// Window is one measured window of one subject.
type Window struct {
	Run     int     `json:"run"`
	Seconds float64 `json:"seconds"`
	// Sent is what the generator queued, Offered what left the client's
	// interface, TargetPPS the paced rate (0 when as fast as possible).
	Sent       uint64  `json:"sent"`
	Offered    uint64  `json:"offered"`
	OfferedPPS float64 `json:"offered_pps"`
	TargetPPS  float64 `json:"target_pps"`
	// Delivered is what reached the real servers addressed to them
	// (kernel counters at their ingress); Received what the sinks read of
	// this window; Verified what passed every check. With
	// BenchSetup.CountOnly only Delivered is measured: Received, Verified,
	// Failures, SinkDrops, Lost, Duplicates, Reordered, WrongReal, Stale and
	// the latencies are zero because nothing read the frames.
	Delivered    uint64            `json:"delivered"`
	DeliveredPPS float64           `json:"delivered_pps"`
	Received     uint64            `json:"received"`
	Verified     uint64            `json:"verified"`
	Failures     map[string]uint64 `json:"failures"`
	// SinkDrops are frames the sinks' sockets overflowed on: delivered but
	// not verified.
	SinkDrops uint64 `json:"sink_drops"`
	// Lost = Sent - unique received - SinkDrops (never below zero).
	Lost       uint64 `json:"lost"`
	Duplicates uint64 `json:"duplicates"`
	Reordered  uint64 `json:"reordered"`
	// WrongReal counts packets of a flow that reached a second real server.
	WrongReal uint64 `json:"wrong_real"`
	// Stale are packets from before the window (warmup) seen during it.
	Stale uint64 `json:"stale"`
	// Latency percentiles in microseconds, generator to sink.
	LatencyP50  float64 `json:"latency_p50_us"`
	LatencyP99  float64 `json:"latency_p99_us"`
	LatencyP999 float64 `json:"latency_p999_us"`
	// SubjectCPUSeconds and SubjectNsPerPkt: the subject's on-CPU time
	// (ulvs process or relay thread); 0 for kernel subjects.
	SubjectCPUSeconds float64 `json:"subject_cpu_seconds"`
	SubjectNsPerPkt   float64 `json:"subject_ns_per_pkt"`
	GenNsPerPkt       float64 `json:"gen_ns_per_pkt"`
	// PeakMemoryBytes is the ulvs process's VmHWM; 0 for other subjects.
	PeakMemoryBytes uint64            `json:"peak_memory_bytes"`
	CPUBusy         []float64         `json:"cpu_busy_pct"`
	CPUSoftirq      []float64         `json:"cpu_softirq_pct"`
	Limit           string            `json:"limit"`
	Counters        map[string]uint64 `json:"counters"`

	hist Histogram
}

// SubjectResult is one subject's windows and summary.
type SubjectResult struct {
	Subject     Subject  `json:"subject"`
	Description string   `json:"description"`
	Rewrite     string   `json:"rewrite_checked"`
	FlowChecked bool     `json:"flow_consistency_checked"`
	Windows     []Window `json:"windows"`
	// Medians over the windows, and the delivered rate's range.
	DeliveredPPS float64 `json:"delivered_pps"`
	DeliveredMin float64 `json:"delivered_pps_min"`
	DeliveredMax float64 `json:"delivered_pps_max"`
	OfferedPPS   float64 `json:"offered_pps"`
	TargetPPS    float64 `json:"target_pps"`
	GenNsPerPkt  float64 `json:"gen_ns_per_pkt"`
	// CPUBusy is each CPU's median busy share in percent.
	CPUBusy []float64 `json:"cpu_busy_pct"`
	// Sums over the windows.
	Sent       uint64            `json:"sent"`
	Delivered  uint64            `json:"delivered"`
	Received   uint64            `json:"received"`
	Verified   uint64            `json:"verified"`
	Failures   map[string]uint64 `json:"failures"`
	SinkDrops  uint64            `json:"sink_drops"`
	Lost       uint64            `json:"lost"`
	Duplicates uint64            `json:"duplicates"`
	Reordered  uint64            `json:"reordered"`
	WrongReal  uint64            `json:"wrong_real"`
	// Latency over all windows, microseconds.
	LatencyP50      float64 `json:"latency_p50_us"`
	LatencyP99      float64 `json:"latency_p99_us"`
	LatencyP999     float64 `json:"latency_p999_us"`
	SubjectNsPerPkt float64 `json:"subject_ns_per_pkt"`
	PeakMemoryBytes uint64  `json:"peak_memory_bytes"`
	// Limit says what bounded the rate: "subject", "generator" or
	// "offered load" (a paced run below the subject's capacity).
	Limit string `json:"limit"`
}

// Ratio is one subject's median delivered rate over another's.
type Ratio struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	// Paired is the median over runs of the two subjects' ratio within
	// each run, and PairedMin and PairedMax that ratio's range. On a
	// machine whose speed drifts (a shared VM) it is the steadier figure:
	// the windows of one run are seconds apart, the medians of Value are
	// taken over the whole measurement.
	Paired    float64 `json:"paired"`
	PairedMin float64 `json:"paired_min"`
	PairedMax float64 `json:"paired_max"`
}

// Host describes the machine a report was measured on.
type Host struct {
	Kernel  string `json:"kernel"`
	CPUs    int    `json:"cpus"`
	Model   string `json:"cpu_model"`
	LoadAvg string `json:"loadavg_at_start"`
	Go      string `json:"go"`
}

// BenchSetup echoes what a bench run measured with.
type BenchSetup struct {
	Source      string  `json:"source"`
	Pace        string  `json:"pace"`
	Window      string  `json:"window"`
	Warmup      string  `json:"warmup"`
	Runs        int     `json:"runs"`
	Reals       int     `json:"reals"`
	Flows       int     `json:"flows"`
	Packets     int     `json:"packets_per_pass"`
	TCPPackets  int     `json:"tcp_packets_per_pass"`
	UDPPackets  int     `json:"udp_packets_per_pass"`
	SYNFlood    bool    `json:"syn_flood"`
	NewConnRate float64 `json:"new_conn_rate"`
	Workers     int     `json:"ulvs_workers"`
	GOMAXPROCS  int     `json:"ulvs_gomaxprocs"`
	GenCPU      int     `json:"gen_cpu"`
	SubjectCPU  int     `json:"subject_cpu"`
	Pinned      bool    `json:"pinned"`
	// CountOnly: delivered packets were counted at the real servers'
	// ingress and not read, so verification, loss, ordering and latency
	// were not measured (their fields are zero).
	CountOnly bool `json:"count_only"`
}

// BenchReport is the outcome of Run.
type BenchReport struct {
	Started time.Time       `json:"started"`
	Elapsed string          `json:"elapsed"`
	Host    Host            `json:"host"`
	Setup   BenchSetup      `json:"setup"`
	Results []SubjectResult `json:"results"`
	Ratios  []Ratio         `json:"ratios"`
	// Interleaved holds Config.Interleave's side-by-side comparisons.
	Interleaved []PairResult `json:"interleaved,omitempty"`
	Warnings    []string     `json:"warnings"`
}

// Result returns the result for s, or nil.
func (r *BenchReport) Result(s Subject) *SubjectResult {
	for i := range r.Results {
		if r.Results[i].Subject == s {
			return &r.Results[i]
		}
	}
	return nil
}

// summarize fills the summary fields from the windows.
func (res *SubjectResult) summarize() {
	var del, off, tgt, ns, gen []float64
	var busy [][]float64
	var hist Histogram
	res.Failures = map[string]uint64{}
	for _, name := range failureNames {
		res.Failures[name] = 0
	}
	limits := map[string]int{}
	for i := range res.Windows {
		w := &res.Windows[i]
		del, off, tgt, ns = append(del, w.DeliveredPPS), append(off, w.OfferedPPS), append(tgt, w.TargetPPS), append(ns, w.SubjectNsPerPkt)
		gen = append(gen, w.GenNsPerPkt)
		for c, b := range w.CPUBusy {
			if c == len(busy) {
				busy = append(busy, nil)
			}
			busy[c] = append(busy[c], b)
		}
		res.Sent += w.Sent
		res.Delivered += w.Delivered
		res.Received += w.Received
		res.Verified += w.Verified
		res.SinkDrops += w.SinkDrops
		res.Lost += w.Lost
		res.Duplicates += w.Duplicates
		res.Reordered += w.Reordered
		res.WrongReal += w.WrongReal
		for k, v := range w.Failures {
			res.Failures[k] += v
		}
		res.PeakMemoryBytes = max(res.PeakMemoryBytes, w.PeakMemoryBytes)
		hist.Merge(&w.hist)
		limits[w.Limit]++
	}
	res.DeliveredPPS, res.OfferedPPS, res.TargetPPS, res.SubjectNsPerPkt = median(del), median(off), median(tgt), median(ns)
	res.GenNsPerPkt = median(gen)
	if len(del) > 0 {
		res.DeliveredMin, res.DeliveredMax = slices.Min(del), slices.Max(del)
	}
	res.CPUBusy = make([]float64, len(busy))
	for c, b := range busy {
		res.CPUBusy[c] = median(b)
	}
	res.LatencyP50, res.LatencyP99, res.LatencyP999 = hist.Quantile(0.5)/1e3, hist.Quantile(0.99)/1e3, hist.Quantile(0.999)/1e3
	best := 0
	for k, n := range limits {
		if n > best || (n == best && k < res.Limit) {
			res.Limit, best = k, n
		}
	}
}

// limitOf says what bounded one window's rate.
func limitOf(w *Window) string {
	switch {
	case w.TargetPPS > 0 && w.OfferedPPS < 0.95*w.TargetPPS:
		return "generator"
	case w.Offered > 0 && float64(w.Delivered) < 0.98*float64(w.Offered):
		return "subject"
	case w.TargetPPS > 0:
		return "offered load"
	}
	return "generator"
}

// computeRatios sets every ulvs subject's median delivered rate over the
// null forwarder's (ulvs-tun's also over null-ipip's) and each kernel
// subject's, and a ulvs subject with a binary of its own over the same mode
// with the default binary; each also paired run by run.
func (r *BenchReport) computeRatios() {
	r.Ratios = []Ratio{}
	for i := range r.Results {
		n := &r.Results[i]
		if !n.Subject.IsULVS() {
			continue
		}
		dens := []Subject{Null, KernelDNAT, KernelDNATRPS}
		if n.Subject.Kind() == ULVSTUN {
			dens = slices.Insert(dens, 1, NullIPIP)
		}
		if n.Subject.Binary() != "" {
			dens = append([]Subject{n.Subject.Kind()}, dens...)
		}
		for _, den := range dens {
			if d := r.Result(den); d != nil && d.DeliveredPPS > 0 {
				r.Ratios = append(r.Ratios, ratioOf(n, d))
			}
		}
	}
}

// ratioOf is n's delivered rate over d's.
func ratioOf(n, d *SubjectResult) Ratio {
	q := Ratio{Name: fmt.Sprintf("%s / %s", n.Subject, d.Subject), Value: n.DeliveredPPS / d.DeliveredPPS}
	var per []float64
	for i := range min(len(n.Windows), len(d.Windows)) {
		if dw := d.Windows[i].DeliveredPPS; dw > 0 {
			per = append(per, n.Windows[i].DeliveredPPS/dw)
		}
	}
	if len(per) > 0 {
		q.Paired, q.PairedMin, q.PairedMax = median(per), slices.Min(per), slices.Max(per)
	}
	return q
}

// sumFailures is the number of failed verifications of every kind.
func sumFailures(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

// median is the middle of v (the mean of the two middle values for an even
// count), 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
