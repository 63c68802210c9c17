package inspect

import (
	"fmt"
	"io"
	"strings"
)

// ANSI styles for a terminal.
const (
	ansiReset   = "\x1b[0m"
	ansiChanged = "\x1b[1;33m" // bold yellow
	ansiAdded   = "\x1b[1;32m" // bold green
	ansiBad     = "\x1b[1;31m" // bold red
	ansiDim     = "\x1b[2m"
	ansiHeading = "\x1b[1m"
)

// Printer renders Rewrites as text: the decision, the field trees before
// and after with every changed field marked, and hex dumps with changed
// bytes marked. Without Color, markers do the marking: "~" before a
// changed field (old -> new), "+" before an added one, and a line of "^^"
// (changed) or "++" (added) under the hex bytes.
type Printer struct {
	W     io.Writer
	Color bool
	// NoHex leaves the hex dumps out.
	NoHex bool
}

func (p *Printer) style(s, code string) string {
	if !p.Color || code == "" {
		return s
	}
	return code + s + ansiReset
}

// Packet prints what every director did with one input frame: with more
// than one director (--mode all), a side-by-side table of the fields
// first, then each Rewrite in full.
func (p *Printer) Packet(rws []Rewrite) {
	if len(rws) == 0 {
		return
	}
	fmt.Fprintf(p.W, "%s\n", p.style(fmt.Sprintf("=== packet %d: %s ===", rws[0].Packet, Summary(&rws[0].Before)), ansiHeading))
	if len(rws) > 1 {
		p.Compare(rws)
	}
	for i := range rws {
		p.rewrite(&rws[i], i > 0)
	}
}

// Rewrite prints one director's record.
func (p *Printer) Rewrite(rw *Rewrite) { p.rewrite(rw, false) }

// rewrite prints one record; sameBefore leaves out the frame as
// received, printed for an earlier director already.
func (p *Printer) rewrite(rw *Rewrite, sameBefore bool) {
	w := p.W
	fmt.Fprintf(w, "\n%s\n", p.style(fmt.Sprintf("--- %s: arrived on the %s side ---", rw.Mode, rw.Before.Interface), ansiHeading))
	d := &rw.Decision
	kv := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%-12s %s\n", k, v)
		}
	}
	kv("decision", d.Kind)
	if d.Service != "" {
		kv("service", fmt.Sprintf("%s, scheduler %s", d.Service, d.Scheduler))
	}
	if d.Real != "" {
		kv("real server", fmt.Sprintf("%s (%s)", d.Real, d.Method))
	}
	kv("why", d.Why)
	for i, c := range d.Candidates {
		mark := " "
		if c.Chosen {
			mark = "*"
		}
		avail := ""
		if !c.Available {
			avail = " (unavailable)"
		}
		label := ""
		if i == 0 {
			label = "candidates"
		}
		fmt.Fprintf(w, "%-12s %s %s %s weight %d, %d active, %d inactive%s\n", label, mark, c.Real, c.Method, c.Weight, c.Active, c.Inactive, avail)
	}
	kv("persistence", d.Persistence)
	if d.StateBefore != "" {
		kv("connection", "before: "+d.StateBefore)
		kv("", "after:  "+d.StateAfter)
	}
	kv("change", d.Change)
	if rw.Drop != "" {
		kv("dropped", p.style(rw.Drop, ansiBad))
	}
	fmt.Fprintln(w)
	if sameBefore {
		fmt.Fprintln(w, "before: as above")
	} else {
		p.frame("before", &rw.Before)
	}
	for i := range rw.After {
		label := "after"
		if rw.After[i].Generated {
			label = "sent"
		}
		p.frame(label, &rw.After[i])
	}
	if len(rw.After) == 0 {
		fmt.Fprintln(w, "after: nothing sent")
	}
}

