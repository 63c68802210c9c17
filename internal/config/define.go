package config

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// keepalived's line preprocessor (lib/parser.c read_line), applied to each
// logical line before it is tokenized, in keepalived's order:
//
//   - "@id line" keeps the line only when the config id is id, "@^id line"
//     only when it is not; a line with nothing after the id is dropped;
//   - "$NAME=value" defines NAME (a value continued with '\' spans lines,
//     which ulvs's lexer has already joined into one);
//   - "~SEQ(var, start, step, end) line" repeats the line with $var set to
//     each value (one number is the end, from 1 or -1; two are start and
//     end; ~SEQx writes the values in hex);
//   - "$NAME" and "${NAME}" are replaced by NAME's value wherever they
//     stand; a name nothing defines stays as written. _PWD (the
//     directory of the file being read), _HASH ('#') and _BANG ('!') are
//     predefined.
//
// The result of a substitution is preprocessed again (it may start with
// "@" or hold another "$NAME"), a bounded number of times.

// Limits on what definitions can make one line into.
const (
	maxSubstPasses = 32      // re-expansions of one line ($A=$B, $B=$A ...)
	maxLineLen     = 1 << 16 // bytes of one line after substitution
	maxSeqLines    = 1 << 16 // lines ~SEQ may make, over the whole load
)

// defs are the $NAME definitions in force while the files are read.
type defs map[string]string

// expand preprocesses one logical line into the lines it stands for
// (none, one, or many for ~SEQ), each still untokenized.
func (r *reader) expand(rl rawLine, depth int, emit func(rawLine) error) error {
	text := strings.TrimLeft(rl.text, " \t")
	for pass := 0; ; pass++ {
		if pass == maxSubstPasses {
			return &Error{Pos: rl.pos, Msg: fmt.Sprintf("definitions still expand after %d passes", maxSubstPasses),
				Hint: "look for a definition that refers to itself"}
		}
		if strings.HasPrefix(text, "@") {
			var keep bool
			if text, keep = r.conditional(text); !keep {
				return nil
			}
		}
		if strings.HasPrefix(text, "$") {
			if name, value, ok := definition(text); ok {
				r.defs[name] = value
				return nil
			}
		}
		if strings.HasPrefix(text, "~SEQ") {
			return r.seq(rawLine{pos: rl.pos, text: text}, depth, emit)
		}
		if strings.HasPrefix(text, "~LST") {
			return r.lst(rawLine{pos: rl.pos, text: text}, depth, emit)
		}
		if !strings.Contains(text, "$") {
			break
		}
		out, changed := r.substitute(text, path.Dir(rl.pos.File))
		if !changed {
			break
		}
		if len(out) > maxLineLen {
			return &Error{Pos: rl.pos, Msg: fmt.Sprintf("a line grows beyond %d bytes with its definitions", maxLineLen)}
		}
		text = strings.TrimLeft(decomment(out), " \t")
	}
	return emit(rawLine{pos: rl.pos, text: text})
}

// conditional applies "@id" or "@^id" at the start of text; it returns the
// rest of the line and whether to keep it.
func (r *reader) conditional(text string) (string, bool) {
	id, negate := text[1:], false
	if strings.HasPrefix(id, "^") {
		id, negate = id[1:], true
	}
	id, rest, found := strings.Cut(id, " ")
	if i := strings.IndexByte(id, '\t'); i >= 0 {
		id, rest, found = id[:i], id[i+1:]+" "+rest, true
	}
	rest = strings.TrimLeft(rest, " \t")
	if !found || rest == "" || (id == r.configID) == negate {
		return "", false
	}
	return rest, true
}

// definition parses "$NAME=value" (blanks allowed before '=').
func definition(text string) (name, value string, ok bool) {
	i := 1
	for i < len(text) && isNameByte(text[i], i == 1) {
		i++
	}
	name = text[1:i]
	rest := strings.TrimLeft(text[i:], " \t")
	if name == "" || !strings.HasPrefix(rest, "=") {
		return "", "", false
	}
	return name, strings.TrimSpace(rest[1:]), true
}

func isNameByte(c byte, first bool) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
}

// substitute replaces every defined $NAME and ${NAME} in text. A bare
// $NAME must end at a blank, ',', ')' or the end of the line, as in
// keepalived; "$$" and undefined names stay.
func (r *reader) substitute(text, dir string) (string, bool) {
	var b strings.Builder
	changed := false
	for i := 0; i < len(text); i++ {
		if text[i] != '$' || i+1 == len(text) {
			b.WriteByte(text[i])
			continue
		}
		braces := text[i+1] == '{'
		j := i + 1
		if braces {
			j++
		}
		start := j
		for j < len(text) && isNameByte(text[j], j == start) {
			j++
		}
		name := text[start:j]
		end := j
		switch {
		case name == "":
			b.WriteByte('$')
			continue
		case braces && (j == len(text) || text[j] != '}'):
			b.WriteByte('$')
			continue
		case braces:
			end = j + 1
		case j < len(text) && !strings.ContainsRune(" \t,)", rune(text[j])):
			b.WriteByte('$')
			continue
		}
		value, ok := r.lookup(name, dir)
		if !ok {
			b.WriteByte('$')
			continue
		}
		b.WriteString(value)
		changed = true
		i = end - 1
	}
	return b.String(), changed
}

