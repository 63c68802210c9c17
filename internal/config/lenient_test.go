package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
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

// TestIncludeLenient pins the include problems keepalived logs and reads
// past, which ulvs reports as warnings.
func TestIncludeLenient(t *testing.T) {
	fsys := fstest.MapFS{"etc/k/dir/x": {Data: []byte("")}, "etc/k/b.conf": {Data: []byte("global_defs {\n router_id b\n}\n")}}
	for _, main := range []string{"include dir\n", "includer absent.conf\n", "includem absent*.conf\n", "include {b,absent}.conf\n"} {
		cfg, warns, err := Parse("/etc/k/keepalived.conf", []byte(main+"include b.conf\n"), Options{FS: fsys, ConfigID: "x"})
		if err != nil || len(warns) == 0 || cfg.Global.RouterID != "b" {
			t.Errorf("%q: err %v, warnings %v", main, err, warns)
		}
	}
}

// refused parses in with Options.Strict, as the error tables do, and
// checks that without Strict the load goes on with the first error as a
// warning, as keepalived runs past such a line, unless the error is one
// ulvs cannot run past (then the lenient load fails the same way).
func refused(t *testing.T, in string) error {
	t.Helper()
	_, _, err := parse(t, in, Options{Strict: true})
	var list ErrorList
	if !errors.As(err, &list) || len(list) == 0 {
		return err
	}
	cfg, warns, lerr := parse(t, in, Options{})
	if lerr != nil {
		if !strings.Contains(lerr.Error(), list[0].Msg) {
			t.Errorf("lenient load fails differently: %v, strict: %v", lerr, err)
		}
		return err
	}
	if cfg == nil || !strings.Contains(warnStrings(warns), list[0].Msg) {
		t.Errorf("lenient load has no warning %q:\n%s", list[0].Msg, warnStrings(warns))
	}
	return err
}

// TestLenientReportsEveryLine checks that every line left out is named,
// past the cap that keeps a strict load's error list short.
func TestLenientReportsEveryLine(t *testing.T) {
	body := "virtual_server 10.0.0.1 80 {\nprotocol TCP\nlb_algo rr\nlb_kind NAT\nreal_server 10.0.2.1 80 {\n" +
		strings.Repeat("weight 70000\n", maxErrors+10) + "}\n}\n"
	cfg, warns, err := parse(t, body, Options{})
	if err != nil || len(cfg.VirtualServers) != 1 || cfg.VirtualServers[0].Reals[0].Weight != 1 {
		t.Fatalf("err %v, config %+v", err, cfg)
	}
	n := 0
	for _, w := range warns {
		if strings.Contains(w.Msg, "70000 is outside") {
			n++
		}
	}
	if n != maxErrors+10 {
		t.Errorf("%d of %d bad lines reported", n, maxErrors+10)
	}
}
