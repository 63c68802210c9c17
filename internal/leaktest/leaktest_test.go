package leaktest

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that records Errorf instead of failing.
type recorder struct {
	testing.TB
	cleanups []func()
	errs     []string
}

func (r *recorder) Helper()          {}
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) finish() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

// TestCheck: a goroutine still blocked at cleanup is reported with its
// stack; one that ended is not.
func TestCheck(t *testing.T) {
	r := &recorder{TB: t}
	Check(r)
	done := make(chan struct{})
	go func() { <-done }()
	go func() {}()
	time.AfterFunc(6*time.Second, func() { close(done) })
	r.finish()
	if len(r.errs) != 1 || !strings.Contains(r.errs[0], "1 goroutine(s)") || !strings.Contains(r.errs[0], "leaktest.TestCheck") {
		t.Fatalf("a blocked goroutine: errors %q", r.errs)
	}

	r = &recorder{TB: t}
	Check(r)
	stop := make(chan struct{})
	go func() { <-stop }()
	close(stop)
	r.finish()
	if len(r.errs) != 0 {
		t.Fatalf("a goroutine that ended: errors %q", r.errs)
	}
}
