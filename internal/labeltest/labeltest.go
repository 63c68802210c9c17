// Package labeltest pins the names an enum's generated String gives its
// values. The names are user-visible (metric labels, notify-script
// arguments, ipvsadm columns), and with `stringer -linecomment` a name is a
// comment that is easy to edit by accident, so tests list them all and a
// rename becomes a reviewed change to the test (docs/architecture.md, Enum
// names).
package labeltest

import (
	"regexp"
	"testing"
)

// snake is a Prometheus-style label value: lower-case words joined by
// underscores.
var snake = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// Enum is a small enumerated type with a String method.
type Enum interface {
	~uint8
	String() string
}

// Check fails t unless the values 0 to n-1 of an enum are named want, in
// order, and, if snakeCase, every name is snake_case. n is the count of
// values (the type's count sentinel where it has one).
func Check[E Enum](t testing.TB, n E, want []string, snakeCase bool) {
	t.Helper()
	if int(n) != len(want) {
		t.Fatalf("%d values, %d pinned names: pin the new value's name here", n, len(want))
	}
	for i, w := range want {
		if got := E(i).String(); got != w || snakeCase && !snake.MatchString(got) {
			t.Errorf("value %d is named %q, want %q", i, got, w)
		}
	}
}
