package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/internal/admin"
	"github.com/ulvs/ulvs/internal/netns"
	"github.com/ulvs/ulvs/internal/netns/netnstest"
	"github.com/ulvs/ulvs/internal/smtptest"
)

// Ports of TestSMTPCheckAndAlerts.
const (
	portSMTP     = 2525 // SMTP_CHECK; the real servers' SMTP servers listen here
	portFileWeb  = 2526 // FILE_CHECK, forwarded to the same SMTP servers
	portAlertBox = 2625 // the alert sink, on the director's loopback
)

func smtpConfig(vip netip.Addr, trackDir string) string {
	rs0, rs1 := netns.RealAddr(0).Addr(), netns.RealAddr(1).Addr()
	var b strings.Builder
	fmt.Fprintf(&b, `global_defs {
    router_id e2e-smtp
    notification_email {
        ops@example.com
        "Second Admin <second@example.com>"
    }
    notification_email_from lb@example.com
    smtp_server 127.0.0.1 %d
    smtp_helo_name director.example.com
    smtp_connect_timeout 5
}

track_file down {
    file %s/down
    weight 0
    init_file 0 overwrite
}

track_file boost {
    file %s/boost
    weight 2
    init_file 0 overwrite
}

virtual_server %v %d {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server %v %d {
    }
}

vrrp_instance VI_MAIL {
    state BACKUP
    interface front0
    virtual_router_id 77
    priority 100
    advert_int 1
    smtp_alert
    virtual_ipaddress {
        10.0.1.77/24
    }
}

virtual_server %v %d {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
`, portAlertBox, trackDir, trackDir, vip, portHTTP, rs0, portHTTP, vip, portSMTP)
	for _, a := range []netip.Addr{rs0, rs1} {
		fmt.Fprintf(&b, `    real_server %v %d {
        SMTP_CHECK {
            helo_name checker.example.com
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
`, a, portSMTP)
	}
	fmt.Fprintf(&b, "}\n\nvirtual_server %v %d {\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n", vip, portFileWeb)
	for i, a := range []netip.Addr{rs0, rs1} {
		fmt.Fprintf(&b, "    real_server %v %d {\n        weight 1\n        FILE_CHECK {\n            track_file %s\n        }\n    }\n",
			a, portSMTP, map[int]string{0: "down", 1: "boost"}[i])
	}
	b.WriteString("}\n")
	return b.String()
}

// natLab builds the topology with two NAT real servers running the test
// services (no director yet); it skips the test when not root.
func natLab(t *testing.T) *netns.LVS {
	t.Helper()
	if !netns.IsRoot() {
		t.Skip("end-to-end tests build network namespaces and need root")
	}
	lvs, err := netns.NewLVS(netnstest.ForTest(t), netns.Options{Reals: 2})
	if err != nil {
		t.Fatalf("topology: %v", err)
	}
	if err := lvs.ConfigureReals(balancer.NAT); err != nil {
		t.Fatal(err)
	}
	for i, r := range lvs.Reals {
		startServers(t, r.NS, fmt.Sprintf("rs%d", i+1), netip.IPv4Unspecified())
	}
	return lvs
}

// startSMTP runs an SMTP server in ns on portSMTP greeting with name.
func startSMTP(t *testing.T, ns *netns.NS, name string) *smtptest.Server {
	t.Helper()
	s := &smtptest.Server{Banner: "220 " + name + " ESMTP"}
	var ln net.Listener
	err := ns.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", portSMTP))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(s.Close)
	return s
}

// banner connects to the VIP's port and returns the greeting's name.
func (tp *topo) banner(port int) (string, error) {
	c, err := tp.dial("tcp", port)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "220" {
		return "", fmt.Errorf("greeting %q", line)
	}
	return f[1], nil
}

// mailbox keeps every mail the sink receives, for waitMail.
type mailbox struct {
	mu    sync.Mutex
	mails []smtptest.Mail
}

func newMailbox(t *testing.T, sink *smtptest.Server) *mailbox {
	b := &mailbox{}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case m := <-sink.Mails():
				b.mu.Lock()
				b.mails = append(b.mails, m)
				b.mu.Unlock()
			case <-done:
				return
			}
		}
	}()
	t.Cleanup(func() { close(done) })
	return b
}

// waitMail returns the first mail with the subject given.
func (b *mailbox) waitMail(t *testing.T, subject string, within time.Duration) smtptest.Mail {
	t.Helper()
	for end := time.Now().Add(within); ; time.Sleep(50 * time.Millisecond) {
		b.mu.Lock()
		for _, m := range b.mails {
			if strings.Contains(m.Data, "Subject: "+subject+"\r\n") {
				b.mu.Unlock()
				return m
			}
		}
		n := len(b.mails)
		b.mu.Unlock()
		if time.Now().After(end) {
			t.Fatalf("no mail %q within %v (%d others)", subject, within, n)
		}
	}
}

