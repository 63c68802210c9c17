package health

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ulvs/ulvs/internal/config"
)

func probe(t *testing.T, p Prober) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return p.Probe(ctx)
}

func addrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

func TestTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := addrPort(t, ln.Addr().String())
	if r := probe(t, &TCP{Target: ap}); !r.Up() {
		t.Fatalf("listening port: %v", r.Err)
	}
	if r := probe(t, &TCP{Target: ap, Bind: netip.MustParseAddrPort("127.0.0.1:0")}); !r.Up() {
		t.Fatalf("with bindto: %v", r.Err)
	}
	ln.Close()
	if r := probe(t, &TCP{Target: ap}); r.Up() {
		t.Fatal("closed port reported up")
	}
}

func TestHTTP(t *testing.T) {
	body := "hello ulvs\n"
	sum := md5.Sum([]byte(body))
	var lastHost string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lastHost = r.Host
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte(body))
		case "/503":
			w.WriteHeader(503)
		default:
			http.NotFound(w, r)
		}
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	tls := httptest.NewTLSServer(h)
	defer tls.Close()
	tests := []struct {
		name string
		urls []config.URL
		host string
		up   bool
	}{
		{"default 2xx", []config.URL{{Path: "/ok"}}, "", true},
		{"404 fails", []config.URL{{Path: "/nope"}}, "", false},
		{"status range accepts 503", []config.URL{{Path: "/503", StatusCodes: []config.StatusRange{{Lo: 200, Hi: 299}, {Lo: 500, Hi: 503}}}}, "", true},
		{"status range rejects", []config.URL{{Path: "/ok", StatusCodes: []config.StatusRange{{Lo: 201, Hi: 204}}}}, "", false},
		{"digest ok", []config.URL{{Path: "/ok", Digest: sum[:]}}, "", true},
		{"digest wrong", []config.URL{{Path: "/ok", Digest: make([]byte, 16)}}, "", false},
		{"all urls must pass", []config.URL{{Path: "/ok"}, {Path: "/nope"}}, "", false},
		{"virtualhost", []config.URL{{Path: "/ok"}}, "www.example.com", true},
	}
	for _, tc := range tests {
		for _, useTLS := range []bool{false, true} {
			s := srv
			if useTLS {
				s = tls
			}
			p := &HTTP{Target: addrPort(t, s.Listener.Addr().String()), TLS: useTLS,
				Conf: config.HTTPCheck{URLs: tc.urls, Protocol: "1.0", Virtualhost: tc.host, EnableSNI: useTLS}}
			r := probe(t, p)
			if r.Up() != tc.up {
				t.Errorf("%s (tls %v): up %v, want %v (%v)", tc.name, useTLS, r.Up(), tc.up, r.Err)
			}
			if tc.host != "" && lastHost != tc.host {
				t.Errorf("%s: Host %q, want %q", tc.name, lastHost, tc.host)
			}
		}
	}
	// HTTP_GET against a TLS server fails.
	p := &HTTP{Target: addrPort(t, tls.Listener.Addr().String()), Conf: config.HTTPCheck{URLs: []config.URL{{Path: "/ok"}}}}
	if r := probe(t, p); r.Up() {
		t.Error("plain HTTP to a TLS port reported up")
	}
}

func writeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "check.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMisc(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		dynamic bool
		up      bool
		weight  int
	}{
		{"exit 0 up", "exit 0", false, true, -1},
		{"exit 1 down", "exit 1", false, false, -1},
		{"exit 5 without dynamic down", "exit 5", false, false, -1},
		{"exit 1 dynamic down", "exit 1", true, false, -1},
		{"exit 2 dynamic weight 0", "exit 2", true, true, 0},
		{"exit 7 dynamic weight 5", "exit 7", true, true, 5},
		{"exit 255 dynamic weight 253", "exit 255", true, true, 253},
		{"timeout down", "sleep 5", false, false, -1},
		{"args without shell", `[ "$1" = "a b" ] && exit 0; exit 1`, false, true, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{writeScript(t, tc.body)}
			if tc.name == "args without shell" {
				args = append(args, "a b")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			r := (&Misc{Args: args, Dynamic: tc.dynamic}).Probe(ctx)
			if r.Up() != tc.up || r.Weight != tc.weight {
				t.Errorf("up %v weight %d, want %v %d (%v)", r.Up(), r.Weight, tc.up, tc.weight, r.Err)
			}
		})
	}
}

func TestUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte("pong:"), buf[:n]...), from)
		}
	}()
	ap := addrPort(t, pc.LocalAddr().String())
	tests := []struct {
		name string
		conf config.UDPCheck
		up   bool
	}{
		{"any reply", config.UDPCheck{Payload: []byte("ping")}, true},
		{"require reply", config.UDPCheck{Payload: []byte("ping"), RequireReply: []byte("pong"), ReplyMask: []byte{0xff, 0xff, 0xff, 0xff}}, true},
		{"wildcard", config.UDPCheck{Payload: []byte("ping"), RequireReply: []byte("p\x00ng"), ReplyMask: []byte{0xff, 0x00, 0xff, 0xff}}, true},
		{"mismatch", config.UDPCheck{Payload: []byte("ping"), RequireReply: []byte("pang"), ReplyMask: []byte{0xff, 0xff, 0xff, 0xff}}, false},
		{"too long", config.UDPCheck{Payload: []byte("ping"), MaxReplyLength: 4}, false},
	}
	for _, tc := range tests {
		if r := probe(t, &UDP{Target: ap, Conf: tc.conf}); r.Up() != tc.up {
			t.Errorf("%s: up %v, want %v (%v)", tc.name, r.Up(), tc.up, r.Err)
		}
	}
	pc.Close()
	// A closed port answers with ICMP port unreachable: down.
	if r := probe(t, &UDP{Target: ap, Conf: config.UDPCheck{Payload: []byte("ping")}}); r.Up() {
		t.Error("closed UDP port reported up")
	}
}

func TestPing(t *testing.T) {
	if r := probe(t, &Ping{Target: netip.MustParseAddr("127.0.0.1")}); !r.Up() {
		t.Fatalf("ping 127.0.0.1: %v", r.Err)
	}
	if r := probe(t, &Ping{Target: netip.MustParseAddr("127.0.0.1"), Bind: netip.MustParseAddr("127.0.0.1")}); !r.Up() {
		t.Fatalf("ping with bindto: %v", r.Err)
	}
}

// dnsServer answers queries for example.com with one A record, and every
// other name with NXDOMAIN.
func dnsServer(t *testing.T, mangle func([]byte) []byte) netip.AddrPort {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := buf[:n]
			want, _ := dnsQuery(binary.BigEndian.Uint16(q), "example.com", 1)
			resp := append([]byte(nil), q...)
			if string(q[12:]) == string(want[12:]) {
				binary.BigEndian.PutUint16(resp[2:], 0x8180)
				binary.BigEndian.PutUint16(resp[6:], 1)
				resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1)
			} else {
				binary.BigEndian.PutUint16(resp[2:], 0x8183)
			}
			if mangle != nil {
				resp = mangle(resp)
			}
			pc.WriteTo(resp, from)
		}
	}()
	return addrPort(t, pc.LocalAddr().String())
}

func TestDNS(t *testing.T) {
	ap := dnsServer(t, nil)
	if r := probe(t, &DNS{Target: ap, Type: 1, Name: "example.com"}); !r.Up() {
		t.Errorf("A example.com: %v", r.Err)
	}
	if r := probe(t, &DNS{Target: ap, Type: 1, Name: "example.com."}); !r.Up() {
		t.Errorf("trailing dot: %v", r.Err)
	}
	if r := probe(t, &DNS{Target: ap, Type: 1, Name: "nope.example"}); r.Up() {
		t.Error("NXDOMAIN reported up")
	}
	bad := dnsServer(t, func(b []byte) []byte { b[2] &^= 0x80; return b })
	if r := probe(t, &DNS{Target: bad, Type: 1, Name: "example.com"}); r.Up() {
		t.Error("reply without QR reported up")
	}
}

