package config

import (
	"fmt"
	"strings"
)

// Pos is a place in a configuration file: the file's path and a 1-based
// line number (the first physical line of a continued line).
type Pos struct {
	File string
	Line int
}

// String returns "file:line".
func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Error is a configuration error: where it is, which keyword, what is
// wrong and what to write instead.
type Error struct {
	Pos     Pos
	Keyword string // empty when the error is not about one keyword
	Msg     string
	Hint    string // what to write instead; may be empty

	// fatal keeps the error an error without Options.Strict: ulvs cannot
	// run the file at all (see decoder.lenient).
	fatal bool
}

// Error returns "file:line: keyword: message (hint)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Pos.String())
	b.WriteString(": ")
	if e.Keyword != "" {
		b.WriteString(e.Keyword)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// ErrorList is every error found in one load, in file order. Load returns
// it (as error) so that one run reports all mistakes, not just the first.
type ErrorList []*Error

// Error returns the errors one per line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns the individual errors for errors.As and errors.Is.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// Warning is something keepalived would accept or ignore but that is
// probably a mistake: an unknown keyword (skipped with its block), a value
// ulvs corrected the way keepalived does, an include that matched nothing.
// With Options.Strict every warning is an error instead.
type Warning struct {
	Pos     Pos
	Keyword string
	Msg     string
}

// String returns "file:line: keyword: message".
func (w Warning) String() string {
	e := Error{Pos: w.Pos, Keyword: w.Keyword, Msg: w.Msg}
	return e.Error()
}
