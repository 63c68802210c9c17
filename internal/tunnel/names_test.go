package tunnel

import (
	"regexp"
	"testing"
)

// TestDropReasonNames pins the reasons' names, snake_case as metric labels
// are (they were kebab-case, outer-header, until issue 16;
// docs/operations.md notes the rename).
func TestDropReasonNames(t *testing.T) {
	want := []string{"outer_header", "fragment", "not_local", "inner_header", "tun_write"}
	if len(want) != int(NumDropReasons) {
		t.Fatalf("%d reasons, %d pinned names: pin the new reason's name here", NumDropReasons, len(want))
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	for r := range NumDropReasons {
		if got := r.String(); got != want[r] || !snake.MatchString(got) {
			t.Errorf("reason %d is named %q, want %q (snake_case)", r, got, want[r])
		}
	}
}
