package daemon

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ulvs/ulvs/internal/config"
)

// TestFileCheckWeights: a real server's weight is its configured (or
// MISC_CHECK dynamic) weight plus the offsets of its FILE_CHECKs that are
// up, clamped to 0..65535; a FILE_CHECK that is down takes it out.
func TestFileCheckWeights(t *testing.T) {
	dir := t.TempDir()
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	file := func(path string, w int64, rev bool) *checkState {
		c := &config.Check{Kind: config.CheckFile, File: &config.FileCheck{File: &config.TrackFile{Name: filepath.Base(path), Path: path},
			Weight: w, Reverse: rev}}
		ev := fileEvent(0, c)
		return &checkState{conf: c, up: ev.Up, offset: ev.Offset, weight: -1}
	}
	tests := []struct {
		name       string
		checks     []*checkState
		configured uint32
		up         bool
		weight     uint32
	}{
		{"value x weight added", []*checkState{file(write("a", "3\n"), 2, false)}, 1, true, 7},
		{"reverse subtracts", []*checkState{file(write("b", "3"), 2, true)}, 10, true, 4},
		{"clamped at 0, kept", []*checkState{file(write("c", "-50"), 1, false)}, 10, true, 0},
		{"clamped at 65535", []*checkState{file(write("d", "100000"), 1, false)}, 10, true, 65535},
		{"two files add up", []*checkState{file(write("e", "1"), 5, false), file(write("f", "2"), 1, false)}, 1, true, 8},
		{"weight 0, non-zero: down", []*checkState{file(write("g", "1"), 0, false), file(write("h", "4"), 1, false)}, 1, false, 0},
		{"weight 0, zero: up", []*checkState{file(write("i", "0"), 0, false)}, 3, true, 3},
		{"missing file is 0", []*checkState{file(filepath.Join(dir, "none"), 0, false)}, 3, true, 3},
		{"MISC dynamic weight plus a file", []*checkState{{conf: &config.Check{Kind: config.CheckMisc}, up: true, weight: 20},
			file(write("j", "2"), -3, false)}, 1, true, 14},
	}
	for _, tc := range tests {
		rh := &realHealth{checks: tc.checks}
		rh.recompute()
		if rh.up != tc.up || (tc.up && rh.weightFor(tc.configured) != tc.weight) {
			t.Errorf("%s: up %v weight %d, want %v %d", tc.name, rh.up, rh.weightFor(tc.configured), tc.up, tc.weight)
		}
	}
}
