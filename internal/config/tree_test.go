package config

import (
	"strings"
	"testing"
)

func buildString(t *testing.T, in string) (string, error) {
	t.Helper()
	lines, err := lex("f.conf", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	root, err := buildTree(lines, nil)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, c := range root.Children {
		b.WriteString(c.String())
	}
	return b.String(), nil
}

func TestBuildTree(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"brace on keyword line", "vs 1 {\n  a 1\n}\n", "vs 1 {\n    a 1\n}\n"},
		{"brace on next line", "vs 1\n{\n  a 1\n}\n", "vs 1 {\n    a 1\n}\n"},
		{"brace on next line with content", "vs 1\n{ a 1\n}\n", "vs 1 {\n    a 1\n}\n"},
		{"one-line block", "rs 1 80 { w 1 }\n", "rs 1 80 {\n    w 1\n}\n"},
		{"two blocks on a line", "rs 1 { w 1 } rs 2 { w 2 }\n", "rs 1 {\n    w 1\n}\nrs 2 {\n    w 2\n}\n"},
		{"empty block", "rs 1 {\n}\n", "rs 1 {\n}\n"},
		{"nested", "a {\n b {\n  c {\n   d x\n  }\n }\n}\n", "a {\n    b {\n        c {\n            d x\n        }\n    }\n}\n"},
		{"close then keyword", "a {\n b 1 } c 2\n", "a {\n    b 1\n}\nc 2\n"},
		{"quoted args round trip", "s \"a b\"\n", "s \"a b\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := buildString(t, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestBuildTreeErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"extra close", "a {\n}\n}\n", "f.conf:3: extra '}' found"},
		{"missing close", "a {\n b {\n c 1\n", "f.conf:2: b: 2 missing '}'"},
		{"open without keyword", "{\n}\n", "f.conf:1: '{' with no keyword"},
		{"open after a block", "a {\n}\n{\n}\n", "f.conf:3: '{' with no keyword"},
		{"second open", "a { {\n}\n}\n", "f.conf:1: '{' with no keyword"},
		{"too deep", strings.Repeat("a {\n", maxNesting+2), "blocks nested deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildString(t, tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}
