package admin

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/internal/status"
)

type fakeControl struct {
	calls []string
}

func (f *fakeControl) Status() *status.Snapshot {
	return &status.Snapshot{Version: "1.2.1", Services: []status.Service{{Proto: "TCP", Port: 80}}}
}
func (f *fakeControl) Conns(limit int) []status.Conn {
	f.calls = append(f.calls, "conns "+string(rune('0'+limit)))
	return []status.Conn{{Proto: "UDP", State: "UDP"}}
}
func (f *fakeControl) Reload() error {
	f.calls = append(f.calls, "reload")
	return errors.New("line 3: bad")
}
func (f *fakeControl) Zero(k *balancer.ServiceKey) error {
	if k == nil {
		f.calls = append(f.calls, "zero all")
	} else {
		f.calls = append(f.calls, "zero "+FormatService(*k))
	}
	return nil
}
func (f *fakeControl) SetService(s ServiceSpec, create bool) error {
	f.calls = append(f.calls, "service "+s.Service+" "+map[bool]string{true: "add", false: "edit"}[create]+" "+*s.Scheduler)
	return nil
}
func (f *fakeControl) DeleteService(k balancer.ServiceKey) error {
	f.calls = append(f.calls, "delete "+FormatService(k))
	return nil
}
func (f *fakeControl) SetReal(r RealSpec, create bool) error {
	f.calls = append(f.calls, "real "+r.Real)
	if r.Weight != nil && *r.Weight == 7 {
		return nil
	}
	return errors.New("no real server")
}
func (f *fakeControl) DeleteReal(k balancer.ServiceKey, ap netip.AddrPort) error {
	f.calls = append(f.calls, "delreal "+ap.String())
	return nil
}
func (f *fakeControl) Drain(k balancer.ServiceKey, ap netip.AddrPort, d time.Duration) error {
	f.calls = append(f.calls, "drain "+ap.String()+" "+d.String())
	return nil
}

func TestServerClient(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.sock")
	// A stale socket file from a crashed director is replaced.
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	f := &fakeControl{}
	srv, err := Listen(path, f, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket mode %v, %v", fi.Mode(), err)
	}
	// A live socket is never taken over.
	if _, err := Listen(path, f, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "another ulvs") {
		t.Errorf("second Listen: %v", err)
	}

	c := NewClient(path)
	snap, err := c.Status()
	if err != nil || len(snap.Services) != 1 || snap.Version != "1.2.1" {
		t.Fatalf("status %+v, %v", snap, err)
	}
	if cs, err := c.Conns(3); err != nil || len(cs) != 1 || cs[0].State != "UDP" {
		t.Errorf("conns %+v, %v", cs, err)
	}
	if err := c.Reload(); err == nil || err.Error() != "line 3: bad" {
		t.Errorf("reload error %v: the server's message must reach the caller verbatim", err)
	}
	sched := "wlc"
	steps := []struct {
		do      func() error
		wantErr string
	}{
		{func() error { return c.Zero("") }, ""},
		{func() error { return c.Zero("tcp:10.0.1.100:80") }, ""},
		{func() error { return c.Zero("icmp:10.0.1.100:80") }, "protocol"},
		{func() error { return c.Service("add", ServiceSpec{Service: "udp:[2001:db8::1]:53", Scheduler: &sched}) }, ""},
		{func() error { return c.Service("remove", ServiceSpec{Service: "udp:[2001:db8::1]:53"}) }, "use add, edit or delete"},
		{func() error { return c.Service("delete", ServiceSpec{Service: "tcp:10.0.1.100:80"}) }, ""},
		{func() error { return c.SetWeight("tcp:10.0.1.100:80", "10.0.2.11:80", 7) }, ""},
		{func() error { return c.SetWeight("tcp:10.0.1.100:80", "10.0.2.11:80", 8) }, "no real server"},
		{func() error { return c.Real("delete", RealSpec{Service: "tcp:10.0.1.100:80", Real: "10.0.2.11"}) }, ""},
		{func() error { return c.Drain("tcp:10.0.1.100:80", "10.0.2.11:80", 90*time.Second) }, ""},
		{func() error { return c.Drain("tcp:10.0.1.100:80", "nonsense", 0) }, "write ADDR:PORT"},
	}
	for i, s := range steps {
		err := s.do()
		if (s.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), s.wantErr)) {
			t.Errorf("step %d: error %v, want %q", i, err, s.wantErr)
		}
	}
	want := []string{"conns 3", "reload", "zero all", "zero tcp:10.0.1.100:80", "service udp:[2001:db8::1]:53 add wlc",
		"delete tcp:10.0.1.100:80", "real 10.0.2.11:80", "real 10.0.2.11:80", "delreal 10.0.2.11:0", "drain 10.0.2.11:80 1m30s"}
	if strings.Join(f.calls, "|") != strings.Join(want, "|") {
		t.Errorf("calls\n%v\nwant\n%v", f.calls, want)
	}
	srv.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket left behind after Close: %v", err)
	}
	if _, err := NewClient(path).Status(); err == nil || !strings.Contains(err.Error(), "is ulvs running?") {
		t.Errorf("client without a server: %v", err)
	}
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"tcp:10.0.1.100:80", "tcp:10.0.1.100:80", true},
		{"UDP:[2001:db8::1]:53", "udp:[2001:db8::1]:53", true},
		{"sctp:10.0.0.1:9", "sctp:10.0.0.1:9", true},
		{"10.0.1.100:80", "", false},
		{"tcp:10.0.1.100", "", false},
		{"tcp:[::ffff:10.0.0.1]:80", "tcp:10.0.0.1:80", true},
	} {
		k, err := ParseService(c.in)
		if (err == nil) != c.ok || (c.ok && FormatService(k) != c.want) {
			t.Errorf("ParseService(%q) = %v, %v", c.in, FormatService(k), err)
		}
	}
	for in, want := range map[string]balancer.Method{"NAT": balancer.NAT, "masq": balancer.NAT, "g": balancer.DR, "TUN": balancer.TUN, "ipip": balancer.TUN} {
		if m, err := ParseMethod(in); err != nil || m != want {
			t.Errorf("ParseMethod(%q) = %v, %v", in, m, err)
		}
	}
	if _, err := ParseMethod("fullnat"); err == nil {
		t.Error("fullnat accepted")
	}
}
