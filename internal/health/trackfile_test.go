package health

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ulvs/ulvs/internal/config"
)

func TestStrtol(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"5\n", 5, true}, {"  -12 apples", -12, true}, {"+7", 7, true}, {"0x1f", 31, true}, {"010", 8, true},
		{"09", 0, true}, {"", 0, true}, {"abc", 0, true}, {"0x", 0, true}, {"-", 0, true},
		{"99999999999999999999", 0, false}, {"2147483648", 2147483648, true},
		{"-9223372036854775808", math.MinInt64, true}, {"9223372036854775808", 0, false},
	}
	for _, tc := range tests {
		if got, ok := strtol(tc.in); got != tc.want || ok != tc.ok {
			t.Errorf("strtol(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestReadTrackFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if v, ok := ReadTrackFile(p); v != 0 || !ok {
		t.Errorf("missing file: %d %v, want 0 true", v, ok)
	}
	for content, want := range map[string]struct {
		v  int64
		ok bool
	}{"42\n": {42, true}, "": {0, true}, "-2147483648": {math.MinInt32, true}, "2147483649": {0, false}, "0x10 junk": {16, true}} {
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if v, ok := ReadTrackFile(p); v != want.v || ok != want.ok {
			t.Errorf("file %q: %d %v, want %d %v", content, v, ok, want.v, want.ok)
		}
	}
}

func TestFileStatus(t *testing.T) {
	tests := []struct {
		v       int64
		w       int64
		reverse bool
		up      bool
		offset  int64
	}{
		{0, 0, false, true, 0},                   // weight 0: zero is OK
		{1, 0, false, false, 0},                  // ... non-zero is down
		{-5, 0, false, false, 0},                 //
		{0, 0, true, false, 0},                   // reverse: zero is down
		{3, 0, true, true, 0},                    // ... non-zero is OK
		{5, 2, false, true, 10},                  // the product is the offset
		{5, 2, true, true, -10},                  // reverse negates it
		{-3, 1, false, true, -3},                 //
		{math.MaxInt32 + 1, -1, false, false, 0}, // only the lowest value is down
		{math.MaxInt32, 2, false, true, math.MaxInt32},
	}
	for _, tc := range tests {
		up, off := FileStatus(tc.v, &config.FileCheck{Weight: tc.w, Reverse: tc.reverse})
		if up != tc.up || off != tc.offset {
			t.Errorf("value %d weight %d reverse %v: up %v offset %d, want %v %d", tc.v, tc.w, tc.reverse, up, off, tc.up, tc.offset)
		}
	}
}

func TestInitTrackFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	tf := &config.TrackFile{Name: "f", Path: p, Init: true, InitValue: 3}
	if err := InitTrackFile(tf); err != nil {
		t.Fatal(err)
	}
	if v, _ := ReadTrackFile(p); v != 3 {
		t.Fatalf("created with %d, want 3", v)
	}
	os.WriteFile(p, []byte("9\n"), 0o644)
	InitTrackFile(tf)
	if v, _ := ReadTrackFile(p); v != 9 {
		t.Fatalf("without overwrite the file became %d, want 9 kept", v)
	}
	tf.Overwrite = true
	InitTrackFile(tf)
	if v, _ := ReadTrackFile(p); v != 3 {
		t.Fatalf("with overwrite the file holds %d, want 3", v)
	}
}

// TestWatchFiles: writing, renaming over and removing a tracked file are
// each reported; another file in the directory is not.
func TestWatchFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tracked")
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	got := map[string]int{}
	ret := make(chan error, 1)
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		ret <- WatchFiles(ctx, []string{p}, func(path string) {
			mu.Lock()
			got[path]++
			mu.Unlock()
		}, func() { close(ready) })
	}()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return got[p]
	}
	wait := func(what string, n int) {
		t.Helper()
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			if count() >= n {
				return
			}
		}
		t.Fatalf("%s: %d events, want %d", what, count(), n)
	}
	select {
	case <-ready:
	case err := <-ret:
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "other"), []byte("1"), 0o644)
	os.WriteFile(p, []byte("1\n"), 0o644)
	wait("write", 1)
	tmp := filepath.Join(dir, "tmp")
	os.WriteFile(tmp, []byte("2\n"), 0o644)
	os.Rename(tmp, p)
	wait("rename over", 2)
	os.Remove(p)
	wait("remove", 3)
	mu.Lock()
	if len(got) != 1 {
		t.Errorf("events for %v, want only %s", got, p)
	}
	mu.Unlock()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("WatchFiles did not return after its context ended")
	}
	if err := <-ret; err != nil {
		t.Fatal(err)
	}
	if err := WatchFiles(context.Background(), []string{"/nonexistent-ulvs/f"}, func(string) {}, nil); err == nil {
		t.Error("a missing directory was watched without error")
	}
}

// FuzzStrtol: any file content parses without panicking, and a decimal
// number reads back as itself.
func FuzzStrtol(f *testing.F) {
	for _, s := range []string{"5\n", "-0x1F", "010", " +7 x", "", "99999999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		strtol(s)
		if v, err := strconv.ParseInt(s, 10, 64); err == nil && (len(s) < 2 || s[0] != '0') && !strings.HasPrefix(s, "-0") && !strings.HasPrefix(s, "+0") {
			if got, ok := strtol(s); !ok || got != v {
				t.Fatalf("strtol(%q) = %d %v, want %d", s, got, ok, v)
			}
		}
	})
}
