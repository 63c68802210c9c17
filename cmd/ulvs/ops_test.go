package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := "virtual_server 10.0.1.100 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n real_server 10.0.2.11 80 {\n weight 1\n }\n}\n"
	cases := []struct {
		name, body string
		strict     bool
		code       int
		msg        string
	}{
		{"ok", good, false, 0, "ok (1 services)"},
		{"unknown keyword", "global_defs {\n rooter_id x\n}\n" + good, false, 5, "rooter_id"},
		{"unknown keyword strict", "global_defs {\n rooter_id x\n}\n" + good, true, 4, "rooter_id"},
		{"fwmark", "virtual_server fwmark 7 {\n real_server 10.0.2.11 80 {\n }\n}\n" + good, false, 5, "fwmark services are skipped"},
		{"only fwmark", "virtual_server fwmark 7 {\n real_server 10.0.2.11 80 {\n }\n}\n", false, 5, "ulvs would have nothing to do"},
		{"vrrp only", "vrrp_instance VI {\n interface eth0\n virtual_router_id 7\n virtual_ipaddress {\n  10.0.1.1/24\n }\n}\n", false, 0, "ok (0 services)"},
		{"config id", "@lb1 global_defs {\n@lb1 rooter_id x\n@lb1 }\n" + good, false, 5, "rooter_id"},
		{"other config id", "@lb2 global_defs {\n@lb2 rooter_id x\n@lb2 }\n" + good, false, 0, "ok (1 services)"},
		{"smtp check", strings.Replace(good, "weight 1\n", "weight 1\n SMTP_CHECK {\n }\n", 1), false, 5, "SMTP_CHECK: accepted but not run by ulvs"},
		{"bad value", "virtual_server 10.0.1.100 80 {\n weight 70000\n}\n", false, 5, "weight: 70000 is outside"},
		{"bad value strict", "virtual_server 10.0.1.100 80 {\n weight 70000\n}\n", true, 4, "weight: 70000 is outside"},
		{"DR port warning", strings.Replace(good, "real_server 10.0.2.11 80", "real_server 10.0.2.11 8080 {\n lvs_method DR\n }\n real_server 10.0.2.12 80", 1), false, 5, "real server port 8080 reset to the virtual server's 80"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := write(strings.ReplaceAll(c.name, " ", "-")+".conf", c.body)
			args := []string{"-f", p, "-i", "lb1"}
			if c.strict {
				args = append(args, "--strict")
			}
			var out, errOut bytes.Buffer
			err := checkConfigCmd(args, &out, &errOut)
			code := 0
			var ex exitCode
			if errors.As(err, &ex) {
				code = int(ex)
			} else if err != nil {
				t.Fatal(err)
			}
			all := out.String() + errOut.String()
			if code != c.code || !strings.Contains(all, c.msg) {
				t.Errorf("exit %d, want %d; output %q should contain %q", code, c.code, all, c.msg)
			}
		})
	}
}

func TestConfigTestSpelling(t *testing.T) {
	for _, args := range [][]string{{"-f", "x.conf", "-t"}, {"-t", "-f", "x.conf"}} {
		if !isConfigTest(args) {
			t.Errorf("%v not recognised as a config test", args)
		}
		if got := withoutTestFlag(args); len(got) != 2 || got[0] != "-f" {
			t.Errorf("%v without -t: %v", args, got)
		}
	}
	if isConfigTest([]string{"run", "-f", "x", "-t"}) {
		t.Error("a subcommand's -t is not the config test")
	}
}
