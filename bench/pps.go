package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Subject is one forwarder the throughput run measures.
type Subject string

// The subjects, in the order a run measures them.
const (
	// ULVSNAT, ULVSDR and ULVSTUN are `ulvs run` in the director namespace.
	ULVSNAT Subject = "ulvs-nat"
	ULVSDR  Subject = "ulvs-dr"
	ULVSTUN Subject = "ulvs-tun"
	// Null is afpacket.Relay from front0's RX ring to back0's TX ring with
	// only the MACs rewritten: the physical limit of ulvs's I/O path.
	Null Subject = "null-forwarder"
	// KernelDNAT is the director's own kernel forwarding with an nftables
	// DNAT rule (conntrack on). Its receive softirq runs on the generator's
	// CPU, as veth runs the receiver inline on the sender's CPU.
	KernelDNAT Subject = "kernel-dnat"
	// KernelDNATRPS is KernelDNAT with RPS steering front0's receive
	// processing to the subject CPU, so the kernel gets a core of its own as
	// ulvs does.
	KernelDNATRPS Subject = "kernel-dnat-rps"
)

// AllSubjects lists every subject in measuring order.
func AllSubjects() []Subject {
	return []Subject{ULVSNAT, ULVSDR, ULVSTUN, Null, KernelDNAT, KernelDNATRPS}
}

// IsULVS reports whether the subject runs the ulvs binary.
func (s Subject) IsULVS() bool { return s == ULVSNAT || s == ULVSDR || s == ULVSTUN }

// Describe says in a few words what the subject is.
func (s Subject) Describe() string {
	switch s {
	case ULVSNAT:
		return "ulvs run, lb_kind NAT"
	case ULVSDR:
		return "ulvs run, lb_kind DR"
	case ULVSTUN:
		return "ulvs run, lb_kind TUN (IPIP)"
	case Null:
		return "afpacket.Relay front0 RX ring -> back0 TX ring, MACs rewritten"
	case KernelDNAT:
		return "kernel ip_forward + nft dnat numgen inc, conntrack"
	case KernelDNATRPS:
		return "as kernel-dnat, front0 RPS to the subject CPU"
	}
	return string(s)
}

