package vrrp

import (
	"testing"

	"github.com/ulvs/ulvs/internal/labeltest"
)

// TestDropLabels pins the ulvs_vrrp_drops_total reason labels, which are
// user-visible: a rename must be deliberate and noted in
// docs/operations.md.
func TestDropLabels(t *testing.T) {
	labeltest.Check(t, NumDrops, []string{"none", "malformed", "unknown_vrid", "own", "length", "ttl", "version",
		"auth_type", "auth_pass", "interval", "type", "total_len", "checksum", "destination", "source"}, true)
	if got := NumDrops.String(); got != "unknown" {
		t.Errorf("NumDrops is named %q, want unknown", got)
	}
}

// TestStateNames pins keepalived's spelling of the states, which notify
// scripts receive as their third argument and ulvs_vrrp_state decodes.
func TestStateNames(t *testing.T) {
	labeltest.Check(t, Stopped+1, []string{"INIT", "BACKUP", "MASTER", "FAULT", "STOP"}, false)
}
