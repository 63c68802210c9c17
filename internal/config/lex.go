package config

import (
	"fmt"
	"strings"
)

// tokenKind tells words from block delimiters.
type tokenKind uint8

const (
	tokWord  tokenKind = iota
	tokOpen            // '{' outside double quotes
	tokClose           // '}' outside double quotes
)

// token is one lexical unit of a logical line. A double-quoted run is part
// of a word with its quotes removed; quoted records that it had quotes, so
// that a quoted "include" or "{" is never taken for syntax.
type token struct {
	kind   tokenKind
	text   string
	quoted bool
}

// line is one logical line: physical lines joined by a trailing backslash,
// comments removed, split into tokens. pos is where it starts.
type line struct {
	pos  Pos
	toks []token
}

// lex splits one file's text into logical lines the way keepalived's
// lib/parser.c reads them:
//
//   - '#' and '!' start a comment anywhere on a line, except inside double
//     quotes or when escaped as \# and \!;
//   - a backslash at the end of a line (after comment removal) joins the
//     next physical line at that point;
//   - words are separated by white space; a "..." run belongs to one word;
//   - '{' and '}' outside quotes are tokens of their own even when they touch
//     a word, so "real_server 1.2.3.4 80 { weight 1 }" is one line with
//     a whole block in it.
//
// Inside quotes \" and \\ stand for " and \; every other escape is kept
// verbatim for keywords (scripts) that interpret escapes themselves.
// Outside quotes \#, \!, \", \{, \} and \\ stand for the character itself.
// Lines with no tokens are dropped.
func lex(file string, data []byte) ([]line, error) {
	var out []line
	for _, rl := range logicalLines(file, data) {
		ln, err := tokenizeLine(rl.pos, rl.text)
		if err != nil {
			return nil, err
		}
		if len(ln.toks) > 0 {
			out = append(out, ln)
		}
	}
	return out, nil
}

// rawLine is one logical line before tokenizing: comments removed,
// continuations joined. The preprocessor (define.go) works on these.
type rawLine struct {
	pos  Pos
	text string
}

// logicalLines applies the comment and continuation rules of lex and
// returns the non-blank logical lines.
func logicalLines(file string, data []byte) []rawLine {
	var (
		out     []rawLine
		pending strings.Builder // a logical line being continued
		start   int             // physical line number where pending started
	)
	flush := func() {
		if strings.TrimSpace(pending.String()) != "" {
			out = append(out, rawLine{pos: Pos{File: file, Line: start}, text: pending.String()})
		}
		pending.Reset()
	}
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		var phys []byte
		if i := indexByte(data, '\n'); i >= 0 {
			phys, data = data[:i], data[i+1:]
		} else {
			phys, data = data, nil
		}
		text := strings.TrimRight(decomment(string(phys)), " \t\r\v\f")
		if pending.Len() == 0 {
			start = lineNo
		}
		if strings.HasSuffix(text, `\`) && !strings.HasSuffix(text, `\\`) {
			pending.WriteString(text[:len(text)-1])
			continue
		}
		pending.WriteString(text)
		flush()
	}
	flush()
	return out
}

// tokenizeLine tokenizes one logical line; braces are tokens unless the
// line is an include, whose pattern may hold brace alternatives.
func tokenizeLine(pos Pos, text string) (line, error) {
	toks, err := tokenize(text, !isIncludeLine(text))
	if err != nil {
		return line{}, &Error{Pos: pos, Msg: err.Error(),
			Hint: `close the string with a matching " on the same line (use \" for a literal quote)`}
	}
	return line{pos: pos, toks: toks}, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// decomment cuts s at the first '#' or '!' that is neither inside double
// quotes nor escaped with a backslash.
func decomment(s string) string {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++ // the next character is escaped, whatever it is
		case '"':
			inQuote = !inQuote
		case '#', '!':
			if !inQuote {
				return s[:i]
			}
		}
	}
	return s
}

// isIncludeLine reports whether s is an include statement, whose pattern
// may contain csh brace alternatives ("include {a,b}.conf") that must not
// be taken for a block.
func isIncludeLine(s string) bool {
	first, _, _ := strings.Cut(strings.TrimLeft(s, " \t"), " ")
	first, _, _ = strings.Cut(first, "\t")
	_, ok := includeKeywords[first]
	return ok
}

// tokenize splits one logical, comment-free line into tokens; braces are
// tokens of their own unless blocks is false.
func tokenize(s string, blocks bool) ([]token, error) {
	var (
		toks   []token
		word   strings.Builder
		inWord bool
		quoted bool
	)
	flush := func() {
		if inWord {
			toks = append(toks, token{kind: tokWord, text: word.String(), quoted: quoted})
			word.Reset()
			inWord, quoted = false, false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f':
			flush()
		case blocks && (c == '{' || c == '}'):
			flush()
			kind := tokOpen
			if c == '}' {
				kind = tokClose
			}
			toks = append(toks, token{kind: kind, text: string(c)})
		case c == '"':
			inWord, quoted = true, true
			closed := false
			for i++; i < len(s); i++ {
				c = s[i]
				if c == '"' {
					closed = true
					break
				}
				if c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
					c = s[i]
				}
				word.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("unmatched quote")
			}
		case c == '\\' && i+1 < len(s) && strings.IndexByte(`#!"{}\`, s[i+1]) >= 0:
			i++
			inWord = true
			word.WriteByte(s[i])
		default:
			inWord = true
			word.WriteByte(c)
		}
	}
	flush()
	return toks, nil
}
