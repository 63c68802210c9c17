package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// The sweep plot's geometry: three panels (p50, p99, p99.9) side by side
// sharing both scales, a legend below.
const (
	svgLeft     = 84  // room for the first panel's latency labels
	svgPanelW   = 290 // plot area of one panel
	svgPanelGap = 84  // between panels, room for their latency labels
	svgTop      = 92
	svgPlotH    = 300
	svgLegendY  = svgTop + svgPlotH + 62
	svgLegendW  = 250 // one legend column
)

// svgPalette colours subjects in order (colour-blind friendly, as seaborn's).
var svgPalette = []string{"#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc", "#ca9161", "#949494", "#56b4e9", "#ece133", "#fbafe4"}

// logAxis maps values onto pixels on a log10 scale over whole decades.
type logAxis struct {
	lo, hi   float64 // decades: 10^lo .. 10^hi
	from, to float64 // pixels
}

// newLogAxis covers [min, max] (both > 0) with whole decades.
func newLogAxis(minV, maxV, from, to float64) logAxis {
	lo, hi := math.Floor(math.Log10(minV)), math.Ceil(math.Log10(maxV))
	if hi <= lo {
		hi = lo + 1
	}
	return logAxis{lo: lo, hi: hi, from: from, to: to}
}

func (a logAxis) px(v float64) float64 {
	return a.from + (math.Log10(v)-a.lo)/(a.hi-a.lo)*(a.to-a.from)
}

// rateLabel names a packet rate tick: 100, 1k, 10k, 1M.
func rateLabel(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", v)
}

// latencyLabel names a latency tick given in microseconds.
func latencyLabel(us float64) string {
	switch {
	case us >= 1e6:
		return fmt.Sprintf("%g s", us/1e6)
	case us >= 1e3:
		return fmt.Sprintf("%g ms", us/1e3)
	}
	return fmt.Sprintf("%g µs", us)
}

// xOf is where a point sits on the load axis: its paced rate, or what was
// measured at max pace; 0 (not drawn) when idle.
func (p *SweepPoint) xOf() float64 {
	if p.TargetPPS > 0 {
		return p.TargetPPS
	}
	if p.Rate == "idle" {
		return 0
	}
	return max(p.OfferedPPS, p.DeliveredPPS)
}

// WriteSVG plots latency against offered load, log scales, one panel per
// percentile and one line per subject; queueing points are hollow.
func (r *SweepReport) WriteSVG(w io.Writer) error {
	minX, maxX, minY, maxY := math.Inf(1), 0.0, math.Inf(1), 0.0
	for _, res := range r.Results {
		for i := range res.Points {
			p := &res.Points[i]
			if x := p.xOf(); x > 0 && p.LatencyP50 > 0 {
				minX, maxX = min(minX, x), max(maxX, x)
				minY, maxY = min(minY, p.LatencyP50), max(maxY, p.LatencyP999)
			}
		}
	}
	width := svgLeft + 3*svgPanelW + 2*svgPanelGap + 30
	rows := (len(r.Results) + 3) / 4
	height := svgLegendY + rows*22 + 16
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12" fill="#222">`+"\n",
		width, height, width, height)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	fmt.Fprintf(&b, `<text x="%d" y="26" font-size="17" font-weight="bold">One-way latency through the director against offered load</text>`+"\n", svgLeft)
	fmt.Fprintf(&b, `<text x="%d" y="46" font-size="12" fill="#555">%s; %s windows; log scales</text>`+"\n", svgLeft, html.EscapeString(r.Setup.Source), html.EscapeString(r.Setup.Window))
	fmt.Fprintf(&b, `<text x="%d" y="64" font-size="12" fill="#555">hollow markers: queueing (max pace, or the subject saturated): frames wait in full queues, not in forwarding</text>`+"\n", svgLeft)
	if maxX == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d">no latency was measured</text>`+"\n</svg>\n", svgLeft, svgTop+20)
		_, err := io.WriteString(w, b.String())
		return err
	}
	ya := newLogAxis(minY, maxY, svgTop+svgPlotH, svgTop)
	pcts := []struct {
		name string
		val  func(*SweepPoint) float64
	}{
		{"p50", func(p *SweepPoint) float64 { return p.LatencyP50 }},
		{"p99", func(p *SweepPoint) float64 { return p.LatencyP99 }},
		{"p99.9", func(p *SweepPoint) float64 { return p.LatencyP999 }},
	}
	for i, pc := range pcts {
		x0 := float64(svgLeft + i*(svgPanelW+svgPanelGap))
		xa := newLogAxis(minX, maxX, x0, x0+svgPanelW)
		writeSVGPanel(&b, pc.name, xa, ya)
		for si, res := range r.Results {
			writeSVGLine(&b, res, si, xa, ya, pc.val)
		}
	}
	writeSVGLegend(&b, r.Results)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// writeSVGPanel draws one panel's frame, grid, ticks and labels.
