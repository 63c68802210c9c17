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
	vrrpOnly := "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 9\n virtual_ipaddress {\n 10.0.0.9/24 dev eth0 label eth0:gw\n }\n}\n"
	cases := []struct {
		name, body string
		strict     bool
		code       int
		msg        string
	}{
		{"ok", good, false, 0, "ok (1 services)"},
		{"unknown keyword", "global_defs {\n rooter_id x\n}\n" + good, false, 4, "rooter_id"},
		{"unknown keyword strict", "global_defs {\n rooter_id x\n}\n" + good, true, 3, "rooter_id"},
		{"fwmark", "virtual_server fwmark 7 {\n real_server 10.0.2.11 80 {\n }\n}\n" + good, false, 4, "fwmark services are skipped"},
		{"only fwmark", "virtual_server fwmark 7 {\n real_server 10.0.2.11 80 {\n }\n}\n", false, 3, "no virtual_server with an address"},
		{"vrrp only", vrrpOnly, false, 0, "ok (VRRP only: 1 vrrp_instances"},
		{"vrrp only multipath route", strings.Replace(vrrpOnly, "}\n}", "}\n virtual_routes {\n 10.5.0.0/16 via 10.0.0.1 or 10.0.0.2\n }\n}", 1), false, 4, "multipath (or) routes are not supported"},
		{"syntax", "virtual_server 10.0.1.100 80 {\n weight 70000\n}\n", false, 3, "weight"},
		{"DR port warning", strings.Replace(good, "real_server 10.0.2.11 80", "real_server 10.0.2.11 8080 {\n lvs_method DR\n }\n real_server 10.0.2.12 80", 1), false, 4, "real server port 8080 reset to the virtual server's 80"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := write(strings.ReplaceAll(c.name, " ", "-")+".conf", c.body)
			args := []string{"-f", p}
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
