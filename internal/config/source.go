package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// Limits that keep a hostile or broken configuration (an include loop, a
// glob over /, a brace bomb) from exhausting memory or time.
const (
	maxIncludeDepth = 16       // nested include levels below the main file
	maxFiles        = 1024     // files read in one load
	maxFileSize     = 16 << 20 // bytes in one file
	maxTotalSize    = 64 << 20 // bytes over all files
	maxBraceExpand  = 256      // patterns one brace expression may expand to
	maxPathLen      = 4096     // PATH_MAX
)

// includeCheck is what an include variant treats as an error rather than
// a warning (keepalived's include_t: INCLUDE_R, _M, _W and _B).
type includeCheck uint8

const (
	incReadable  includeCheck = 1 << iota // a match that is not a readable regular file
	incMatch                              // no match for a name without wildcards
	incWildcard                           // no match for a pattern with wildcards
	incBraceEach                          // a brace alternative that matches nothing
)

// includeKeywords are keepalived's include and its checking variants:
// plain include reports problems and reads on, includer checks that what
// matches is readable, includem that a name without wildcards exists,
// includew that a pattern matches, includeb that every brace alternative
// matches, includea all of it.
var includeKeywords = map[string]includeCheck{
	"include":  0,
	"includer": incReadable,
	"includem": incReadable | incMatch,
	"includew": incReadable | incMatch | incWildcard,
	"includeb": incReadable | incBraceEach,
	"includea": incReadable | incMatch | incWildcard | incBraceEach,
}

// reader turns a main file and everything it includes into one stream of
// logical lines, applying keepalived's preprocessor (define.go).
type reader struct {
	fsys     fs.FS
	configID string
	stack    []string // files being read, outermost first, to catch loops
	files    int
	total    int
	out      []line
	warn     func(Warning)
	defs     defs // $NAME definitions, shared by every file as in keepalived
	seqLines int  // lines made by ~SEQ so far
}

// fsName converts a clean absolute slash path to an fs.FS name.
func fsName(abs string) string {
	if abs == "/" {
		return "."
	}
	return strings.TrimPrefix(abs, "/")
}

