package config

import (
	"fmt"
	"strings"
	"testing"
)

// renderLines shows lexed lines as "N: tok tok", quoted words in "".
func renderLines(lines []line) []string {
	var out []string
	for _, ln := range lines {
		var toks []string
		for _, t := range ln.toks {
			switch {
			case t.kind == tokOpen:
				toks = append(toks, "{")
			case t.kind == tokClose:
				toks = append(toks, "}")
			case t.quoted:
				toks = append(toks, `"`+t.text+`"`)
			default:
				toks = append(toks, t.text)
			}
		}
		out = append(out, fmt.Sprintf("%d: %s", ln.pos.Line, strings.Join(toks, " ")))
	}
	return out
}

func TestLex(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"words", "lb_algo  wlc\n\tlb_kind\tNAT\n", []string{"1: lb_algo wlc", "2: lb_kind NAT"}},
		{"blank and comment lines dropped", "\n# c\n  ! c\nrouter_id x\n", []string{"4: router_id x"}},
		{"hash comment mid line", "weight 1 # two\n", []string{"1: weight 1"}},
		{"bang comment mid line", "inhibit_on_failure ! weight 0 on failure\n", []string{"1: inhibit_on_failure"}},
		{"comment chars in quotes", `script "/bin/x # y ! z"` + "\n", []string{`1: script "/bin/x # y ! z"`}},
		{"escaped comment chars", `a \#b c\!d` + "\n", []string{"1: a #b c!d"}},
		{"quoted string with spaces", `router_id "my lb"`, []string{`1: router_id "my lb"`}},
		{"escaped quote in quotes", `s "a \"b\" \\ \n"`, []string{`1: s "a "b" \ \n"`}},
		{"empty quoted", `notify ""`, []string{`1: notify ""`}},
		{"quote joins a word", `a"b c"d`, []string{`1: "ab cd"`}},
		{"braces split words", "real_server 1.2.3.4 80{weight 1}", []string{"1: real_server 1.2.3.4 80 { weight 1 }"}},
		{"braces in quotes", `x "{a}"`, []string{`1: x "{a}"`}},
		{"close then text", "} real_server x {", []string{"1: } real_server x {"}},
		{"continuation", "lvs_sync_daemon eth0 \\\n   VI_1\nnext\n", []string{"1: lvs_sync_daemon eth0 VI_1", "3: next"}},
		{"continuation joins directly", "ab\\\ncd\n", []string{"1: abcd"}},
		{"continuation after comment", "a \\ # c\nb\n", []string{"1: a b"}},
		{"escaped backslash is no continuation", "a \\\\\nb\n", []string{`1: a \`, "2: b"}},
		{"continuation at eof", "a \\", []string{"1: a"}},
		{"crlf", "a b\r\nc\r\n", []string{"1: a b", "2: c"}},
		{"include braces are a pattern", "  include {a,b}/*.conf\n", []string{"1: include {a,b}/*.conf"}},
		{"other escapes kept", `x a\nb`, []string{`1: x a\nb`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines, err := lex("f.conf", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			got := renderLines(lines)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestLexUnmatchedQuote(t *testing.T) {
	_, err := lex("f.conf", []byte("a\nscript \"/bin/x\n"))
	if err == nil || !strings.Contains(err.Error(), "f.conf:2: unmatched quote") {
		t.Fatalf("got %v, want f.conf:2: unmatched quote", err)
	}
}