// TestMachine checks the retry state machine and the detection bound with
// exact time accounting (no clock: every probe takes the full timeout).
func TestMachine(t *testing.T) {
	fail := Result{Err: errors.New("x"), Weight: -1}
	ok := Result{Weight: -1}
	tm := Timing{DelayLoop: 6 * time.Second, ConnectTimeout: 2 * time.Second, DelayBeforeRetry: 3 * time.Second, Retry: 2}
	m := NewMachine(tm)
	if !m.Up() {
		t.Fatal("starts down without alpha")
	}
	// Detection: the failure starts right after a successful probe; the
	// next probe comes delay_loop later; each failed probe takes
	// connect_timeout; retries wait delay_before_retry.
	elapsed := tm.DelayLoop
	for i := 0; ; i++ {
		elapsed += tm.ConnectTimeout
		next, changed := m.Step(fail)
		if changed {
			if i != tm.Retry {
				t.Fatalf("down after %d failures, want %d", i+1, tm.Retry+1)
			}
			if next != tm.DelayLoop {
				t.Errorf("after down, next probe in %v", next)
			}
			break
		}
		if next != tm.DelayBeforeRetry {
			t.Fatalf("retry wait %v", next)
		}
		elapsed += next
	}
	if elapsed != tm.DetectionBound() {
		t.Errorf("detected after %v, bound %v", elapsed, tm.DetectionBound())
	}
	if _, changed := m.Step(fail); changed || m.Up() {
		t.Error("a down checker changed on another failure")
	}
	if _, changed := m.Step(ok); !changed || !m.Up() {
		t.Error("one success must bring it up")
	}
	// A failure followed by a success within the retries does not flap.
	m.Step(fail)
	if _, changed := m.Step(ok); changed {
		t.Error("recovered retry reported a change")
	}
	// alpha starts down; dynamic weight changes are changes.
	a := NewMachine(Timing{Alpha: true, DelayLoop: time.Second})
	if a.Up() {
		t.Error("alpha starts up")
	}
	if _, changed := a.Step(Result{Weight: 3}); !changed || a.Weight() != 3 {
		t.Error("first success with weight")
	}
	if _, changed := a.Step(Result{Weight: 4}); !changed {
		t.Error("weight change not reported")
	}
	if _, changed := a.Step(Result{Weight: 4}); changed {
		t.Error("same weight reported")
	}
	// retry 0: the first failure takes it down.
	z := NewMachine(Timing{DelayLoop: time.Second})
	if _, changed := z.Step(fail); !changed {
		t.Error("retry 0: first failure must take it down")
	}
}

func TestWarmupSpread(t *testing.T) {
	m := NewMachine(Timing{Warmup: 10 * time.Second})
	var seen [10]bool
	for i := int64(0); i < 10; i++ {
		d := m.FirstDelay(func(n int64) int64 { return n / 10 * i })
		if d < 0 || d >= 10*time.Second {
			t.Fatalf("first delay %v outside [0, warmup)", d)
		}
		seen[d/time.Second] = true
	}
	for i, s := range seen {
		if !s {
			t.Errorf("no checker started in second %d", i)
		}
	}
	if d := NewMachine(Timing{}).FirstDelay(nil); d != 0 {
		t.Errorf("warmup 0: first delay %v", d)
	}
}

func TestQuorum(t *testing.T) {
	q := NewQuorum(4, 1, 5)
	steps := []struct {
		alive   uint64
		up      bool
		changed bool
	}{
		{4, true, false}, {3, true, false}, {2, false, true}, {3, false, false}, {4, false, false}, {5, true, true},
	}
	for i, s := range steps {
		changed := q.Update(s.alive)
		if q.Up() != s.up || changed != s.changed {
			t.Errorf("step %d alive %d: up %v changed %v, want %v %v", i, s.alive, q.Up(), changed, s.up, s.changed)
		}
	}
	if NewQuorum(3, 0, 2).Up() {
		t.Error("starts up below quorum")
	}
}

// TestRunner runs a real runner against a flapping prober.
func TestRunner(t *testing.T) {
	var up atomic.Bool
	up.Store(true)
	events := make(chan Event, 10)
	p := proberFunc(func(ctx context.Context) Result {
		if up.Load() {
			return Result{Weight: -1}
		}
		return Result{Err: errors.New("down"), Weight: -1}
	})
	tm := Timing{DelayLoop: 20 * time.Millisecond, ConnectTimeout: 10 * time.Millisecond, DelayBeforeRetry: 10 * time.Millisecond, Retry: 1}
	r := &Runner{Prober: p, Timing: tm, Report: func(e Event) { events <- e }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx, NewMachine(tm)); close(done) }()
	up.Store(false)
	select {
	case e := <-events:
		if e.Up || e.Elapsed <= 0 {
			t.Errorf("first event %+v", e)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no down event")
	}
	up.Store(true)
	select {
	case e := <-events:
		if !e.Up {
			t.Errorf("second event %+v", e)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no up event")
	}
	cancel()
	<-done
}

type proberFunc func(ctx context.Context) Result

func (f proberFunc) Probe(ctx context.Context) Result { return f(ctx) }

func TestNotifier(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	script := writeScript(t, `echo "$1" > `+out)
	n := &Notifier{Timeout: time.Second}
	done := make(chan error, 1)
	n.Run([]string{script, "up"}, "", "", func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); string(b) != "up\n" {
		t.Errorf("script wrote %q", b)
	}
	slow := writeScript(t, "sleep 10")
	n.Timeout = 100 * time.Millisecond
	start := time.Now()
	n.Run([]string{slow}, "", "", func(err error) { done <- err })
	if time.Since(start) > 50*time.Millisecond {
		t.Error("Run blocked")
	}
	if err := <-done; err == nil {
		t.Error("slow script not killed")
	}
}
