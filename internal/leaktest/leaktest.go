// Package leaktest checks that a test leaves no goroutine behind: every
// goroutine that started while the test ran has ended by its cleanup.
// Only tests import it.
package leaktest

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Check records the goroutines alive now and registers a cleanup that
// fails tb if goroutines started since are still alive after a grace
// period (goroutines that are returning need a moment to be gone). Call
// it first in the test, so that it runs after the test's other cleanups.
func Check(tb testing.TB) {
	tb.Helper()
	before := ids(snapshot())
	tb.Cleanup(func() {
		var left []string
		for deadline := time.Now().Add(5 * time.Second); ; {
			left = left[:0]
			for _, g := range snapshot() {
				if !before[id(g)] {
					left = append(left, g)
				}
			}
			if len(left) == 0 {
				return
			}
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		tb.Errorf("leaktest: %d goroutine(s) started by the test are still running:\n\n%s", len(left), strings.Join(left, "\n\n"))
	})
}

// snapshot returns the stack of every goroutine, one string each.
func snapshot() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if s := strings.TrimSpace(string(g)); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// id is a goroutine's header line up to its state ("goroutine 42").
func id(g string) string {
	head, _, _ := strings.Cut(g, " [")
	return head
}

func ids(gs []string) map[string]bool {
	m := make(map[string]bool, len(gs))
	for _, g := range gs {
		m[id(g)] = true
	}
	return m
}
