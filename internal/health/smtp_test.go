package health

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ulvs/ulvs/internal/config"
	"github.com/ulvs/ulvs/internal/smtptest"
)

func TestSMTP(t *testing.T) {
	tests := []struct {
		name    string
		srv     *smtptest.Server
		wantErr string // "" = up
	}{
		{"up", &smtptest.Server{}, ""},
		{"multi-line greeting", &smtptest.Server{Banner: "220-mail.example.com\n220-more\n220 ready"}, ""},
		{"multi-line HELO reply", &smtptest.Server{HeloReply: "250-a\n250 b"}, ""},
		{"wrong banner", &smtptest.Server{Banner: "554 go away"}, "Bad greeting banner from server"},
		{"not SMTP", &smtptest.Server{Banner: "HTTP/1.1 400 Bad Request"}, "Bad greeting banner from server"},
		{"5xx to HELO", &smtptest.Server{HeloReply: "550 no thanks"}, "Bad HELO response from server"},
		{"4xx to HELO", &smtptest.Server{HeloReply: "421 busy"}, "Bad HELO response from server"},
		{"banner too slow", &smtptest.Server{Delay: 1500 * time.Millisecond}, "Read timeout from server"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.srv
			p := &SMTP{Target: addrPort(t, srv.Run(t)), Helo: "lb1.example.com", Step: 500 * time.Millisecond}
			r := probe(t, p)
			switch {
			case tc.wantErr == "" && !r.Up():
				t.Fatalf("probe failed: %v", r.Err)
			case tc.wantErr != "" && (r.Up() || !strings.Contains(r.Err.Error(), tc.wantErr)):
				t.Fatalf("probe error %v, want one containing %q", r.Err, tc.wantErr)
			}
			if tc.wantErr == "" {
				if h := srv.Helos(); len(h) != 1 || h[0] != "lb1.example.com" {
					t.Errorf("HELO arguments %q, want [lb1.example.com]", h)
				}
			}
		})
	}
}

// TestSMTPServerGone: a refused connection, and a server that accepts and
// closes without a word, are failures.
func TestSMTPServerGone(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := addrPort(t, ln.Addr().String())
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	p := &SMTP{Target: ap, Helo: "x", Step: time.Second}
	pair := fmt.Sprintf("[127.0.0.1]:%d", ap.Port())
	r := probe(t, p)
	var se *SMTPError
	if r.Up() || !errors.As(r.Err, &se) || se.Keepalived != "Read failure from server "+pair {
		t.Fatalf("silent close: %v", r.Err)
	}
	ln.Close()
	r = probe(t, p)
	if r.Up() || !errors.As(r.Err, &se) || se.Keepalived != "Error connecting to server "+pair {
		t.Fatalf("closed port: %v", r.Err)
	}
}

// TestSMTPCancel: the end of the probe's context ends a dialogue stuck on
// a silent server at once, not after the step timeout.
func TestSMTPCancel(t *testing.T) {
	srv := &smtptest.Server{Delay: 10 * time.Second}
	addr := srv.Run(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	r := (&SMTP{Target: addrPort(t, addr), Helo: "x", Step: 10 * time.Second}).Probe(ctx)
	if r.Up() || time.Since(start) > 5*time.Second {
		t.Fatalf("probe took %v: %v", time.Since(start), r.Err)
	}
}

func TestReplyCode(t *testing.T) {
	for line, want := range map[string]int{"220 ok": 220, "250": 250, "250-more": 250, "2500 x": -1, "25": -1,
		"abc def": -1, "": -1, "220\tx": -1} {
		if got := replyCode(line); got != want {
			t.Errorf("replyCode(%q) = %d, want %d", line, got, want)
		}
	}
}

func TestSMTPFromConfig(t *testing.T) {
	c := &config.Check{Kind: config.CheckSMTP, Target: netip.MustParseAddrPort("127.0.0.1:25"), ConnectTimeout: 2 * time.Second,
		SMTP: &config.SMTPCheck{HeloName: "h"}}
	p, err := New(c, ScriptEnv{})
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := p.(*SMTP); !ok || s.Helo != "h" || s.Step != 2*time.Second {
		t.Fatalf("prober %#v", p)
	}
	if tm := TimingOf(c); tm.ConnectTimeout != 12*time.Second {
		t.Errorf("probe bound %v, want 6 steps of 2 s", tm.ConnectTimeout)
	}
}

// FuzzSMTPReply feeds untrusted server output to the reply reader: it
// must not panic, and a code it returns is -1 or three digits.
func FuzzSMTPReply(f *testing.F) {
	for _, s := range []string{"220 ok\r\n", "220-a\r\n220 b\r\n", "250", "2\n", "999-\n999 \n", strings.Repeat("2", 2000) + "\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		code, _, err := readReply(bufio.NewReaderSize(bytes.NewReader(b), maxSMTPLine))
		if err == nil && (code < -1 || code > 999) {
			t.Fatalf("code %d from %q", code, b)
		}
	})
}