// lookup returns a definition, or one of keepalived's predefined names.
func (r *reader) lookup(name, dir string) (string, bool) {
	if v, ok := r.defs[name]; ok {
		return v, true
	}
	switch name {
	case "_PWD":
		return dir, true
	case "_HASH":
		return "#", true
	case "_BANG":
		return "!", true
	}
	return "", false
}

// seq expands "~SEQ(var, [start, [step,]] end) line".
func (r *reader) seq(rl rawLine, depth int, emit func(rawLine) error) error {
	bad := func(why string) error {
		return &Error{Pos: rl.pos, Keyword: "~SEQ", Msg: fmt.Sprintf("%s in %q", why, rl.text),
			Hint: "write ~SEQ(var, end), ~SEQ(var, start, end) or ~SEQ(var, start, step, end) before the line"}
	}
	if depth > 4 {
		return bad("~SEQ nested more than 4 deep")
	}
	rest := rl.text[len("~SEQ"):]
	hex := strings.HasPrefix(rest, "x")
	if hex {
		rest = rest[1:]
	}
	rest = strings.TrimLeft(rest, " \t")
	open, closeAt := strings.IndexByte(rest, '('), strings.IndexByte(rest, ')')
	if open != 0 || closeAt < 0 {
		return bad("no (...) after ~SEQ")
	}
	args, _ := r.substitute(rest[1:closeAt], path.Dir(rl.pos.File))
	parts := strings.Split(args, ",")
	name := strings.TrimSpace(parts[0])
	if name == "" || len(parts) < 2 || len(parts) > 4 {
		return bad("~SEQ needs a name and one to three numbers")
	}
	var n [3]int64
	for i, p := range parts[1:] {
		v, err := strconv.ParseInt(strings.TrimSpace(p), 0, 64)
		if err != nil {
			return bad(fmt.Sprintf("%q is not a number", strings.TrimSpace(p)))
		}
		n[i] = v
	}
	var start, step, end int64
	switch len(parts) {
	case 2:
		end, step, start = n[0], 1, 1
		if end < 1 {
			step = -1
		}
		if end < 0 {
			start = -1
		}
	case 3:
		start, end, step = n[0], n[1], 1
		if start > end {
			step = -1
		}
	default:
		start, step, end = n[0], n[1], n[2]
		if step == 0 || (start < end && step < 0) || (start > end && step > 0) {
			return bad("the step does not lead from start to end")
		}
	}
	if hex && (start < 0 || end < 0) {
		return bad("~SEQx takes positive numbers only")
	}
	text := strings.TrimLeft(rest[closeAt+1:], " \t")
	for v := start; (step > 0 && v <= end) || (step < 0 && v >= end); v += step {
		if r.seqLines++; r.seqLines > maxSeqLines {
			return bad(fmt.Sprintf("~SEQ makes more than %d lines", maxSeqLines))
		}
		r.defs[name] = strconv.FormatInt(v, 10)
		if hex {
			r.defs[name] = strconv.FormatInt(v, 16)
		}
		if err := r.expand(rawLine{pos: rl.pos, text: text}, depth+1, emit); err != nil {
			return err
		}
	}
	return nil
}

// lst expands "~LST(var, value, ...) line": the line once for each value,
// with $var set to it, as keepalived 2.2 does.
func (r *reader) lst(rl rawLine, depth int, emit func(rawLine) error) error {
	bad := func(why string) error {
		return &Error{Pos: rl.pos, Keyword: "~LST", Msg: fmt.Sprintf("%s in %q", why, rl.text),
			Hint: "write ~LST(var, value, ...) before the line"}
	}
	if depth > 4 {
		return bad("~LST nested more than 4 deep")
	}
	rest := strings.TrimLeft(rl.text[len("~LST"):], " \t")
	open, closeAt := strings.IndexByte(rest, '('), strings.IndexByte(rest, ')')
	if open != 0 || closeAt < 0 {
		return bad("no (...) after ~LST")
	}
	args, _ := r.substitute(rest[1:closeAt], path.Dir(rl.pos.File))
	parts := strings.Split(args, ",")
	name := strings.TrimSpace(parts[0])
	if name == "" || len(parts) < 2 {
		return bad("~LST needs a name and at least one value")
	}
	text := strings.TrimLeft(rest[closeAt+1:], " \t")
	for _, v := range parts[1:] {
		if r.seqLines++; r.seqLines > maxSeqLines {
			return bad(fmt.Sprintf("~SEQ and ~LST make more than %d lines", maxSeqLines))
		}
		r.defs[name] = strings.TrimSpace(v)
		if err := r.expand(rawLine{pos: rl.pos, text: text}, depth+1, emit); err != nil {
			return err
		}
	}
	return nil
}
