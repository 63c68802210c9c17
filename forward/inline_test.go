package forward

import (
	"testing"

	"github.com/ulvs/ulvs/internal/inlinetest"
)

// TestHotPathInlined: the per-frame helpers of the worker and the
// rewriters stay inlinable.
func TestHotPathInlined(t *testing.T) {
	inlinetest.Check(t, ".",
		"setBatchPacket", "NATInbound", "DR", "NATOutbound", "(*workerCounters).drop",
		"(*Counters).Inc", "(*realCache).slot", "(*realCache).countIn", "(*realCache).countOut",
		"(*hopMemo).lookup", "(*worker).txFor", "setMACs")
}
