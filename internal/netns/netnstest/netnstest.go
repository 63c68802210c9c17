// Package netnstest holds the test-only helpers over package netns: an Env
// torn down with the test, and the two-namespace Pair topology. It imports
// testing, so only tests link it.
package netnstest

import (
	"testing"

	"github.com/ulvs/ulvs/internal/netns"
)

// ForTest returns an Env whose teardown is registered with tb.Cleanup. It
// skips the test with a clear message when not running as root.
func ForTest(tb testing.TB) *netns.Env {
	tb.Helper()
	if !netns.IsRoot() {
		tb.Skipf("netns: skipping, this test builds network namespaces and needs root")
	}
	e, err := netns.NewEnv(nil)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	tb.Cleanup(func() {
		if err := e.Close(); err != nil {
			tb.Logf("netns teardown: %v", err)
		}
	})
	return e
}

// Pair is the smallest test topology: namespaces "a" and "b" of a new Env
// (torn down with tb), joined by a veth whose ends aDev and bDev are up and
// get aAddr and bAddr (CIDR; "" for none). It skips when not root.
func Pair(tb testing.TB, aDev, aAddr, bDev, bAddr string) (a, b *netns.NS) {
	tb.Helper()
	env := ForTest(tb)
	var err error
	if a, err = env.Add("a"); err != nil {
		tb.Fatalf("%v", err)
	}
	if b, err = env.Add("b"); err != nil {
		tb.Fatalf("%v", err)
	}
	if err := env.Veth(a, aDev, b, bDev); err != nil {
		tb.Fatalf("%v", err)
	}
	for _, x := range []struct {
		ns        *netns.NS
		dev, addr string
	}{{a, aDev, aAddr}, {b, bDev, bAddr}} {
		if x.addr == "" {
			continue
		}
		if err := x.ns.AddrAdd(x.dev, x.addr); err != nil {
			tb.Fatalf("%v", err)
		}
	}
	return a, b
}