func (p *Printer) frame(label string, f *Frame) {
	w := p.W
	what := "received"
	if f.Direction == "out" {
		what = "sent"
	}
	if f.Generated {
		what = "built by the director and sent"
	}
	fmt.Fprintf(w, "%s: %s on the %s side, %d bytes\n", label, what, f.Interface, f.Length)
	for _, l := range f.Layers {
		lm, lstyle := " ", ""
		if len(l.Fields) > 0 && l.Fields[0].Status == "added" {
			lm, lstyle = "+", ansiAdded
		}
		fmt.Fprintf(w, "%s %s\n", lm, p.style(l.Name, lstyle))
		for _, fd := range l.Fields {
			m, st := " ", ""
			val := fd.Value
			switch fd.Status {
			case "changed":
				m, st = "~", ansiChanged
				val = fd.Old + " -> " + fd.Value
			case "added":
				m, st = "+", ansiAdded
			}
			val = p.style(val, st)
			if fd.Check != "" {
				cs := ""
				if fd.Check == "incorrect" {
					cs = ansiBad
				}
				val += " " + p.style("["+fd.Check+"]", cs)
			}
			fmt.Fprintf(w, "%s     %-18s %s\n", m, fd.Name, val)
		}
	}
	if !p.NoHex {
		p.hex(f)
	}
	fmt.Fprintln(w)
}

// hex prints a tcpdump -XX style dump with changed bytes marked.
func (p *Printer) hex(f *Frame) {
	w := p.W
	mark := make([]byte, len(f.data))
	added := map[int]bool{}
	for _, l := range f.Layers {
		if l.Outer {
			for i := l.Offset; i < l.Offset+l.Length; i++ {
				added[i] = true
			}
		}
	}
	for _, r := range f.Changed {
		for i := r[0]; i < r[1] && i < len(mark); i++ {
			mark[i] = '^'
			if added[i] {
				mark[i] = '+'
			}
		}
	}
	for off := 0; off < len(f.data); off += 16 {
		end := min(off+16, len(f.data))
		var hx, mk, asc strings.Builder
		any := false
		for i := off; i < off+16; i++ {
			if i == off+8 {
				hx.WriteByte(' ')
				mk.WriteByte(' ')
			}
			if i >= end {
				hx.WriteString("   ")
				continue
			}
			b := fmt.Sprintf("%02x", f.data[i])
			switch mark[i] {
			case '^':
				b = p.style(b, ansiChanged)
				any = true
			case '+':
				b = p.style(b, ansiAdded)
				any = true
			}
			hx.WriteString(b + " ")
			if mark[i] != 0 {
				mk.WriteString(strings.Repeat(string(mark[i]), 2) + " ")
			} else {
				mk.WriteString("   ")
			}
			c := f.data[i]
			if c < 0x20 || c > 0x7e {
				c = '.'
			}
			asc.WriteByte(c)
		}
		fmt.Fprintf(w, "  %04x  %s %s\n", off, hx.String(), asc.String())
		if any && !p.Color {
			fmt.Fprintf(w, "        %s\n", strings.TrimRight(mk.String(), " "))
		}
	}
}

