package bench

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// WriteTable writes the report as a human-readable table.
func (r *BenchReport) WriteTable(w io.Writer) error {
	var b strings.Builder
	s := r.Setup
	fmt.Fprintf(&b, "ulvs bench: %s\n%d flows, %d packets per pass (%d TCP, %d UDP), %s, %d x %s windows (+%s warmup), %d real servers, ulvs --workers %d\n",
		s.Source, s.Flows, s.Packets, s.TCPPackets, s.UDPPackets, s.Pace, s.Runs, s.Window, s.Warmup, s.Reals, s.Workers)
	pin := "unpinned"
	if s.Pinned {
		pin = fmt.Sprintf("generator and sinks on CPU%d, subject on CPU%d", s.GenCPU, s.SubjectCPU)
		if s.CountOnly {
			pin = fmt.Sprintf("generator on CPU%d, subject on CPU%d", s.GenCPU, s.SubjectCPU)
		}
	}
	fmt.Fprintf(&b, "host: %s, %d CPUs, kernel %s, %s, load average at start %s; %s\n\n", r.Host.Model, r.Host.CPUs, r.Host.Kernel, r.Host.Go, r.Host.LoadAvg, pin)
	// Names are padded to the longest: a subject can name a binary.
	nw := 16 // the width from before subjects could name a binary
	for _, res := range r.Results {
		nw = max(nw, len(res.Subject))
	}
	qw := 36
	for _, q := range r.Ratios {
		qw = max(qw, len(q.Name))
	}
	fmt.Fprintf(&b, "%-*s %10s %10s %9s %10s %7s %6s %5s %5s %9s %9s %9s %8s %8s  %s\n",
		nw, "subject", "deliv kpps", "offer kpps", "verified", "failed", "lost", "dups", "reord", "wrong", "p50 us", "p99 us", "p99.9 us", "ns/pkt", "peak MiB", "limit")
	for _, res := range r.Results {
		ns, mem := "-", "-"
		if res.SubjectNsPerPkt > 0 {
			ns = fmt.Sprintf("%.0f", res.SubjectNsPerPkt)
		}
		if res.PeakMemoryBytes > 0 {
			mem = fmt.Sprintf("%.1f", float64(res.PeakMemoryBytes)/(1<<20))
		}
		wrong := "-"
		if res.FlowChecked {
			wrong = fmt.Sprint(res.WrongReal)
		}
		// Count-only runs read no frame: their checks show as "-", not 0.
		checks := []string{"-", "-", "-", "-", "-", "-", "-", "-"}
		if !s.CountOnly {
			checks = []string{fmt.Sprint(res.Verified), fmt.Sprint(sumFailures(res.Failures)), fmt.Sprint(res.Lost),
				fmt.Sprint(res.Duplicates), fmt.Sprint(res.Reordered), fmt.Sprintf("%.1f", res.LatencyP50),
				fmt.Sprintf("%.1f", res.LatencyP99), fmt.Sprintf("%.1f", res.LatencyP999)}
		}
		fmt.Fprintf(&b, "%-*s %10.1f %10.1f %9s %10s %7s %6s %5s %5s %9s %9s %9s %8s %8s  %s\n",
			nw, res.Subject, res.DeliveredPPS/1e3, res.OfferedPPS/1e3, checks[0], checks[1], checks[2],
			checks[3], checks[4], wrong, checks[5], checks[6], checks[7], ns, mem, res.Limit)
	}
	if len(r.Results) > 0 {
		fmt.Fprintf(&b, "\n%-*s %26s %10s  %s\n", nw, "subject", "deliv kpps median (range)", "gen ns/pkt", "CPU busy % (median)")
		for _, res := range r.Results {
			busy := make([]string, len(res.CPUBusy))
			for i, v := range res.CPUBusy {
				busy[i] = fmt.Sprintf("%.0f", v)
			}
			fmt.Fprintf(&b, "%-*s %10.1f (%6.1f-%6.1f) %10.0f  %s\n", nw, res.Subject, res.DeliveredPPS/1e3,
				res.DeliveredMin/1e3, res.DeliveredMax/1e3, res.GenNsPerPkt, strings.Join(busy, "/"))
		}
	}
	for _, res := range r.Results {
		if n := sumFailures(res.Failures); n > 0 {
			fmt.Fprintf(&b, "%s failures: %v\n", res.Subject, res.Failures)
		}
	}
	if len(r.Ratios) > 0 {
		b.WriteString("\nratios of delivered rates: of the medians; paired run by run, median (range)\n")
		for _, q := range r.Ratios {
			fmt.Fprintf(&b, "  %-*s %.3f   %.3f (%.3f-%.3f)\n", qw, q.Name, q.Value, q.Paired, q.PairedMin, q.PairedMax)
		}
	}
	if len(r.Interleaved) > 0 {
		p := r.Interleaved[0]
		fmt.Fprintf(&b, "\ninterleaved: both subjects running at once on twin topologies, fed in turns of %v, %d rounds;\nrates over each slice's middle half, medians; ratio = median of adjacent slices' ratios (quartiles)\n",
			time.Duration(p.SliceSeconds*float64(time.Second)), p.Rounds)
		pw := 0
		for _, q := range r.Interleaved {
			pw = max(pw, len(q.Name))
		}
		for _, q := range r.Interleaved {
			fmt.Fprintf(&b, "  %-*s %7.1f / %7.1f kpps   %.3f (%.3f-%.3f)\n", pw, q.Name, q.MedianA/1e3, q.MedianB/1e3, q.Ratio, q.RatioQ1, q.RatioQ3)
		}
	}
	for _, wn := range r.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", wn)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as indented JSON.
func (r *BenchReport) WriteJSON(w io.Writer) error { return writeJSON(w, r) }

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteFile writes the JSON report to path, creating its directory.
func (r *BenchReport) WriteFile(path string, write func(io.Writer) error) error {
	return WriteFile(path, write)
}

// WriteFile writes what write writes to path, creating its directory.
func WriteFile(path string, write func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// WriteSVG draws delivered throughput and latency (p50, p99, p99.9) per
// subject as two horizontal bar charts.
func (r *BenchReport) WriteSVG(w io.Writer) error {
	const (
		width   = 900
		label   = 150
		barH    = 18
		gap     = 10
		plotW   = width - label - 120
		titleH  = 40
		latRows = 3
	)
	n := len(r.Results)
	tpH := titleH + n*(barH+gap)
	latH := titleH + n*(latRows*barH+gap)
	height := tpH + latH + 40
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="14" font-weight="bold">Delivered throughput (kpps, median) - %s</text>`+"\n", html.EscapeString(r.Setup.Source))
	maxPPS := 0.0
	for _, res := range r.Results {
		maxPPS = max(maxPPS, res.DeliveredPPS)
	}
	y := titleH
	for _, res := range r.Results {
		bw := 0.0
		if maxPPS > 0 {
			bw = res.DeliveredPPS / maxPPS * plotW
		}
		fmt.Fprintf(&b, `<text x="10" y="%d">%s</text><rect x="%d" y="%d" width="%.1f" height="%d" fill="#4878d0"/><text x="%.1f" y="%d">%.1f</text>`+"\n",
			y+barH-4, res.Subject, label, y, bw, barH, float64(label)+bw+5, y+barH-4, res.DeliveredPPS/1e3)
		y += barH + gap
	}
	y += 20
	fmt.Fprintf(&b, `<text x="10" y="%d" font-size="14" font-weight="bold">Latency generator to sink (us): p50, p99, p99.9</text>`+"\n", y)
	y += titleH - 20
	if r.Setup.CountOnly {
		fmt.Fprintf(&b, `<text x="10" y="%d">not measured: count-only run (no frame was read at the real servers)</text>`+"\n", y+barH-4)
		b.WriteString("</svg>\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	maxLat := 0.0
	for _, res := range r.Results {
		maxLat = max(maxLat, res.LatencyP999)
	}
	colors := []string{"#6acc64", "#d65f5f", "#956cb4"}
	for _, res := range r.Results {
		fmt.Fprintf(&b, `<text x="10" y="%d">%s</text>`+"\n", y+barH-4, res.Subject)
		for k, v := range []float64{res.LatencyP50, res.LatencyP99, res.LatencyP999} {
			bw := 0.0
			if maxLat > 0 {
				bw = v / maxLat * plotW
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/><text x="%.1f" y="%d">%s %.1f</text>`+"\n",
				label, y, bw, barH-2, colors[k], float64(label)+bw+5, y+barH-4, []string{"p50", "p99", "p99.9"}[k], v)
			y += barH
		}
		y += gap
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