// TestSMTPCheckAndAlerts runs `ulvs run` with SMTP_CHECK real servers
// whose SMTP servers the test stops and restarts: the director takes the
// server out and back, and mails keepalived's alerts to a sink on its
// loopback. FILE_CHECK real servers follow the files the test writes.
func TestSMTPCheckAndAlerts(t *testing.T) {
	lvs := natLab(t)
	var smtp [2]*smtptest.Server
	for i, r := range lvs.Reals {
		smtp[i] = startSMTP(t, r.NS, fmt.Sprintf("rs%d", i+1))
	}
	sink := &smtptest.Server{}
	var sinkLn net.Listener
	if err := lvs.Director.Do(func() error {
		var err error
		sinkLn, err = net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", portAlertBox))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	go sink.Serve(sinkLn)
	t.Cleanup(sink.Close)
	box := newMailbox(t, sink)

	trackDir := t.TempDir()
	tp := &topo{t: t, lvs: lvs}
	tp.conf = filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(tp.conf, []byte(smtpConfig(lvs.VIP, trackDir)), 0o644); err != nil {
		t.Fatal(err)
	}
	tp.start()
	c := admin.NewClient(tp.adminSock)
	tp.waitHealth(c, portSMTP, "TCP", "rs", 2, 5*time.Second)
	// The checkers start within warmup (delay_loop, 1 s), up until then.
	for end := time.Now().Add(5 * time.Second); len(smtp[0].Helos()) == 0 && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
	}
	if h := smtp[0].Helos(); len(h) == 0 || h[0] != "checker.example.com" {
		t.Errorf("the checker's HELO: %q", h)
	}
	seen := map[string]bool{}
	for i := 0; i < 6; i++ {
		name, err := tp.banner(portSMTP)
		if err != nil {
			tp.fatalf("SMTP through the VIP: %v", err)
		}
		seen[name] = true
	}
	if !seen["rs1"] || !seen["rs2"] {
		t.Fatalf("rr reached %v, want rs1 and rs2", seen)
	}

	rs0 := fmt.Sprintf("[%v]:tcp:%d", netns.RealAddr(0).Addr(), portSMTP)
	vs := fmt.Sprintf("[%v]:tcp:%d", lvs.VIP, portSMTP)
	t.Run("SMTP server stops", func(t *testing.T) {
		smtp[0].Close()
		start := time.Now()
		tp.waitGone(t, c, portSMTP, "TCP", 0)
		t.Logf("SMTP_CHECK: out after %v", time.Since(start).Round(10*time.Millisecond))
		for i := 0; i < 6; i++ {
			if name, err := tp.banner(portSMTP); err != nil || name != "rs2" {
				tp.fatalf("connection %d after detection: %q %v", i, name, err)
			}
		}
		m := box.waitMail(t, "[e2e-smtp] Realserver "+rs0+" of virtual server "+vs+" - DOWN", 10*time.Second)
		if m.Helo != "director.example.com" || m.From != "<lb@example.com>" ||
			strings.Join(m.To, " ") != "<ops@example.com> <second@example.com>" {
			t.Errorf("envelope: HELO %q FROM %q TO %q", m.Helo, m.From, m.To)
		}
		// The server is gone: its port refuses the checker's connection.
		if !strings.Contains(m.Data, "\r\n\r\n=> CHECK failed on service : Error connecting to server ["+netns.RealAddr(0).Addr().String()+"]:2525 <=\r\n") || !strings.Contains(m.Data, "To: ops@example.com,\r\n Second Admin <second@example.com>\r\n") {
			t.Errorf("mail:\n%s", m.Data)
		}
	})
	t.Run("SMTP server back", func(t *testing.T) {
		smtp[0] = startSMTP(t, lvs.Reals[0].NS, "rs1")
		box.waitMail(t, "[e2e-smtp] Realserver "+rs0+" of virtual server "+vs+" - UP", 10*time.Second)
		tp.waitHealth(c, portSMTP, "TCP", "rs", 2, 5*time.Second)
	})
	t.Run("FILE_CHECK", func(t *testing.T) {
		// weight 0: a non-zero value takes the server out.
		os.WriteFile(filepath.Join(trackDir, "down"), []byte("1\n"), 0o644)
		tp.waitGone(t, c, portFileWeb, "TCP", 0)
		for i := 0; i < 4; i++ {
			if name, err := tp.banner(portFileWeb); err != nil || name != "rs2" {
				tp.fatalf("connection %d with rs1's file at 1: %q %v", i, name, err)
			}
		}
		os.WriteFile(filepath.Join(trackDir, "down"), []byte("0\n"), 0o644)
		tp.waitWeight(t, c, portFileWeb, 0, 1)
		// weight 2: value 3 adds 6 to the configured weight 1.
		os.WriteFile(filepath.Join(trackDir, "boost"), []byte("3\n"), 0o644)
		tp.waitWeight(t, c, portFileWeb, 1, 7)
	})
	t.Run("VRRP", func(t *testing.T) {
		box.waitMail(t, "[e2e-smtp] VRRP Instance VI_MAIL - Entering MASTER state", 10*time.Second)
		tp.stop()
		// Mailed while stopping: the mailer outlives the VRRP router.
		m := box.waitMail(t, "[e2e-smtp] VRRP Instance VI_MAIL - Stopping", 5*time.Second)
		if !strings.HasSuffix(m.Data, "\r\n\r\n=> VRRP Instance stopping <=\r\n\r\n") {
			t.Errorf("mail:\n%s", m.Data)
		}
	})
}
