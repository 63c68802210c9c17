package alert

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/internal/config"
	"github.com/ulvs/ulvs/internal/smtptest"
)

func run(t *testing.T, m *Mailer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func receive(t *testing.T, s *smtptest.Server) smtptest.Mail {
	t.Helper()
	select {
	case m := <-s.Mails():
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no mail reached the sink")
	}
	return smtptest.Mail{}
}

// TestMessages: each kind of alert arrives with keepalived's subject and
// body, the configured sender and recipients, and keepalived's headers.
func TestMessages(t *testing.T) {
	s := &smtptest.Server{}
	addr := s.Run(t)
	cfg := Config{Server: addr, Helo: "lb1.example.com", Timeout: 5 * time.Second, From: "lb@example.com",
		To: []string{"ops@example.com", "My Admin <admin@example.com>"}, RouterID: "LVS_1"}
	m := New(cfg, nil)
	run(t, m)
	rs := Trio(netip.MustParseAddrPort("10.0.1.1:8080"), balancer.TCP)
	vs := Trio(netip.MustParseAddrPort("10.0.0.1:80"), balancer.TCP)
	tests := []struct {
		send          func() bool
		subject, body string
	}{
		{func() bool { return m.RealServer(rs, vs, false, CheckerBody(config.CheckTCP, false, "")) },
			"[LVS_1] Realserver [10.0.1.1]:tcp:8080 of virtual server [10.0.0.1]:tcp:80 - DOWN", "=> TCP CHECK failed on service <="},
		{func() bool { return m.RealServer(rs, vs, true, CheckerBody(config.CheckSMTP, true, "")) },
			"[LVS_1] Realserver [10.0.1.1]:tcp:8080 of virtual server [10.0.0.1]:tcp:80 - UP", "=> CHECK succeed on service <="},
		{func() bool { return m.Quorum(vs, false, 3, 1, 2, 1) },
			"[LVS_1] Virtualserver [10.0.0.1]:tcp:80 - DOWN", "=> Lost quorum 3+1=2 <= 1 <="},
		{func() bool { return m.VRRP(false, "VI_1", "MASTER") },
			"[LVS_1] VRRP Instance VI_1 - Entering MASTER state", "=> VRRP Instance is now owning VRRP VIPs <="},
		{func() bool { return m.VRRP(true, "G1", "STOP") },
			"[LVS_1] VRRP Group G1 - Stopping", "=> All VRRP group instances are now stopping <="},
	}
	for _, tc := range tests {
		if !tc.send() {
			t.Fatalf("%q not queued", tc.subject)
		}
		got := receive(t, s)
		if got.Helo != "lb1.example.com" || got.From != "<lb@example.com>" ||
			strings.Join(got.To, " ") != "<ops@example.com> <admin@example.com>" {
			t.Errorf("envelope: HELO %q FROM %q TO %q", got.Helo, got.From, got.To)
		}
		head, body, ok := strings.Cut(got.Data, "\r\n\r\n")
		if !ok {
			t.Fatalf("no header/body separator in %q", got.Data)
		}
		for _, h := range []string{"Subject: " + tc.subject + "\r\n", "From: lb@example.com\r\n", "X-Mailer: Keepalived",
			"To: ops@example.com,\r\n My Admin <admin@example.com>", "Date: "} {
			if !strings.Contains(head+"\r\n", h) {
				t.Errorf("headers lack %q:\n%s", h, head)
			}
		}
		if body != tc.body+"\r\n\r\n" {
			t.Errorf("body %q, want %q", body, tc.body)
		}
	}
	for end := time.Now().Add(10 * time.Second); m.Sent.Load() < uint64(len(tests)) && time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
	}
	if m.Sent.Load() != uint64(len(tests)) || m.Failed.Load() != 0 {
		t.Errorf("sent %d failed %d", m.Sent.Load(), m.Failed.Load())
	}
}

