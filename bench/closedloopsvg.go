package bench

import (
	"fmt"
	"html"
	"io"
	"strings"
)

// The closed-loop chart's geometry: a row per test, a bar per subject.
const (
	loopLabelW = 275 // test names
	loopBarW   = 460 // the longest bar of a row
	loopBarH   = 16
	loopRowGap = 14
	loopTop    = 70
)

// WriteSVG draws every test's throughput as horizontal bars, a group per
// test and a bar per subject (scaled to the row's best, since the units
// differ), with the values and each ulvs / kernel ratio.
func (r *ClosedLoopReport) WriteSVG(w io.Writer) error {
	type row struct {
		test  string
		conns int
		res   []*LoopResult
	}
	var rows []row
	for i := range r.Results {
		q := &r.Results[i]
		k := -1
		for j := range rows {
			if rows[j].test == q.Test && rows[j].conns == q.Conns {
				k = j
			}
		}
		if k < 0 {
			rows = append(rows, row{test: q.Test, conns: q.Conns})
			k = len(rows) - 1
		}
		rows[k].res = append(rows[k].res, q)
	}
	subjects := map[Subject]int{}
	var order []Subject
	for _, q := range r.Results {
		if _, ok := subjects[q.Subject]; !ok {
			subjects[q.Subject] = len(order)
			order = append(order, q.Subject)
		}
	}
	nameW := 0
	for _, q := range r.Ratios {
		nameW = max(nameW, len(q.Name))
	}
	width := loopLabelW + loopBarW + 150 + 7*(nameW+6) + 16
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="HEIGHT" viewBox="0 0 %d HEIGHT" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12" fill="#222">`+"\n",
		width, width)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	b.WriteString(`<text x="16" y="26" font-size="17" font-weight="bold">Closed-loop clients through the director</text>` + "\n")
	fmt.Fprintf(&b, `<text x="16" y="46" fill="#555">median of %d x %s; bars scaled to each test's best; ratios of medians in the same run</text>`+"\n", r.Runs, html.EscapeString(r.Duration))
	y := loopTop
	for _, rw := range rows {
		best := 0.0
		for _, q := range rw.res {
			best = max(best, q.Value)
		}
		fmt.Fprintf(&b, `<text x="16" y="%d" font-weight="bold">%s</text>`+"\n", y+12, html.EscapeString(testName(rw.test, rw.conns)))
		for i, q := range rw.res {
			bw := 0.0
			if best > 0 {
				bw = q.Value / best * loopBarW
			}
			yy := y + i*loopBarH
			color := svgPalette[subjects[q.Subject]%len(svgPalette)]
			val := fmt.Sprintf("%.0f %s", q.Value, q.Unit)
			if q.Unit == "Gbit/s" {
				val = fmt.Sprintf("%.2f %s", q.Value, q.Unit)
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>`, loopLabelW, yy, bw, loopBarH-3, color, html.EscapeString(string(q.Subject)))
			fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`+"\n", float64(loopLabelW)+bw+6, yy+loopBarH-5, val)
		}
		n := 0
		for _, q := range r.Ratios {
			if q.Test == rw.test && q.Conns == rw.conns {
				fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#555">%s: %.2f</text>`+"\n", loopLabelW+loopBarW+150, y+12+14*n, html.EscapeString(q.Name), q.Value)
				n++
			}
		}
		y += max(len(rw.res), n)*loopBarH + loopRowGap
	}
	x := 16
	for i, s := range order {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="14" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", x, y+8, svgPalette[i%len(svgPalette)], x+20, y+18, html.EscapeString(string(s)))
		x += 40 + 8*len(s)
	}
	b.WriteString("</svg>\n")
	// The header's two HEIGHT placeholders get the height drawn.
	height := y + 36
	_, err := io.WriteString(w, strings.Replace(b.String(), "HEIGHT", fmt.Sprint(height), 2))
	return err
}
