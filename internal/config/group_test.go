package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/ulvs/ulvs/balancer"
)

func TestParseAddrRange(t *testing.T) {
	for _, tc := range []struct {
		in          string
		first, last string
		err         string
	}{
		{in: "10.0.0.1", first: "10.0.0.1", last: "10.0.0.1"},
		{in: "10.0.0.1-10", first: "10.0.0.1", last: "10.0.0.10"},
		{in: "10.0.0.250-10.0.1.3", first: "10.0.0.250", last: "10.0.1.3"},
		{in: "10.0.0.5-10.0.0.5", first: "10.0.0.5", last: "10.0.0.5"},
		{in: "10.0.0.0/29", first: "10.0.0.0", last: "10.0.0.7"},
		{in: "10.0.0.9/32", first: "10.0.0.9", last: "10.0.0.9"},
		{in: "2001:db8::1-1f", first: "2001:db8::1", last: "2001:db8::1f"},
		{in: "2001:db8::fff0-2001:db8::1:2", first: "2001:db8::fff0", last: "2001:db8::1:2"},
		{in: "2001:db8::/126", first: "2001:db8::", last: "2001:db8::3"},
		{in: "10.0.0.5-5", err: "must be above"},
		{in: "10.0.0.5-3", err: "must be above"},
		{in: "10.0.0.5-256", err: "not a number up to 255"},
		{in: "10.0.0.5-x", err: "not a number"},
		{in: "10.0.0.5-10.0.0.1", err: "ends before it starts"},
		{in: "10.0.0.5-2001:db8::1", err: "not a number"},
		{in: "10.0.0.1/29", err: "host bits set; write 10.0.0.0/29"},
		{in: "0.0.0.0/0", err: "/0"},
		{in: "10.0.0.0/33", err: "not an address prefix"},
		{in: "::ffff:10.0.0.0/120", err: "dotted form"},
		{in: "web", err: "not an IP address"},
	} {
		first, last, err := parseAddrRange(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: got %v, want error containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || first.String() != tc.first || last.String() != tc.last {
			t.Errorf("%s: got %v-%v %v, want %s-%s", tc.in, first, last, err, tc.first, tc.last)
		}
	}
}

// groupConf is a group-using virtual server with the given group body
// and virtual_server settings.
func groupConf(entries, settings string) string {
	return "virtual_server group web {\n lb_algo rr\n lb_kind NAT\n" + settings +
		"\n real_server 10.0.2.1 8080\n real_server 10.0.2.2\n}\nvirtual_server_group web {\n" + entries + "\n}\n"
}

func serviceKeys(t *testing.T, cfg *Config) []string {
	t.Helper()
	svcs, err := cfg.Services()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, s := range svcs {
		keys = append(keys, s.Key.String())
	}
	return keys
}

func TestGroupExpansion(t *testing.T) {
	cfg, warns := mustParse(t, groupConf("10.0.0.1 80\n10.0.0.8-10 443\n10.0.1.0/31 53\nfwmark 7 inet", "protocol TCP"))
	if len(warns) != 0 {
		t.Errorf("warnings: %s", warnStrings(warns))
	}
	got := strings.Join(serviceKeys(t, cfg), ", ")
	want := "TCP 10.0.0.1:80, TCP 10.0.0.8:443, TCP 10.0.0.9:443, TCP 10.0.0.10:443, TCP 10.0.1.0:53, TCP 10.0.1.1:53, FWM 7"
	if got != want {
		t.Errorf("services\n got %s\nwant %s", got, want)
	}
	svcs, _ := cfg.Services()
	for _, s := range svcs {
		if s.Scheduler != "rr" || len(s.Reals) != 2 || s.Reals[0].Port != 8080 || s.Reals[1].Port != 0 {
			t.Errorf("%v: %+v", s.Key, s)
		}
	}
	// The balancer accepts them: NAT port 0 means the service's port.
	var addr []balancer.ServiceConfig
	for _, s := range svcs {
		if s.Key.FWMark == 0 {
			addr = append(addr, s)
		}
	}
	tab, err := balancer.NewTable(nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	if p := tab.Services()[1].Reals[1].Port; p != 443 {
		t.Errorf("NAT real server without a port got %d, want the group entry's 443", p)
	}
}

func TestGroupCorrections(t *testing.T) {
	for _, tc := range []struct {
		name, conf string
		warn       string // substring of the only warning; empty for none
		check      func(t *testing.T, cfg *Config)
	}{
		{"protocol defaults to UDP", groupConf("10.0.0.1 80", ""), "no protocol set; defaulting to UDP",
			func(t *testing.T, cfg *Config) {
				if cfg.VirtualServers[0].Protocol != balancer.UDP {
					t.Error("not UDP")
				}
			}},
		{"zero port sets persistence", groupConf("10.0.0.1 80\n10.0.0.2 0", "protocol TCP"), "setting persistence_timeout 360",
			func(t *testing.T, cfg *Config) {
				if cfg.VirtualServers[0].Persistence != defaultPersistence {
					t.Error("persistence not set")
				}
			}},
		{"fwmark-only group ignores protocol", groupConf("fwmark 1\nfwmark 2 inet6", "protocol TCP"), "protocol is ignored",
			func(t *testing.T, cfg *Config) {
				if got := strings.Join(serviceKeys(t, cfg), ","); got != "FWM 1,FWM 2" {
					t.Errorf("services %s", got)
				}
			}},
		{"ops needs UDP", groupConf("10.0.0.1 80", "protocol TCP\nops"), "requires UDP",
			func(t *testing.T, cfg *Config) {
				if cfg.VirtualServers[0].Flags&balancer.FlagOnePacket != 0 {
					t.Error("ops kept")
				}
			}},
		{"ops with UDP", groupConf("10.0.0.1 53", "protocol UDP\nops"), "",
			func(t *testing.T, cfg *Config) {
				if cfg.VirtualServers[0].Flags&balancer.FlagOnePacket == 0 {
					t.Error("ops lost")
				}
			}},
		{"ha_suspend with fwmark", groupConf("10.0.0.1 80\nfwmark 3", "protocol TCP\nha_suspend"), "ha_suspend cannot be used with fwmarks",
			func(t *testing.T, cfg *Config) {
				if cfg.VirtualServers[0].HASuspend {
					t.Error("ha_suspend kept")
				}
			}},
		{"undefined group", strings.Replace(groupConf("10.0.0.1 80", "protocol TCP"), "virtual_server_group web", "virtual_server_group wbe", 1),
			"virtual_server_group web is not defined; virtual server ignored, as keepalived does (did you mean wbe?)",
			func(t *testing.T, cfg *Config) {
				if len(cfg.VirtualServers) != 0 {
					t.Error("virtual server kept")
				}
			}},
		{"empty group", "virtual_server_group none {\n}\n", "has no entries; removed",
			func(t *testing.T, cfg *Config) {
				if len(cfg.Groups) != 0 {
					t.Error("empty group kept")
				}
			}},
		{"mixed families", groupConf("10.0.0.1 80\n2001:db8::1 80", "protocol TCP\nreal_server 2001:db8::2 80\nreal_server 2001:db8::3 {\n lvs_method TUN\n}"), "",
			func(t *testing.T, cfg *Config) {
				svcs, err := cfg.Services()
				if err != nil {
					t.Fatal(err)
				}
				if len(svcs) != 2 || len(svcs[0].Reals) != 3 || len(svcs[1].Reals) != 2 {
					t.Fatalf("reals per family wrong: %+v", svcs)
				}
				if _, err := balancer.NewTable(nil, svcs); err != nil {
					t.Error(err)
				}
			}},
		{"granularity only for its family", groupConf("10.0.0.1 80\n2001:db8::1 80", "protocol TCP\npersistence_granularity 255.255.255.0"), "",
			func(t *testing.T, cfg *Config) {
				svcs, _ := cfg.Services()
				if svcs[0].PersistenceMaskBits != 24 || svcs[1].PersistenceMaskBits != 0 {
					t.Errorf("granularity %d %d", svcs[0].PersistenceMaskBits, svcs[1].PersistenceMaskBits)
				}
			}},
		{"real server of no group family", groupConf("10.0.0.1 80", "protocol TCP\nreal_server 2001:db8::2 80"), "serves none of them",
			nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, warns := mustParse(t, tc.conf)
			warns = slices.DeleteFunc(warns, func(w Warning) bool { return w.Keyword == "ha_suspend" }) // accepted but ignored
			switch {
			case tc.warn == "" && len(warns) != 0:
				t.Errorf("warnings: %s", warnStrings(warns))
			case tc.warn != "" && (len(warns) != 1 || !strings.Contains(warns[0].String(), tc.warn)):
				t.Errorf("want one warning containing %q, got:\n%s", tc.warn, warnStrings(warns))
			}
			if tc.check != nil {
				tc.check(t, cfg)
			}
		})
	}
}

func TestGroupErrors(t *testing.T) {
	for _, tc := range []struct{ conf, want string }{
		{groupConf("10.0.0.1-0 80", "protocol TCP"), "keepalived.conf:9: 10.0.0.1-0: \"10.0.0.1-0\": the range end must be above"},
		{groupConf("10.0.0.1 http", "protocol TCP"), "keepalived.conf:9: 10.0.0.1: port \"http\" is not a whole number"},
		{groupConf("fwmark 0", "protocol TCP"), "fwmark: 0 is outside 1..4294967295"},
		{groupConf("fwmark 1 inet4", "protocol TCP"), "unknown address family \"inet4\" (write fwmark N inet or fwmark N inet6)"},
		{groupConf("10.0.0.1 80 { }", "protocol TCP"), "takes no { } block"},
		{groupConf("10.0.0.0/8 80", "protocol TCP"), "covers more than 65536 addresses"},
		{groupConf("10.0.0.1 80", "protocol TCP") + "virtual_server_group web {\n 10.0.0.2 80\n}\n", "virtual_server_group web is already defined at"},
		{groupConf("10.0.0.1-3 80", "protocol TCP") + strings.Replace(vsBlock(""), "10.0.0.1 80", "10.0.0.2 80", 1),
			"TCP 10.0.0.2:80 of this virtual_server_group entry (used by the virtual_server at /etc/keepalived/keepalived.conf:1) is also served by the virtual_server at"},
	} {
		err := refused(t, tc.conf)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v\nwant %q in:\n%s", err, tc.want, tc.conf)
		}
	}
}