// Options configure RunPPS. Zero values give the documented defaults.
type Options struct {
	// Binary is the ulvs binary; required when an ulvs subject runs.
	Binary string
	// Subjects to measure; nil means AllSubjects.
	Subjects []Subject
	// Duration is one measured window (default 3 s).
	Duration time.Duration
	// Warmup is sent before every window, to create the flows and let the
	// subject resolve its neighbours (default 300 ms).
	Warmup time.Duration
	// Runs is the number of windows per subject; subjects are interleaved
	// run by run so that drifting background load hits all of them alike
	// (default 3).
	Runs int
	// Flows is the number of distinct UDP 5-tuples (default 10,000).
	Flows int
	// Reals is the number of real servers (sinks) (default 4).
	Reals int
	// Workers is ulvs's --workers (packet workers per interface) (default 1).
	Workers int
	// GOMAXPROCS, if non-zero, is set in ulvs's environment. Pinned to one
	// CPU, ulvs otherwise runs with GOMAXPROCS=1.
	GOMAXPROCS int
	// GenCPU and SubjectCPU are the CPUs the generator thread and the
	// subject are pinned to (defaults 0 and 1). NoPin leaves both to the
	// scheduler; pinning is also skipped on a one-CPU machine.
	GenCPU, SubjectCPU int
	NoPin              bool
	// MaxFrames bounds the frames one window sends (default 100 million).
	MaxFrames uint64
	// ProfileDir, if set, makes every ulvs subject write a Go CPU profile
	// there (ulvs run --cpuprofile), one file per subject and run.
	ProfileDir string
	// Logger receives progress; nil discards.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Subjects == nil {
		o.Subjects = AllSubjects()
	}
	if o.Duration <= 0 {
		o.Duration = 3 * time.Second
	}
	if o.Warmup <= 0 {
		o.Warmup = 300 * time.Millisecond
	}
	if o.Runs <= 0 {
		o.Runs = 3
	}
	if o.Flows <= 0 {
		o.Flows = 10000
	}
	if o.Reals <= 0 {
		o.Reals = 4
	}
	if o.Workers <= 0 {
		o.Workers = 1
	}
	if o.GenCPU == 0 && o.SubjectCPU == 0 {
		o.SubjectCPU = 1
	}
	if o.MaxFrames == 0 {
		o.MaxFrames = 100_000_000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Sample is one measured window of one subject.
type Sample struct {
	Run     int     `json:"run"`
	Seconds float64 `json:"seconds"`
	// Sent is what the generator queued; Offered what left the client's
	// interface (veth tx_packets + tx_dropped); Delivered what reached the
	// real servers' ingress addressed to them (sum of their nft counters).
	Sent         uint64  `json:"sent"`
	Offered      uint64  `json:"offered"`
	Delivered    uint64  `json:"delivered"`
	OfferedPPS   float64 `json:"offered_pps"`
	DeliveredPPS float64 `json:"delivered_pps"`
	// SubjectCPUSeconds is the on-CPU time of the subject's threads (ulvs
	// process, or the null forwarder's thread) during the window, from
	// schedstat; zero for the kernel subjects, whose work is softirq time
	// (see CPUBusy). Softirq work the subject's syscalls trigger may be
	// accounted to the IRQ time rather than the thread.
	SubjectCPUSeconds float64 `json:"subject_cpu_seconds"`
	SubjectNsPerPkt   float64 `json:"subject_ns_per_pkt"`
	// GenNsPerPkt is the generator thread's on-CPU time per offered frame.
	GenNsPerPkt float64 `json:"gen_ns_per_pkt"`
	// CPUBusy and CPUSoftirq are each CPU's busy and softirq shares in
	// percent over the window, host-wide (background load included).
	CPUBusy    []float64 `json:"cpu_busy_pct"`
	CPUSoftirq []float64 `json:"cpu_softirq_pct"`
	// Counters are the subject's own counters over its whole life (warmup
	// included): ulvs's loop report, the relay's ring statistics.
	Counters map[string]uint64 `json:"counters,omitempty"`
}

// Result is one subject's samples and their medians.
type Result struct {
	Subject      Subject  `json:"subject"`
	Description  string   `json:"description"`
	Samples      []Sample `json:"samples"`
	DeliveredPPS float64  `json:"delivered_pps_median"`
	DeliveredMin float64  `json:"delivered_pps_min"`
	DeliveredMax float64  `json:"delivered_pps_max"`
	OfferedPPS   float64  `json:"offered_pps_median"`
	// DeliveryRatio is delivered / offered (medians): below ~0.98 the
	// subject, not the generator, is the limit.
	DeliveryRatio   float64   `json:"delivery_ratio"`
	SubjectNsPerPkt float64   `json:"subject_ns_per_pkt_median"`
	GenNsPerPkt     float64   `json:"gen_ns_per_pkt_median"`
	CPUBusy         []float64 `json:"cpu_busy_pct_median"`
}

// Ratio is one subject's median delivered rate over another's.
type Ratio struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

// Host describes the machine a report was measured on.
type Host struct {
	Kernel  string `json:"kernel"`
	CPUs    int    `json:"cpus"`
	Model   string `json:"cpu_model"`
	LoadAvg string `json:"loadavg_at_start"`
	Go      string `json:"go"`
}

// Setup echoes the options a report was measured with.
type Setup struct {
	Duration   string `json:"window"`
	Warmup     string `json:"warmup"`
	Runs       int    `json:"runs"`
	Flows      int    `json:"flows"`
	Reals      int    `json:"reals"`
	FrameLen   int    `json:"frame_len"`
	Workers    int    `json:"ulvs_workers"`
	GOMAXPROCS int    `json:"ulvs_gomaxprocs,omitempty"`
	GenCPU     int    `json:"gen_cpu"`
	SubjectCPU int    `json:"subject_cpu"`
	Pinned     bool   `json:"pinned"`
}

// Report is the outcome of RunPPS.
type Report struct {
	Started  time.Time `json:"started"`
	Elapsed  string    `json:"elapsed"`
	Host     Host      `json:"host"`
	Setup    Setup     `json:"setup"`
	Results  []Result  `json:"results"`
	Ratios   []Ratio   `json:"ratios"`
	Warnings []string  `json:"warnings,omitempty"`
}

// Result returns the result for s, or nil.
func (r *Report) Result(s Subject) *Result {
	for i := range r.Results {
		if r.Results[i].Subject == s {
			return &r.Results[i]
		}
	}
	return nil
}

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

// summarize fills the medians from the samples.
func (res *Result) summarize() {
	var del, off, ns, gen []float64
	var busy [][]float64
	for _, s := range res.Samples {
		del = append(del, s.DeliveredPPS)
		off = append(off, s.OfferedPPS)
		ns = append(ns, s.SubjectNsPerPkt)
		gen = append(gen, s.GenNsPerPkt)
		for c, b := range s.CPUBusy {
			if c >= len(busy) {
				busy = append(busy, nil)
			}
			busy[c] = append(busy[c], b)
		}
	}
	res.DeliveredPPS, res.OfferedPPS = median(del), median(off)
	res.SubjectNsPerPkt, res.GenNsPerPkt = median(ns), median(gen)
	if len(del) > 0 {
		res.DeliveredMin, res.DeliveredMax = slices.Min(del), slices.Max(del)
	}
	if res.OfferedPPS > 0 {
		res.DeliveryRatio = res.DeliveredPPS / res.OfferedPPS
	}
	res.CPUBusy = nil
	for _, b := range busy {
		res.CPUBusy = append(res.CPUBusy, median(b))
	}
}

// computeRatios sets every ulvs subject's rate over the null forwarder's
// and over each kernel subject's.
func (r *Report) computeRatios() {
	r.Ratios = nil
	for _, num := range []Subject{ULVSNAT, ULVSDR, ULVSTUN} {
		n := r.Result(num)
		if n == nil {
			continue
		}
		for _, den := range []Subject{Null, KernelDNAT, KernelDNATRPS} {
			d := r.Result(den)
			if d == nil || d.DeliveredPPS == 0 {
				continue
			}
			r.Ratios = append(r.Ratios, Ratio{Name: fmt.Sprintf("%s / %s", num, den), Value: n.DeliveredPPS / d.DeliveredPPS})
		}
	}
}

// WriteTable writes the report as a human-readable table.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	gmp := ""
	if r.Setup.GOMAXPROCS > 0 {
		gmp = fmt.Sprintf(" GOMAXPROCS=%d", r.Setup.GOMAXPROCS)
	}
	fmt.Fprintf(&b, "Forwarding throughput: %d-byte UDP frames (64 on the wire), %d flows, %d real servers, %d x %s windows (+%s warmup), ulvs --workers %d%s\n",
		r.Setup.FrameLen, r.Setup.Flows, r.Setup.Reals, r.Setup.Runs, r.Setup.Duration, r.Setup.Warmup, r.Setup.Workers, gmp)
	pin := "unpinned"
	if r.Setup.Pinned {
		pin = fmt.Sprintf("generator on CPU%d, subject on CPU%d", r.Setup.GenCPU, r.Setup.SubjectCPU)
	}
	fmt.Fprintf(&b, "host: %s, %d CPUs (%s), kernel %s, load average at start %s; %s\n\n",
		r.Host.Model, r.Host.CPUs, r.Host.Go, r.Host.Kernel, r.Host.LoadAvg, pin)
	fmt.Fprintf(&b, "%-16s %22s %12s %9s %13s %11s %s\n", "subject", "delivered kpps (range)", "offered kpps", "deliv/off", "subject ns/pkt", "gen ns/pkt", "CPU busy %")
	for _, res := range r.Results {
		busy := make([]string, len(res.CPUBusy))
		for i, v := range res.CPUBusy {
			busy[i] = fmt.Sprintf("%.0f", v)
		}
		nsPkt := "-"
		if res.SubjectNsPerPkt > 0 {
			nsPkt = fmt.Sprintf("%.0f", res.SubjectNsPerPkt)
		}
		fmt.Fprintf(&b, "%-16s %7.0f (%5.0f-%5.0f) %12.0f %9.3f %13s %11.0f %s\n", res.Subject,
			res.DeliveredPPS/1e3, res.DeliveredMin/1e3, res.DeliveredMax/1e3, res.OfferedPPS/1e3,
			res.DeliveryRatio, nsPkt, res.GenNsPerPkt, strings.Join(busy, "/"))
	}
	if len(r.Ratios) > 0 {
		b.WriteString("\nratios of median delivered rates:\n")
		for _, q := range r.Ratios {
			fmt.Fprintf(&b, "  %-36s %.3f\n", q.Name, q.Value)
		}
	}
	for _, wn := range r.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", wn)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as indented JSON to path.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
