package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/ulvs/ulvs/internal/alert"
	"github.com/ulvs/ulvs/internal/config"
	"github.com/ulvs/ulvs/internal/smtptest"
	"github.com/ulvs/ulvs/vrrp"
)

// TestVRRPAlerts: one mail per state entered, only for instances and
// groups whose smtp_alert is on, none for FAULT with no_email_faults.
func TestVRRPAlerts(t *testing.T) {
	sink := &smtptest.Server{}
	addr, err := sink.Start("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	d := &Director{alerts: alert.New(alert.Config{Server: addr.String(), Helo: "h", Timeout: 5 * time.Second,
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
	want := []string{"[r] VRRP Instance VI_1 - Entering BACKUP state", "[r] VRRP Group G - Entering MASTER state",
		"[r] VRRP Instance VI_1 - Entering MASTER state", "[r] VRRP Instance VI_1 - Stopping"}
	var got []string
	for {
		select {
		case m := <-sink.Mails():
			_, rest, _ := strings.Cut(m.Data, "Subject: ")
			subj, _, _ := strings.Cut(rest, "\r\n")
			got = append(got, subj)
			continue
		case <-time.After(time.Second):
		}
		break
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("mails:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
