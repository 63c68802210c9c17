package daemon

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/internal/alert"
	"github.com/ulvs/ulvs/internal/config"
	"github.com/ulvs/ulvs/internal/smtptest"
	"github.com/ulvs/ulvs/vrrp"
)

// TestVRRPAlerts: one mail per state entered, only for instances and
// groups whose smtp_alert is on, none for FAULT with no_email_faults.
func TestVRRPAlerts(t *testing.T) {
	sink := &smtptest.Server{}
	addr := sink.Run(t)
	d := &Daemon{alerts: alert.New(alert.Config{Server: addr, Helo: "h", Timeout: 5 * time.Second,
		From: "a@b", To: []string{"c@d"}, RouterID: "r"}, nil)}
	g := &config.GlobalDefs{Alerts: config.AlertDefaults{VRRP: config.On, NoEmailFaults: true}}
	d.vrrpAlerts.set(g, &config.VRRP{
		Instances:  []*config.VRRPInstance{{Name: "VI_1"}, {Name: "VI_2", SMTPAlert: config.Off}},
		SyncGroups: []*config.VRRPSyncGroup{{Name: "G"}},
	})
	stop := d.startAlerts()
	for _, ev := range []struct {
		group bool
		name  string
		s     vrrp.State
	}{
		{false, "VI_1", vrrp.Backup}, {false, "VI_1", vrrp.Backup}, {false, "VI_2", vrrp.Master},
		{false, "VI_1", vrrp.Fault}, {true, "G", vrrp.Master}, {false, "VI_1", vrrp.Master}, {false, "VI_1", vrrp.Stopped},
	} {
		d.vrrpAlert(ev.group, ev.name, ev.s)
	}
	stop() // delivers what is queued
	want := []string{"[r] VRRP Instance VI_1 - Entering BACKUP state | => VRRP Instance is no longer owning VRRP VIPs <=",
		"[r] VRRP Group G - Entering MASTER state | => All VRRP group instances are now in MASTER state <=",
		"[r] VRRP Instance VI_1 - Entering MASTER state | => VRRP Instance is now owning VRRP VIPs <=",
		"[r] VRRP Instance VI_1 - Stopping | => VRRP Instance stopping <="}
	if got := mailSubjects(t, sink); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("mails:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// mailSubjects returns "subject | body" of each mail the sink received.
func mailSubjects(t *testing.T, sink *smtptest.Server) []string {
	t.Helper()
	var got []string
	for {
		select {
		case m := <-sink.Mails():
			_, rest, _ := strings.Cut(m.Data, "Subject: ")
			subj, _, _ := strings.Cut(rest, "\r\n")
			_, body, _ := strings.Cut(m.Data, "\r\n\r\n")
			got = append(got, subj+" | "+strings.TrimSpace(body))
			continue
		case <-time.After(time.Second):
		}
		return got
	}
}

// TestRemovedAndShutdownAlerts: a reload that drops live real servers
// mails "Removing" for each (not for one already down, nor one whose
// smtp_alert is off); stopping mails "Shutting down" only for omega
// services.
func TestRemovedAndShutdownAlerts(t *testing.T) {
	sink := &smtptest.Server{}
	addr := sink.Run(t)
	parse := func(reals string) *config.Config {
		conf := "global_defs {\nrouter_id r\n}\n" +
			"virtual_server 10.0.0.1 80 {\nlb_algo rr\nprotocol TCP\nomega\nsmtp_alert\n" + reals + "}\n" +
			"virtual_server 10.0.0.2 53 {\nlb_algo rr\nprotocol UDP\nreal_server 10.0.1.9 53 {\n}\n}\n"
		cfg, _, err := config.Parse("/k.conf", []byte(conf), config.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	old := parse("real_server 10.0.1.1 80 {\n}\nreal_server 10.0.1.2 80 {\nTCP_CHECK {\n}\n}\n" +
		"real_server 10.0.1.3 80 {\nsmtp_alert off\n}\nreal_server 10.0.1.4 80 {\n}\n")
	cur := parse("real_server 10.0.1.4 80 {\n}\n")
	d := &Daemon{cfg: old, log: slog.New(slog.DiscardHandler), alerts: alert.New(alert.Config{Server: addr, Helo: "h", Timeout: 5 * time.Second,
		From: "a@b", To: []string{"c@d"}, RouterID: "r"}, nil)}
	d.ctl.health = d.newHealth(old, nil)
	// 10.0.1.2's checker found it down.
	key := balancer.ServiceKey{Addr: netip.MustParseAddr("10.0.0.1"), Port: 80, Proto: balancer.TCP}
	d.ctl.health.reals[realRef{key, netip.MustParseAddrPort("10.0.1.2:80")}].up = false
	stop := d.startAlerts()
	d.removedAlerts(old, cur, d.ctl.health)
	d.cfg, d.ctl.health = cur, d.newHealth(cur, d.ctl.health)
	d.shutdownAlerts()
	stop()
	want := []string{
		"[r] Realserver [10.0.1.1]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - DOWN | => Removing <=",
		"[r] Realserver [10.0.1.4]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - DOWN | => Shutting down <=",
		"[r] Virtualserver [10.0.0.1]:tcp:80 - DOWN | => Shutting down <=",
	}
	if got := mailSubjects(t, sink); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("mails:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
