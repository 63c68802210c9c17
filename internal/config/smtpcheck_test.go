package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func parseReal(t *testing.T, top, body string) (*Config, []Warning) {
	t.Helper()
	conf := top + "virtual_server 10.0.0.1 25 {\nlb_algo rr\nprotocol TCP\ndelay_loop 6\nreal_server 10.0.1.1 25 {\n" + body + "\n}\n}\n"
	cfg, warns, err := Parse("/k.conf", []byte(conf), Options{})
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return cfg, warns
}

func TestSMTPCheck(t *testing.T) {
	tests := []struct {
		name, body string
		targets    []string
		helo       string
		timeouts   []time.Duration
	}{
		{"defaults", "SMTP_CHECK {\n}", []string{"10.0.1.1:25"}, DefaultSMTPHelo, []time.Duration{5 * time.Second}},
		{"helo and port", "SMTP_CHECK {\nhelo_name \"lb.example.com\"\nconnect_port 587\nconnect_timeout 2\n}",
			[]string{"10.0.1.1:587"}, "lb.example.com", []time.Duration{2 * time.Second}},
		// Host blocks and no connection keyword: the hosts are the targets.
		{"hosts only", "SMTP_CHECK {\nhelo_name h\nretry 3\nhost {\nconnect_ip 10.0.2.1\n}\nhost {\nconnect_port 2525\nconnect_timeout 1\n}\n}",
			[]string{"10.0.2.1:25", "10.0.1.1:2525"}, "h", []time.Duration{5 * time.Second, time.Second}},
		// A connection keyword on the block: its own target is checked too.
		{"block and hosts", "SMTP_CHECK {\nconnect_timeout 3\nhost {\nconnect_ip 10.0.2.1\nconnect_port 26\n}\n}",
			[]string{"10.0.1.1:25", "10.0.2.1:26"}, DefaultSMTPHelo, []time.Duration{3 * time.Second, 3 * time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := parseReal(t, "", tc.body)
			cs := cfg.VirtualServers[0].Reals[0].Health.Checks
			if len(cs) != len(tc.targets) {
				t.Fatalf("%d checks, want %d", len(cs), len(tc.targets))
			}
			for i, c := range cs {
				if c.Kind != CheckSMTP || c.Target != netip.MustParseAddrPort(tc.targets[i]) || c.SMTP.HeloName != tc.helo ||
					c.ConnectTimeout != tc.timeouts[i] || c.DelayLoop != 6*time.Second || c.DelayBeforeRetry != time.Second {
					t.Errorf("check %d: %+v %+v, want target %s helo %s timeout %v", i, c, c.SMTP, tc.targets[i], tc.helo, tc.timeouts[i])
				}
			}
			if strings.Contains(tc.name, "hosts only") && (cs[0].Retry != 3 || cs[1].Retry != 3) {
				t.Errorf("the block's retry 3 is not inherited by its hosts: %d %d", cs[0].Retry, cs[1].Retry)
			}
		})
	}
}

func TestFileCheck(t *testing.T) {
	top := "track_file up {\nfile /run/ulvs/up\n}\ntrack_file w {\nfile \"/run/ulvs/w\"\nweight -3 reverse\ninit_file 7 overwrite\n}\nvrrp_track_file old {\nfile /tmp/x\n}\n"
	cfg, _ := parseReal(t, top, "FILE_CHECK {\ntrack_file up\n}\nFILE_CHECK {\ntrack_file w\n}\nFILE_CHECK {\ntrack_file w\nweight 0 noreverse\n}")
	if len(cfg.TrackFiles) != 3 {
		t.Fatalf("%d track files, want 3", len(cfg.TrackFiles))
	}
	w := cfg.TrackFiles[1]
	if w.Name != "w" || w.Path != "/run/ulvs/w" || w.Weight != -3 || !w.Reverse || !w.Init || w.InitValue != 7 || !w.Overwrite {
		t.Errorf("track_file w: %+v", w)
	}
	cs := cfg.VirtualServers[0].Reals[0].Health.Checks
	want := []struct {
		file    string
		weight  int64
		reverse bool
	}{{"up", 1, false}, {"w", -3, true}, {"w", 0, false}}
	if len(cs) != len(want) {
		t.Fatalf("%d checks, want %d", len(cs), len(want))
	}
	for i, c := range cs {
		if c.Kind != CheckFile || c.File.File.Name != want[i].file || c.File.Weight != want[i].weight || c.File.Reverse != want[i].reverse {
			t.Errorf("FILE_CHECK %d: %+v, want %+v", i, c.File, want[i])
		}
	}
}

func TestFileCheckErrors(t *testing.T) {
	top := "track_file up {\nfile /run/up\n}\n"
	tests := []struct{ top, body, want string }{
		{top, "FILE_CHECK {\ntrack_file nope\n}", "track_file nope not found"},
		{top, "FILE_CHECK {\n}", "FILE_CHECK has no track_file"},
		{top, "FILE_CHECK {\ntrack_file up\nweight 1 sideways\n}", "unknown weight option"},
		{"track_file x {\nweight 2\n}\n", "", "no file set for track_file x"},
		{"track_file x {\nfile /a\nweight 255\n}\n", "", "weight"},
		{"track_file x {\nfile /a\ninit_file 1 clobber\n}\n", "", "unknown init_file option"},
		{"track_file x {\nfile /a\ninit_file 300\n}\n", "", "outside -254..254"},
	}
	for _, tc := range tests {
		conf := tc.top + "virtual_server 10.0.0.1 25 {\nlb_algo rr\nreal_server 10.0.1.1 25 {\n" + tc.body + "\n}\n}\n"
		// Refused with --strict; a warning, the line left out, without.
		if err := refused(t, conf); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %q: error %v, want %q", tc.top, tc.body, err, tc.want)
		}
	}
}