func TestGroupEntryString(t *testing.T) {
	cfg, _ := mustParse(t, groupConf("10.0.0.1-3 80\n10.0.0.9\nfwmark 5 inet6", "protocol TCP\npersistence_timeout"))
	var got []string
	for _, e := range cfg.Groups[0].Entries {
		got = append(got, e.String())
	}
	if s := fmt.Sprint(got); s != "[10.0.0.1-10.0.0.3 80 10.0.0.9 fwmark 5 inet6]" {
		t.Errorf("got %s", s)
	}
	var addrs []netip.Addr
	for a := range cfg.Groups[0].Entries[0].Addrs() {
		addrs = append(addrs, a)
	}
	if len(addrs) != 3 || addrs[2] != netip.MustParseAddr("10.0.0.3") {
		t.Errorf("addrs %v", addrs)
	}
}

// TestGroupsTestdata loads the golden group file: every keyword in it
// loads, the only warnings being for the keywords ulvs types but does not
// act on (global_defs ones and ha_suspend), and the groups expand as keepalived would create
// them in IPVS.
func TestGroupsTestdata(t *testing.T) {
	cfg, warns, err := Load("testdata/groups.conf", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warns {
		if _, ok := globalTypedUnused[w.Keyword]; !ok && w.Keyword != "ha_suspend" {
			t.Errorf("warning: %v", w)
		}
	}
	svcs, err := cfg.Services()
	if err != nil {
		t.Fatal(err)
	}
	// web: 1+3+4+3 addresses for TCP and again for UDP; marks: 2; one plain.
	if len(svcs) != 11+11+2+1 {
		t.Fatalf("%d services", len(svcs))
	}
	var addr []balancer.ServiceConfig
	for _, s := range svcs {
		if s.Key.FWMark == 0 {
			addr = append(addr, s)
		}
	}
	if _, err := balancer.NewTable(nil, addr); err != nil {
		t.Fatal(err)
	}
	if g := cfg.Global; g.VRRP.Version != 3 || !g.LVSFlush || !g.LVSFlushOnStop || g.VRRP.MaxAutoPriority != 50 {
		t.Errorf("global %+v", g)
	}
}
