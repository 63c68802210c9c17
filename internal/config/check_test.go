package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestChecks(t *testing.T) {
	const conf = `global_defs {
    script_user nobody nogroup
}
virtual_server 10.0.0.1 80 {
    delay_loop 6
    lb_algo rr
    lb_kind NAT
    protocol TCP
    retry 4
    real_server 10.0.1.1 8080 {
        notify_up "/etc/up.sh 'a b'"
        HTTP_GET {
            url {
                path /health
                status_code 200-299 503
                digest 9b3a0c85a887a256d6939da88aabd8cd
            }
            url {
                path /other
            }
            virtualhost www.example.com
        }
        TCP_CHECK {
            connect_port 9000
            bindto 10.0.0.254
            retry 2
            delay_before_retry 0.5
            warmup 0
        }
        MISC_CHECK {
            misc_path "/usr/bin/check arg"
            misc_dynamic
        }
        UDP_CHECK {
            payload 0a0b
            require_reply 0aXb
        }
        DNS_CHECK {
            type A
            name example.com
        }
        PING_CHECK {
            alpha
        }
        SMTP_CHECK {
        }
    }
}
`
	cfg, warns, err := Parse("/k.conf", []byte(conf), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	if cfg.Global.ScriptUser != "nobody" || cfg.Global.ScriptGroup != "nogroup" {
		t.Errorf("script_user %q %q", cfg.Global.ScriptUser, cfg.Global.ScriptGroup)
	}
	h := cfg.VirtualServers[0].Reals[0].Health
	if len(h.Checks) != 6 || len(h.Unsupported) != 1 {
		t.Fatalf("%d checks, %d unsupported", len(h.Checks), len(h.Unsupported))
	}
	if h.NotifyUp == nil || strings.Join(h.NotifyUp.Args, "|") != "/etc/up.sh|a b" {
		t.Errorf("notify_up %+v", h.NotifyUp)
	}
	hc, tc, mc, uc, dc, pc := h.Checks[0], h.Checks[1], h.Checks[2], h.Checks[3], h.Checks[4], h.Checks[5]
	// HTTP: VS retry 4 inherited, delay_before_retry 3 s, warmup = delay_loop.
	if hc.Kind != CheckHTTP || hc.Retry != 4 || hc.DelayBeforeRetry != 3*time.Second || hc.ConnectTimeout != 5*time.Second ||
		hc.DelayLoop != 6*time.Second || hc.Warmup != 6*time.Second || hc.Target != netip.MustParseAddrPort("10.0.1.1:8080") {
		t.Errorf("HTTP_GET %+v", hc)
	}
	if u := hc.HTTP.URLs; len(u) != 2 || len(u[0].StatusCodes) != 2 || u[0].StatusCodes[1] != (StatusRange{Lo: 503, Hi: 503}) ||
		len(u[0].Digest) != 16 || hc.HTTP.Virtualhost != "www.example.com" || hc.HTTP.Protocol != "1.0" {
		t.Errorf("HTTP_GET urls %+v", hc.HTTP)
	}
	if tc.Retry != 2 || tc.DelayBeforeRetry != 500*time.Millisecond || tc.Warmup != 0 ||
		tc.Target.Port() != 9000 || tc.Bind.Addr() != netip.MustParseAddr("10.0.0.254") {
		t.Errorf("TCP_CHECK %+v", tc)
	}
	// MISC: retry 0 by default, but the VS says 4; timeout = delay_loop.
	if mc.Retry != 4 || mc.Misc.Timeout != 6*time.Second || !mc.Misc.Dynamic || strings.Join(mc.Misc.Path, "|") != "/usr/bin/check|arg" {
		t.Errorf("MISC_CHECK %+v %+v", mc, mc.Misc)
	}
	if string(uc.UDP.Payload) != "\x0a\x0b" || string(uc.UDP.RequireReply) != "\x0a\x0b" || string(uc.UDP.ReplyMask) != "\xff\x0f" {
		t.Errorf("UDP_CHECK %+v", uc.UDP)
	}
	if dc.DNS.Type != 1 || dc.DNS.Name != "example.com" || dc.DelayBeforeRetry != 6*time.Second {
		t.Errorf("DNS_CHECK %+v %+v", dc, dc.DNS)
	}
	if !pc.Alpha || pc.Kind != CheckPing {
		t.Errorf("PING_CHECK %+v", pc)
	}
}

func TestCheckDefaults(t *testing.T) {
	conf := "virtual_server 10.0.0.1 53 {\n lb_algo rr\n protocol UDP\n real_server 10.0.1.1 53 {\n  MISC_CHECK {\n   misc_path /bin/true\n  }\n  DNS_CHECK {\n  }\n }\n}\n"
	cfg, _, err := Parse("/k.conf", []byte(conf), Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.VirtualServers[0].Reals[0].Health.Checks
	if c[0].Retry != 0 || c[0].DelayBeforeRetry != time.Second || c[0].DelayLoop != 60*time.Second || c[0].ConnectTimeout != 5*time.Second {
		t.Errorf("MISC_CHECK defaults %+v", c[0])
	}
	if c[1].Retry != 3 || c[1].DNS.Type != 6 || c[1].DNS.Name != "." || c[1].DelayBeforeRetry != 60*time.Second {
		t.Errorf("DNS_CHECK defaults %+v %+v", c[1], c[1].DNS)
	}
}

func TestCheckErrors(t *testing.T) {
	tests := []struct{ body, want string }{
		{"HTTP_GET {\n}", "k.conf:4: HTTP_GET: HTTP_GET needs at least one url block"},
		{"HTTP_GET {\nurl {\npath /\nstatus_code 99\n}\n}", "k.conf:7: status_code: \"99\" is not a status code"},
		{"HTTP_GET {\nurl {\npath /\ndigest abc\n}\n}", "k.conf:7: digest: \"abc\" is not an MD5 digest"},
		{"MISC_CHECK {\n}", "k.conf:4: MISC_CHECK: MISC_CHECK needs misc_path"},
		{"MISC_CHECK {\nmisc_path check.sh\n}", "k.conf:5: misc_path: \"check.sh\" is not an absolute path"},
		{"UDP_CHECK {\nrequire_reply 0g\n}", "k.conf:5: require_reply: \"0g\" is not a hex pattern"},
		{"DNS_CHECK {\ntype PTR\n}", "k.conf:5: type: unknown DNS query type"},
		{"TCP_CHECK {\nconnect_timeout 0\n}", "k.conf:5: connect_timeout: must be more than 0"},
		{"TCP_CHECK {\nbindto ::1\n}", "differ in address family"},
	}
	for _, tc := range tests {
		conf := "virtual_server 10.0.0.1 80 {\nlb_algo rr\nreal_server 10.0.1.1 80 {\n" + tc.body + "\n}\n}\n"
		err := refused(t, conf)
		if err == nil || !strings.Contains(err.Error(), strings.Replace(tc.want, "k.conf:", "keepalived.conf:", 1)) {
			t.Errorf("%q: error %v, want %q", tc.body, err, tc.want)
		}
	}
}
