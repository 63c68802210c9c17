package daemon

import (
	"strings"
	"testing"

	"github.com/ulvs/ulvs/bfd"
)

// TestBFDHubVerdicts: which session changes a BFD_CHECK hears, as
// keepalived's checker does.
func TestBFDHubVerdicts(t *testing.T) {
	tests := []struct {
		name    string
		ev      bfd.Event
		verdict bool // a verdict is recorded
		up      bool
		err     string
	}{
		{"Down to Init says nothing", bfd.Event{State: bfd.Init, Old: bfd.Down, RemoteState: bfd.Down}, false, false, ""},
		{"Init to Up", bfd.Event{State: bfd.Up, Old: bfd.Init, RemoteState: bfd.Up}, true, true, ""},
		{"Down to Up", bfd.Event{State: bfd.Up, Old: bfd.Down, RemoteState: bfd.Init}, true, true, ""},
		{"Up to Down, timeout", bfd.Event{State: bfd.Down, Old: bfd.Up, RemoteState: bfd.Down, Diag: bfd.DiagTimeExpired},
			true, false, "BFD session s is Down (Control Detection Time Expired; peer says No Diagnostic)"},
		{"Up to Down, peer signalled", bfd.Event{State: bfd.Down, Old: bfd.Up, RemoteState: bfd.Down, Diag: bfd.DiagNeighborDown, RemoteDiag: bfd.DiagTimeExpired},
			true, false, "peer says Control Detection Time Expired"},
		{"Up to Down, peer AdminDown is no failure", bfd.Event{State: bfd.Down, Old: bfd.Up, RemoteState: bfd.AdminDown, Diag: bfd.DiagNeighborDown}, false, false, ""},
		{"Init to Down says nothing", bfd.Event{State: bfd.Down, Old: bfd.Init, RemoteState: bfd.Down, Diag: bfd.DiagTimeExpired}, false, false, ""},
	}
	for _, tt := range tests {
		h := newBFDHub()
		_, _, before := h.get("s")
		tt.ev.Name = "s"
		h.event(tt.ev)
		v, ok, _ := h.get("s")
		woke := false
		select {
		case <-before:
			woke = true
		default:
		}
		if ok != tt.verdict || woke != tt.verdict || v.up != tt.up || !strings.Contains(v.err, tt.err) {
			t.Errorf("%s: verdict %v (woke %v) up %v err %q; want verdict %v up %v err containing %q",
				tt.name, ok, woke, v.up, v.err, tt.verdict, tt.up, tt.err)
		}
	}
}
