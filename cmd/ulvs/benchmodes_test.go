package main

import (
	"slices"
	"testing"
)

func TestParseCounts(t *testing.T) {
	for in, want := range map[string][]int{"4,32": {4, 32}, " 1 , 4 ": {1, 4}, "128": {128}} {
		if got, err := parseCounts("--conns", in); err != nil || !slices.Equal(got, want) {
			t.Errorf("parseCounts(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-4", "4,,32", "four", "4;32", "20000"} {
		if _, err := parseCounts("--conns", bad); err == nil {
			t.Errorf("parseCounts(%q) succeeded", bad)
		}
	}
}
