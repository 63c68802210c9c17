package vrrp

import (
	"regexp"
	"testing"
)

// TestDropLabels pins the ulvs_vrrp_drops_total reason labels, which are
// user-visible: a rename must be deliberate and noted in
// docs/operations.md.
func TestDropLabels(t *testing.T) {
	want := []string{"none", "malformed", "unknown_vrid", "own", "length", "ttl", "version", "auth_type",
		"auth_pass", "interval", "type", "total_len", "checksum", "destination", "source"}
	if len(want) != int(NumDrops) {
		t.Fatalf("%d reasons, %d pinned labels: pin the new reason's label here", NumDrops, len(want))
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	for d := range NumDrops {
		if got := d.String(); got != want[d] || !snake.MatchString(got) {
			t.Errorf("drop %d is labelled %q, want %q (snake_case)", d, got, want[d])
		}
	}
	if got := NumDrops.String(); got != "unknown" {
		t.Errorf("NumDrops is named %q, want unknown", got)
	}
}

// TestStateNames pins keepalived's spelling of the states, which notify
// scripts receive as their third argument and ulvs_vrrp_state decodes.
func TestStateNames(t *testing.T) {
	for s, want := range map[State]string{Init: "INIT", Backup: "BACKUP", Master: "MASTER", Fault: "FAULT", Stopped: "STOP"} {
		if got := s.String(); got != want {
			t.Errorf("state %d is named %q, want %q", s, got, want)
		}
	}
}
