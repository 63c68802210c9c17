package config

import (
	"slices"
	"strings"
	"testing"
)

// TestKeepalivedLenient pins lines keepalived runs (reporting at most a
// warning) that ulvs once refused: each must load, with the warning named.
func TestKeepalivedLenient(t *testing.T) {
	const vi = "vrrp_instance VI { interface eth0\nvirtual_router_id 1\n"
	cases := []struct{ name, in, warn string }{
		{"local recipient", "global_defs {\nnotification_email {\nacassen\nroot@localhost ops\n}\n}", ""},
		{"empty email block", "global_defs {\nnotification_email {\n}\n}", "empty notification_email block"},
		{"AH", vi + "authentication {\nauth_type AH\n} }", "not supported by ulvs"},
		{"undefined script", vi + "track_script {\nnope\n} }", "undefined script nope; ignored"},
		{"script without command", "vrrp_script S { interval 1 }\n" + vi + "track_script {\nS\n} }", "has no script; removed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, warns, err := parse(t, c.in+"\n", Options{})
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			found := c.warn == ""
			for _, w := range warns {
				found = found || strings.Contains(w.String(), c.warn)
			}
			if !found {
				t.Errorf("no warning %q in %v", c.warn, warns)
			}
			if c.name == "local recipient" && !slices.Equal(cfg.Global.NotificationEmail, []string{"acassen", "root@localhost", "ops"}) {
				t.Errorf("recipients %q", cfg.Global.NotificationEmail)
			}
			for _, in := range cfg.VRRP.Instances {
				if len(in.TrackScripts) != 0 || in.AuthType != "" {
					t.Errorf("instance keeps %+v, auth %q", in.TrackScripts, in.AuthType)
				}
			}
		})
	}
}
