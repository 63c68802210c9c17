package config

import (
	"fmt"
	"sort"
	"strings"
)

// blockRule says whether a keyword opens a { } block.
type blockRule uint8

const (
	noBlock   blockRule = iota // "weight 1"
	needBlock                  // "real_server 10.0.0.1 80 { ... }"
	anyBlock                   // kept verbatim; either form is accepted
)

// entry is one keyword of a block. A nil apply means "known to keepalived,
// accepted and ignored": the node goes to the block's keep function and a
// warning names it, so that check-config never calls a file "ok" when
// ulvs would not act on all of it.
type entry[T any] struct {
	name  string // canonical name, for messages
	rule  blockRule
	apply func(d *decoder, n *Node, v *T)
}

// table is the keyword table of one block kind. A later issue extends the
// grammar by adding entries (or replacing a kept entry by one with an
// apply function); the lexer and the tree builder never change.
type table[T any] struct {
	what    string // block name for messages, e.g. "virtual_server"
	entries map[string]*entry[T]
	keep    func(v *T, n *Node)
}

func newTable[T any](what string, keep func(v *T, n *Node)) *table[T] {
	return &table[T]{what: what, entries: map[string]*entry[T]{}, keep: keep}
}

// add registers a keyword; the first name is canonical, the others are
// aliases handled identically (lb_algo and lvs_sched, ...).
func (t *table[T]) add(rule blockRule, apply func(d *decoder, n *Node, v *T), names ...string) *table[T] {
	e := &entry[T]{name: names[0], rule: rule, apply: apply}
	for _, name := range names {
		t.entries[name] = e
	}
	return t
}

// known registers keywords that ulvs accepts and ignores (with a warning)
// and keeps verbatim for a later stage; replacing the entry with add gives
// one behaviour and ends the warning.
func (t *table[T]) known(rule blockRule, names ...string) *table[T] {
	for _, name := range names {
		t.entries[name] = &entry[T]{name: name, rule: rule}
	}
	return t
}

// decodeBlock applies t to every statement inside parent.
func decodeBlock[T any](d *decoder, t *table[T], parent *Node, v *T) {
	for _, n := range parent.Children {
		e := t.entries[n.Keyword]
		if e == nil {
			d.unknown(n, t.what, t.names())
			continue
		}
		switch {
		case e.rule == noBlock && n.Block:
			d.errorf(n, fmt.Sprintf("write %s on one line without '{ }'", n.Keyword), "takes no { } block")
			continue
		case e.rule == needBlock && !n.Block:
			d.errorf(n, fmt.Sprintf("write %s ... { ... }", n.Keyword), "needs a { } block")
			continue
		}
		if e.apply == nil {
			d.warnf(n, "accepted but ignored: ulvs does not act on %s in %s (docs/config.md lists what it ignores and why)", n.Keyword, t.what)
			t.keep(v, n)
			continue
		}
		e.apply(d, n, v)
	}
}

func (t *table[T]) names() []string {
	out := make([]string, 0, len(t.entries))
	for name := range t.entries {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// decoder collects warnings and errors while the tables turn Nodes into
// typed values.
type decoder struct {
	warns  []Warning
	errs   ErrorList
	strict bool // Options.Strict
}

// lenient turns the errors of lines keepalived reports and runs past into
// warnings, as keepalived's exit status 5 does: the line (or the block
// whose header it is) was left out, and its defaults apply. Errors that
// stop ulvs from running the file at all (fatal) stay.
func (d *decoder) lenient() {
	kept := d.errs[:0]
	for _, e := range d.errs {
		if e.fatal {
			kept = append(kept, e)
			continue
		}
		msg := e.Msg + "; ignored, as keepalived ignores it (--strict refuses the file)"
		if e.Hint != "" {
			msg = e.Msg + " (" + e.Hint + "); ignored, as keepalived ignores it (--strict refuses the file)"
		}
		d.warns = append(d.warns, Warning{Pos: e.Pos, Keyword: e.Keyword, Msg: msg})
	}
	d.errs = kept
}

// maxErrors stops a hopeless file from producing thousands of lines.
const maxErrors = 50

func (d *decoder) errorf(n *Node, hint, format string, args ...any) {
	// Without Strict every error becomes a warning naming a line ulvs
	// leaves out, and each of those must be reported.
	if len(d.errs) < maxErrors || !d.strict {
		d.errs = append(d.errs, &Error{Pos: n.Pos, Keyword: n.Keyword, Msg: fmt.Sprintf(format, args...), Hint: hint})
	}
}

func (d *decoder) warnf(n *Node, format string, args ...any) {
	d.warns = append(d.warns, Warning{Pos: n.Pos, Keyword: n.Keyword, Msg: fmt.Sprintf(format, args...)})
}

// unknown reports a keyword no table knows; the statement and its whole
// block are skipped (keepalived instead parses an unknown block's lines at
// the current level, which lets its '}' close the enclosing block early).
func (d *decoder) unknown(n *Node, where string, candidates []string) {
	msg := fmt.Sprintf("unknown keyword in %s; ignored", where)
	if n.Block {
		msg = fmt.Sprintf("unknown keyword in %s; ignored with its { } block", where)
	}
	if s := closest(n.Keyword, candidates); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	}
	d.warns = append(d.warns, Warning{Pos: n.Pos, Keyword: n.Keyword, Msg: msg})
}

// args checks the argument count of n; usage is the correct form.
func (d *decoder) args(n *Node, min, max int, usage string) bool {
	if len(n.Args) < min {
		if min == 1 && len(n.Args) == 0 {
			d.errorf(n, "write "+usage, "missing value")
		} else {
			d.errorf(n, "write "+usage, "needs at least %d values, got %d", min, len(n.Args))
		}
		return false
	}
	if max >= 0 && len(n.Args) > max {
		d.warnf(n, "extra values %q ignored; the form is %s", strings.Join(n.Args[max:], " "), usage)
	}
	return true
}

// closest returns the candidate within edit distance 2 of s, if any.
func closest(s string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if dist := editDistance(strings.ToLower(s), strings.ToLower(c), bestDist); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, or limit when it is
// at least limit (long inputs stop early).
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit)
}
