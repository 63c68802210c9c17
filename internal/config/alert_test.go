package config

import "testing"

// TestAlertSwitches: keepalived's precedence (own switch, then
// smtp_alert_checker or smtp_alert_vrrp, then smtp_alert) and defaults
// (real servers on, virtual servers and VRRP off).
func TestAlertSwitches(t *testing.T) {
	tests := []struct {
		global, vs, rs, vrrp string
		wantVS, wantRS, want bool
	}{
		{"", "", "", "", false, true, false},
		{"smtp_alert", "", "", "", true, true, true},
		{"smtp_alert off", "", "", "", false, false, false},
		{"smtp_alert off\nsmtp_alert_checker on", "", "", "", true, true, false},
		{"smtp_alert on\nsmtp_alert_vrrp off", "", "", "", true, true, false},
		{"smtp_alert off", "smtp_alert", "smtp_alert yes", "smtp_alert", true, true, true},
		{"smtp_alert", "smtp_alert false", "smtp_alert off", "smtp_alert no", false, false, false},
	}
	for _, tc := range tests {
		conf := "global_defs {\n" + tc.global + "\nno_checker_emails\n}\n" +
			"vrrp_instance VI_1 {\ninterface lo\nvirtual_router_id 1\npriority 100\nvirtual_ipaddress {\n10.0.0.1\n}\n" + tc.vrrp + "\n}\n" +
			"virtual_server 10.0.0.1 80 {\nlb_algo rr\n" + tc.vs + "\nreal_server 10.0.1.1 80 {\n" + tc.rs + "\n}\n}\n"
		cfg, _, err := Parse("/k.conf", []byte(conf), Options{})
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		g, vs := &cfg.Global, cfg.VirtualServers[0]
		if got := g.AlertVS(vs); got != tc.wantVS {
			t.Errorf("%+v: virtual server %v, want %v", tc, got, tc.wantVS)
		}
		if got := g.AlertRS(vs.Reals[0]); got != tc.wantRS {
			t.Errorf("%+v: real server %v, want %v", tc, got, tc.wantRS)
		}
		if got := g.AlertVRRP(cfg.VRRP.Instances[0].SMTPAlert); got != tc.want {
			t.Errorf("%+v: vrrp %v, want %v", tc, got, tc.want)
		}
		if !g.Alerts.NoCheckerEmails {
			t.Error("no_checker_emails not read")
		}
	}
}

func TestSMTPServerHostPort(t *testing.T) {
	for in, want := range map[string]string{"": "", "10.0.0.9": "10.0.0.9:25", "mail.example.com 587": "mail.example.com:587",
		"::1": "[::1]:25"} {
		g := &GlobalDefs{SMTPServer: in}
		if got := g.SMTPServerHostPort(); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