func writeSVGPanel(b *strings.Builder, title string, xa, ya logAxis) {
	fmt.Fprintf(b, `<text x="%.1f" y="%d" font-size="14" font-weight="bold" text-anchor="middle">%s</text>`+"\n", (xa.from+xa.to)/2, svgTop-10, title)
	for d := xa.lo; d <= xa.hi; d++ {
		v := math.Pow(10, d)
		x := xa.px(v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ccc"/>`, x, ya.to, x, ya.from)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, ya.from+16, rateLabel(v))
		for m := 2.0; m <= 9 && d < xa.hi; m++ {
			x := xa.px(m * v)
			fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`, x, ya.to, x, ya.from)
		}
	}
	for d := ya.lo; d <= ya.hi; d++ {
		v := math.Pow(10, d)
		y := ya.px(v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ccc"/>`, xa.from, y, xa.to, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", xa.from-6, y+4, latencyLabel(v))
		for m := 2.0; m <= 9 && d < ya.hi; m++ {
			y := ya.px(m * v)
			fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`, xa.from, y, xa.to, y)
		}
	}
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#444"/>`+"\n", xa.from, ya.to, xa.to-xa.from, ya.from-ya.to)
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#444">offered load (packets/s)</text>`+"\n", (xa.from+xa.to)/2, ya.from+36)
	fmt.Fprintf(b, `<text transform="translate(%.1f %.1f) rotate(-90)" text-anchor="middle" fill="#444">latency</text>`+"\n", xa.from-62, (ya.from+ya.to)/2)
}

// svgDash is a subject's line style: ulvs solid, the null forwarders
// dotted, the kernel dashed.
func svgDash(s Subject) string {
	switch {
	case s.IsULVS():
		return ""
	case s.Kind() == Null || s.Kind() == NullIPIP:
		return ` stroke-dasharray="2,3"`
	}
	return ` stroke-dasharray="7,4"`
}

// writeSVGLine draws one subject's line and markers in one panel.
func writeSVGLine(b *strings.Builder, res SweepResult, si int, xa, ya logAxis, val func(*SweepPoint) float64) {
	color := svgPalette[si%len(svgPalette)]
	var pts []string
	for i := range res.Points {
		p := &res.Points[i]
		if v := val(p); v > 0 && p.xOf() > 0 {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xa.px(p.xOf()), ya.px(v)))
		}
	}
	if len(pts) > 1 {
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), color, svgDash(res.Subject))
	}
	for i := range res.Points {
		p := &res.Points[i]
		v := val(p)
		if v <= 0 || p.xOf() <= 0 {
			continue
		}
		fill := color
		if p.Queueing {
			fill = "white"
		}
		fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s" stroke="%s" stroke-width="1.8"><title>%s at %s: %s</title></circle>`+"\n",
			xa.px(p.xOf()), ya.px(v), fill, color, html.EscapeString(string(res.Subject)), p.Rate, latencyLabel(math.Round(v*10)/10))
	}
}

// writeSVGLegend lists the subjects below the panels, four a row.
func writeSVGLegend(b *strings.Builder, results []SweepResult) {
	for si, res := range results {
		x := float64(svgLeft + (si%4)*svgLegendW)
		y := float64(svgLegendY + (si/4)*22)
		color := svgPalette[si%len(svgPalette)]
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/><circle cx="%.1f" cy="%.1f" r="4" fill="%s"/>`,
			x, y, x+30, y, color, svgDash(res.Subject), x+15, y, color)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", x+38, y+4, html.EscapeString(string(res.Subject)))
	}
}