// TestUntrustedText: a server's reply quoted in a failure cannot add
// header lines or end the DATA early.
func TestUntrustedText(t *testing.T) {
	s := &smtptest.Server{}
	addr := s.Run(t)
	m := New(Config{Server: addr, Helo: "h", Timeout: 5 * time.Second, From: "a@b", To: []string{"c@d"}}, nil)
	run(t, m)
	m.Send("evil\r\nBcc: x@y", CheckerBody(config.CheckSMTP, false, "bad greeting \"554\r\n.\r\nMAIL FROM:<x>\""))
	got := receive(t, s)
	head, body, _ := strings.Cut(got.Data, "\r\n\r\n")
	if strings.Contains(head, "\r\nBcc:") {
		t.Errorf("header injected:\n%s", head)
	}
	// The sink removes the stuffing: the whole body arrived, dot and all.
	if want := "=> CHECK failed on service : bad greeting \"554\r\n.\r\nMAIL FROM:<x>\" <=\r\n\r\n"; body != want {
		t.Errorf("body %q, want %q", body, want)
	}
}

// TestQueueFull: with the server silent, Send never blocks; mail beyond
// the queue is dropped and counted.
func TestQueueFull(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accept and say nothing
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	m := New(Config{Server: ln.Addr().String(), Timeout: 30 * time.Second, From: "a@b", To: []string{"c@d"}}, nil)
	run(t, m)
	start := time.Now()
	queued := 0
	for range QueueLen + 20 {
		if m.Send("s", "b") {
			queued++
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Send blocked for %v", d)
	}
	if queued > QueueLen+1 || m.Dropped.Load() < 19 {
		t.Errorf("queued %d, dropped %d; the queue holds %d", queued, m.Dropped.Load(), QueueLen)
	}
}

// TestRejected: a recipient the server refuses fails the mail, counted.
func TestRejected(t *testing.T) {
	s := &smtptest.Server{HeloReply: "550 go away"}
	addr := s.Run(t)
	m := New(Config{Server: addr, Helo: "h", Timeout: 5 * time.Second, From: "a@b", To: []string{"c@d"}}, nil)
	run(t, m)
	m.Send("s", "b")
	for end := time.Now().Add(10 * time.Second); m.Failed.Load() == 0 && time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
	}
	if m.Failed.Load() != 1 || m.Sent.Load() != 0 {
		t.Errorf("failed %d sent %d, want 1 0", m.Failed.Load(), m.Sent.Load())
	}
}

func TestDisabled(t *testing.T) {
	if New(Config{Server: "127.0.0.1:25"}, nil).Send("s", "b") {
		t.Error("queued without recipients")
	}
	var m *Mailer
	if m.Send("s", "b") {
		t.Error("a nil mailer queued")
	}
}

func TestFromGlobal(t *testing.T) {
	g := &config.GlobalDefs{SMTPServer: "127.0.0.1", NotificationEmail: []string{"x@y"}}
	c := FromGlobal(g)
	if c.Server != "127.0.0.1:25" || c.Helo == "" || c.RouterID == "" || !strings.Contains(c.From, "@") || c.Timeout != 30*time.Second {
		t.Errorf("defaults %+v", c)
	}
	g.SMTPServer = "::1 2525"
	if c := FromGlobal(g); c.Server != "[::1]:2525" {
		t.Errorf("server %q", c.Server)
	}
}

func TestCheckerBody(t *testing.T) {
	for _, tc := range []struct {
		kind config.CheckKind
		up   bool
		want string
	}{
		{config.CheckHTTP, false, "=> CHECK failed on service : HTTP/SSL request failed <="},
		{config.CheckSSL, true, "=> CHECK succeed on service <="},
		{config.CheckMisc, false, "=> MISC CHECK failed on service <="},
		{config.CheckDNS, true, "=> DNS_CHECK: succeed on service <="},
		{config.CheckPing, false, "=> ICMP CHECK failed on service <="},
		{config.CheckUDP, true, "=> UDP CHECK succeed on service <="},
		{config.CheckSMTP, false, "=> CHECK failed on service : x <="},
		{config.CheckBFD, true, "=> BFD CHECK x succeeded on service <="},
		{config.CheckBFD, false, "=> BFD CHECK x failed on service <="},
	} {
		if got := CheckerBody(tc.kind, tc.up, "x"); got != tc.want {
			t.Errorf("%v up=%v: %q, want %q", tc.kind, tc.up, got, tc.want)
		}
	}
}
