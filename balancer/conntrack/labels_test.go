package conntrack

import (
	"regexp"
	"testing"
)

// TestLabelsSnakeCase pins the label style of the generated String methods:
// the drop reasons are metric labels, and Prometheus labels are snake_case.
func TestLabelsSnakeCase(t *testing.T) {
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	seen := map[string]DropReason{}
	for r := DropNone; r < NumDropReasons; r++ {
		s := r.String()
		if !snake.MatchString(s) {
			t.Errorf("DropReason %d label %q is not snake_case", r, s)
		}
		if o, dup := seen[s]; dup {
			t.Errorf("DropReason %d and %d share the label %q", o, r, s)
		}
		seen[s] = r
	}
	for _, a := range []Action{ActionNotService, ActionForward, ActionDrop} {
		if s := a.String(); !snake.MatchString(s) {
			t.Errorf("Action %d label %q is not snake_case", a, s)
		}
	}
	if got := DropReason(200).String(); got != "DropReason(200)" {
		t.Errorf("out-of-range DropReason = %q, want DropReason(200)", got)
	}
}