// readFile reads one regular file with size limits.
func (r *reader) readFile(abs string, at Pos) ([]byte, error) {
	r.files++
	if r.files > maxFiles {
		return nil, &Error{Pos: at, Keyword: "include", Msg: fmt.Sprintf("more than %d files included", maxFiles),
			Hint: "narrow the include pattern"}
	}
	f, err := r.fsys.Open(fsName(abs))
	if err != nil {
		return nil, &Error{Pos: at, Keyword: "include", Msg: fmt.Sprintf("cannot open %s: %v", abs, unwrapPathError(err))}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &Error{Pos: at, Keyword: "include", Msg: fmt.Sprintf("cannot stat %s: %v", abs, unwrapPathError(err))}
	}
	if !st.Mode().IsRegular() {
		return nil, &Error{Pos: at, Keyword: "include", Msg: fmt.Sprintf("%s is not a regular file", abs),
			Hint: "include files, not directories or devices; use a glob such as conf.d/*.conf"}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, &Error{Pos: at, Keyword: "include", Msg: fmt.Sprintf("cannot read %s: %v", abs, unwrapPathError(err))}
	}
	if len(data) > maxFileSize {
		return nil, &Error{Pos: at, Keyword: "include", Msg: fmt.Sprintf("%s is larger than %d MiB", abs, maxFileSize>>20)}
	}
	return data, nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// addFile lexes data as file abs and appends its lines, expanding includes.
func (r *reader) addFile(abs string, data []byte) error {
	r.total += len(data)
	if r.total > maxTotalSize {
		return &Error{Pos: Pos{File: abs}, Msg: fmt.Sprintf("configuration larger than %d MiB in total", maxTotalSize>>20)}
	}
	r.stack = append(r.stack, abs)
	defer func() { r.stack = r.stack[:len(r.stack)-1] }()
	for _, rl := range logicalLines(abs, data) {
		if err := r.expand(rl, 0, r.addLine); err != nil {
			return err
		}
	}
	return nil
}

// addLine tokenizes one preprocessed line and appends it, or reads the
// files an include line names.
func (r *reader) addLine(rl rawLine) error {
	// Definitions and ~SEQ can make far more text than the files hold.
	if r.total += len(rl.text); r.total > maxTotalSize {
		return &Error{Pos: rl.pos, Msg: fmt.Sprintf("configuration larger than %d MiB in total once definitions and ~SEQ are expanded", maxTotalSize>>20)}
	}
	ln, err := tokenizeLine(rl.pos, rl.text)
	if err != nil {
		// keepalived reports an unterminated quote and reads on, the
		// string running to the end of the line.
		closed, err2 := tokenizeLine(rl.pos, rl.text+`"`)
		if err2 != nil {
			return err
		}
		r.warn(Warning{Pos: rl.pos, Msg: `unmatched quote: the string runs to the end of the line, as in keepalived (close it with ")`})
		ln = closed
	}
	if len(ln.toks) == 0 {
		return nil
	}
	first := ln.toks[0]
	if check, ok := includeKeywords[first.text]; ok && first.kind == tokWord && !first.quoted {
		return r.include(ln, check)
	}
	r.out = append(r.out, ln)
	return nil
}

// include expands one include line: the pattern is relative to the
// including file's directory (keepalived changes into it), may use glob
// wildcards and csh brace alternatives, and its matches are read in
// lexical order. What the variant does not check (check) is a warning,
// as keepalived logs it and reads on.
func (r *reader) include(ln line, check includeCheck) error {
	kw := ln.toks[0].text
	if len(ln.toks) != 2 || ln.toks[1].kind != tokWord {
		return &Error{Pos: ln.pos, Keyword: kw, Msg: "needs exactly one file name or pattern",
			Hint: "write include /etc/keepalived/conf.d/*.conf (quote a name with spaces)"}
	}
	if len(r.stack) > maxIncludeDepth {
		return &Error{Pos: ln.pos, Keyword: kw, Msg: fmt.Sprintf("includes nested deeper than %d levels", maxIncludeDepth),
			Hint: "flatten the include chain"}
	}
	pattern := ln.toks[1].text
	if len(pattern) > maxPathLen {
		return &Error{Pos: ln.pos, Keyword: kw, Msg: fmt.Sprintf("pattern longer than %d bytes", maxPathLen)}
	}
	if !path.IsAbs(pattern) {
		pattern = path.Join(path.Dir(r.stack[len(r.stack)-1]), pattern)
	}
	alts, err := expandBraces(pattern)
	if err != nil {
		return &Error{Pos: ln.pos, Keyword: kw, Msg: err.Error(), Hint: "check the { , } alternatives in the pattern"}
	}
	seen := map[string]bool{}
	var files []string
	for _, alt := range alts {
		alt = path.Clean(alt)
		matches, err := fs.Glob(r.fsys, fsName(alt))
		if err != nil {
			return &Error{Pos: ln.pos, Keyword: kw, Msg: fmt.Sprintf("bad pattern %q: %v", alt, err),
				Hint: "use *, ? and [...] as in a shell; escape a literal [ as \\["}
		}
		wild := strings.ContainsAny(alt, "*?[")
		if len(matches) == 0 && (check&incBraceEach != 0 && len(alts) > 1 ||
			check&incMatch != 0 && !wild || check&incWildcard != 0 && wild) {
			return &Error{Pos: ln.pos, Keyword: kw, Msg: fmt.Sprintf("%s matches no file", alt),
				Hint: "create the file or use plain include, which allows no match"}
		}
		if len(matches) == 0 {
			r.warn(Warning{Pos: ln.pos, Keyword: kw, Msg: fmt.Sprintf("%s matches no file", alt)})
		}
		for _, m := range matches {
			abs := "/" + m
			if m == "." {
				abs = "/"
			}
			if !seen[abs] {
				seen[abs] = true
				files = append(files, abs)
			}
		}
	}
	for _, abs := range files {
		for _, open := range r.stack {
			if open == abs {
				return &Error{Pos: ln.pos, Keyword: kw, Msg: fmt.Sprintf("include loop: %s includes itself via %s", abs, strings.Join(r.stack, " -> ")),
					Hint: "remove the include that points back to a file being read"}
			}
		}
		data, err := r.readFile(abs, ln.pos)
		if err != nil && check&incReadable == 0 {
			if e, ok := err.(*Error); ok && !strings.HasPrefix(e.Msg, "more than") {
				r.warn(Warning{Pos: e.Pos, Keyword: kw, Msg: e.Msg + "; skipped (includer makes this an error)"})
				continue
			}
		}
		if err != nil {
			return err
		}
		if err := r.addFile(abs, data); err != nil {
			return err
		}
	}
	return nil
}

// expandBraces expands csh-style alternatives: "a{b,c}d" is "abd" and
// "acd"; nesting is allowed; a brace without a comma stays literal, as in
// glob(3) with GLOB_BRACE. The result is capped at maxBraceExpand.
func expandBraces(s string) ([]string, error) {
	open := -1
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			if depth == 0 {
				open = i
			}
			depth++
		case '}':
			if depth == 0 {
				continue
			}
			depth--
			if depth != 0 {
				continue
			}
			parts := splitTopLevel(s[open+1 : i])
			if len(parts) < 2 {
				// "{x}" or "{}": literal, look further right.
				rest, err := expandBraces(s[i+1:])
				if err != nil {
					return nil, err
				}
				out := make([]string, 0, len(rest))
				for _, r := range rest {
					out = append(out, s[:i+1]+r)
				}
				return out, nil
			}
			var out []string
			for _, p := range parts {
				sub, err := expandBraces(s[:open] + p + s[i+1:])
				if err != nil {
					return nil, err
				}
				out = append(out, sub...)
				if len(out) > maxBraceExpand {
					return nil, fmt.Errorf("brace expression expands to more than %d patterns", maxBraceExpand)
				}
			}
			return out, nil
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced '{' in pattern %q", s)
	}
	return []string{s}, nil
}

// splitTopLevel splits s at commas not nested in braces.
func splitTopLevel(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}
