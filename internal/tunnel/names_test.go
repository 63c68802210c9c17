package tunnel

import (
	"testing"

	"github.com/ulvs/ulvs/internal/labeltest"
)

// TestDropReasonNames pins the reasons' names, snake_case as metric labels
// are (they were kebab-case, outer-header, until issue 16;
// docs/operations.md notes the rename).
func TestDropReasonNames(t *testing.T) {
	labeltest.Check(t, NumDropReasons, []string{"outer_header", "fragment", "not_local", "inner_header", "tun_write"}, true)
}
