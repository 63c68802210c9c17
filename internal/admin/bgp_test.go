package admin

import (
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// announcerControl is a Control with BGP.
type announcerControl struct {
	fakeControl
	drained bool
}

func (a *announcerControl) BGPDrain() time.Duration { a.drained = true; return 2500 * time.Millisecond }

func (a *announcerControl) BGPUndrain() error {
	if !a.drained {
		return errors.New("not drained")
	}
	a.drained = false
	return nil
}

func TestBGPDrainUndrain(t *testing.T) {
	a := &announcerControl{}
	path := filepath.Join(t.TempDir(), "a.sock")
	srv, err := Listen(path, a, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := NewClient(path)
	if wait, err := c.DrainDirector(); err != nil || wait != 2500*time.Millisecond || !a.drained {
		t.Errorf("drain: wait %v, err %v, drained %v; want 2.5s, nil, true", wait, err, a.drained)
	}
	if err := c.UndrainDirector(); err != nil || a.drained {
		t.Errorf("undrain: %v, drained %v", err, a.drained)
	}
	if err := c.UndrainDirector(); err == nil || err.Error() != "not drained" {
		t.Errorf("second undrain: %v; the director's error must reach the caller", err)
	}

	// A director without BGP says so.
	path2 := filepath.Join(t.TempDir(), "b.sock")
	srv2, err := Listen(path2, &fakeControl{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	for name, do := range map[string]func() error{
		"drain":   func() error { _, err := NewClient(path2).DrainDirector(); return err },
		"undrain": NewClient(path2).UndrainDirector,
	} {
		if err := do(); err == nil || !strings.Contains(err.Error(), "no bgp block") {
			t.Errorf("%s without BGP: %v", name, err)
		}
	}
}
