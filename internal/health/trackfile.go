package health

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/ulvs/ulvs/internal/config"
)

// Track files (FILE_CHECK): a file holds a number; each real server that
// follows it multiplies the number by its weight. As in keepalived
// (track_file.c), with weight 0 a non-zero number means down (zero with
// reverse); otherwise the product, clamped to 32 bits, is added to the
// server's weight, and only the lowest 32-bit value means down.

// maxTrackFileRead is how much of the file keepalived reads.
const maxTrackFileRead = 127

// ReadTrackFile returns the number in the file at path: 0 when the file is
// missing, empty or does not start with a number (keepalived's strtol
// with base 0, so 0x10 is 16 and 010 is 8). ok is false for a number out
// of range, which keepalived ignores: the previous value stays.
func ReadTrackFile(path string) (v int64, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, true
	}
	defer f.Close()
	b := make([]byte, maxTrackFileRead)
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return 0, true
	}
	v, ok = strtol(string(b[:n]))
	if !ok || v < math.MinInt32 || v > math.MaxInt32+1 {
		return 0, false
	}
	return v, true
}

// strtol parses the number at the start of s as C's strtol(s, NULL, 0):
// leading space, a sign, then hex (0x), octal (0) or decimal digits; the
// rest is ignored, and no digits is 0. ok is false on overflow.
func strtol(s string) (int64, bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	base := 10
	switch {
	case len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && digitVal(s[2]) < 16:
		base, s = 16, s[2:]
	case len(s) > 0 && s[0] == '0':
		base = 8
	}
	end := 0
	for end < len(s) && digitVal(s[end]) < base {
		end++
	}
	if end == 0 {
		return 0, true
	}
	u, err := strconv.ParseUint(s[:end], base, 64)
	switch {
	case err != nil || u > math.MaxInt64+1 || (u > math.MaxInt64 && !neg):
		return 0, false
	case neg:
		return int64(-u), true // -(1<<63) wraps to itself
	}
	return int64(u), true
}

func digitVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return 99
}

// FileStatus turns a track file's value into a FILE_CHECK's verdict: up,
// and the offset added to the real server's weight.
func FileStatus(v int64, fc *config.FileCheck) (up bool, offset int64) {
	if fc.Weight == 0 {
		return (v != 0) == fc.Reverse, 0
	}
	p := v * fc.Weight
	if fc.Reverse {
		p = -p
	}
	p = max(min(p, math.MaxInt32), math.MinInt32)
	if p == math.MinInt32 {
		return false, 0
	}
	return true, p
}

// InitTrackFile writes init_file's value to tf's file when it is missing,
// or always with overwrite. The daemon calls it at start-up, never on a
// reload, as keepalived does.
func InitTrackFile(tf *config.TrackFile) error {
	if !tf.Init {
		return nil
	}
	st, err := os.Stat(tf.Path)
	switch {
	case err == nil && !tf.Overwrite:
		return nil
	case err == nil && !st.Mode().IsRegular():
		return fmt.Errorf("track_file %s: cannot initialise %s: not a regular file", tf.Name, tf.Path)
	}
	if err := os.WriteFile(tf.Path, []byte(strconv.Itoa(tf.InitValue)+"\n"), 0o644); err != nil {
		return fmt.Errorf("track_file %s: initialising: %w", tf.Name, err)
	}
	return nil
}
