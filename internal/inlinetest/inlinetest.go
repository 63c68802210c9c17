// Package inlinetest checks that the compiler still inlines the hot-path
// helpers whose speed depends on it: a helper that grows past the inlining
// budget costs a call per packet without any test noticing. Only tests
// import it.
package inlinetest

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Check builds package pkg (an import path or ./dir) with -gcflags=-m and
// fails tb for every name in funcs the compiler does not report as
// inlinable. Names are spelled as the compiler prints them: fn,
// Type.method or (*Type).method.
func Check(tb testing.TB, pkg string, funcs ...string) {
	tb.Helper()
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(gobin, "build", "-o", "/dev/null", "-gcflags=-m", pkg).CombinedOutput()
	if err != nil {
		tb.Fatalf("go build -gcflags=-m %s: %v\n%s", pkg, err, out)
	}
	can := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if _, fn, ok := strings.Cut(sc.Text(), ": can inline "); ok {
			name, _, _ := strings.Cut(fn, " ")
			can[name] = true
		}
	}
	for _, f := range funcs {
		if !can[f] {
			tb.Errorf("%s: the compiler no longer inlines %s; it runs once or more per packet, so keep it under the inlining budget (go build -gcflags=-m=2 %s says why)", pkg, f, pkg)
		}
	}
}