// Compare prints the fields of the frame before and after each
// director's rewrite side by side.
func (p *Printer) Compare(rws []Rewrite) {
	type row struct {
		outer bool
		key   string
		name  string
	}
	var rows []row
	seen := map[row]bool{}
	add := func(f *Frame, outerOnly bool) {
		for _, l := range f.Layers {
			if l.Outer != outerOnly {
				continue
			}
			for _, fd := range l.Fields {
				r := row{outer: l.Outer, key: fd.Key}
				if !seen[r] {
					seen[r] = true
					name := fd.Key
					if l.Outer {
						name = "outer " + fd.Key
					}
					r.name = name
					rows = append(rows, r)
				}
			}
		}
	}
	// Ethernet first, then any outer header, then the rest in order.
	var ethRows []row
	add(&rws[0].Before, false)
	for i := range rws {
		if len(rws[i].After) > 0 && !rws[i].After[0].Generated {
			add(&rws[i].After[0], false)
		}
	}
	for _, r := range rows {
		if strings.HasPrefix(r.key, "eth.") {
			ethRows = append(ethRows, r)
		}
	}
	rest := rows[len(ethRows):]
	rows = nil
	for i := range rws {
		if len(rws[i].After) > 0 && !rws[i].After[0].Generated {
			add(&rws[i].After[0], true)
		}
	}
	outerRows := rows
	rows = append(append(append([]row{}, ethRows...), outerRows...), rest...)

	value := func(f *Frame, r row) (string, string) {
		for _, l := range f.Layers {
			if l.Outer != r.outer {
				continue
			}
			for _, fd := range l.Fields {
				if fd.Key == r.key {
					return fd.Value, fd.Status
				}
			}
		}
		return "-", ""
	}
	rewritten := false
	for i := range rws {
		rewritten = rewritten || (len(rws[i].After) > 0 && !rws[i].After[0].Generated)
	}
	if !rewritten {
		fmt.Fprintln(p.W, "no director rewrote this packet; see each one's reason below")
		return
	}
	header := []string{"field", "before"}
	for _, rw := range rws {
		header = append(header, rw.Mode)
	}
	table := [][]string{header}
	styles := [][]string{make([]string, len(header))}
	for _, r := range rows {
		v, _ := value(&rws[0].Before, r)
		line := []string{r.name, v}
		st := []string{"", ""}
		for i := range rws {
			if len(rws[i].After) == 0 || rws[i].After[0].Generated {
				cell := "(dropped: " + rws[i].Drop + ")"
				if rws[i].Drop == "" {
					cell = "(not rewritten)"
				}
				if len(table) > 1 {
					cell = ""
				}
				line = append(line, cell)
				st = append(st, ansiDim)
				continue
			}
			v, status := value(&rws[i].After[0], r)
			switch status {
			case "changed":
				v, status = "~ "+v, ansiChanged
			case "added":
				v, status = "+ "+v, ansiAdded
			default:
				v = "  " + v
			}
			line = append(line, v)
			st = append(st, status)
		}
		table = append(table, line)
		styles = append(styles, st)
	}
	widths := make([]int, len(header))
	for _, line := range table {
		for i, c := range line {
			widths[i] = max(widths[i], len(c))
		}
	}
	for ri, line := range table {
		var b strings.Builder
		for i, c := range line {
			pad := strings.Repeat(" ", widths[i]-len(c))
			if i == len(line)-1 {
				pad = ""
			}
			b.WriteString(p.style(c, styles[ri][i]) + pad)
			if i < len(line)-1 {
				b.WriteString("  ")
			}
		}
		fmt.Fprintln(p.W, strings.TrimRight(b.String(), " "))
	}
}

// Summary is a one-line description of a frame, tcpdump style.
func Summary(f *Frame) string {
	get := func(key string) string {
		for _, l := range f.Layers {
			if l.Outer {
				continue
			}
			for _, fd := range l.Fields {
				if fd.Key == key {
					return fd.Value
				}
			}
		}
		return ""
	}
	switch {
	case get("tcp.srcport") != "":
		s := fmt.Sprintf("TCP %s:%s > %s:%s [%s]", get("ip.src"), get("tcp.srcport"), get("ip.dst"), get("tcp.dstport"), get("tcp.flags"))
		return s + payloadLen(f)
	case get("udp.srcport") != "":
		return fmt.Sprintf("UDP %s:%s > %s:%s", get("ip.src"), get("udp.srcport"), get("ip.dst"), get("udp.dstport")) + payloadLen(f)
	case get("icmp.type") != "":
		return fmt.Sprintf("ICMP %s > %s type %s code %s", get("ip.src"), get("ip.dst"), get("icmp.type"), get("icmp.code"))
	case get("arp.opcode") != "":
		return fmt.Sprintf("ARP %s who-has %s tell %s", get("arp.opcode"), get("arp.dst.proto_ipv4"), get("arp.src.proto_ipv4"))
	case get("ip.src") != "":
		return fmt.Sprintf("IPv4 %s > %s proto %s", get("ip.src"), get("ip.dst"), get("ip.proto"))
	}
	return fmt.Sprintf("%d-byte frame", f.Length)
}

func payloadLen(f *Frame) string {
	for _, l := range f.Layers {
		if l.Key == "data" {
			return fmt.Sprintf(" len %d", l.Length)
		}
	}
	return " len 0"
}
