package conntrack

import (
	"testing"

	"github.com/ulvs/ulvs/internal/inlinetest"
)

// TestHotPathInlined: the helpers every lookup, hit and batch runs stay
// inlinable.
func TestHotPathInlined(t *testing.T) {
	inlinetest.Check(t, ".",
		"connBE32", "makeInKey", "(*connHasher).in", "(*connHasher).out",
		"(*connTable).shardIndex", "connHome", "(*connTable).homeEntry", "(*connTable).homeOut",
		"(*connShard).next", "(*connEntry).matchIn", "(*connEntry).matchOut", "(*connEntry).expired",
		"Tick.before", "nextTCPState", "(*timeoutTable).of", "(*Tracker).synReschedules",
		"(*Worker).countForward", "(*packet).fetch")
}
