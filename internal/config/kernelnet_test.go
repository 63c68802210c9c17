package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func vrrpWith(body string) string {
	return "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n" + body + "\n}\n"
}

func TestIPRoutes(t *testing.T) {
	for _, tc := range []struct {
		line string
		want *IPRoute // nil: skipped with a warning
		err  string
	}{
		{line: "src 192.168.100.1 to 192.168.109.0/24 via 192.168.200.254 dev eth1",
			want: &IPRoute{Dst: netip.MustParsePrefix("192.168.109.0/24"), Src: netip.MustParseAddr("192.168.100.1"),
				Via: netip.MustParseAddr("192.168.200.254"), Dev: "eth1"}},
		{line: "192.168.111.7/24 dev eth2 scope link metric 7 table 100 proto static onlink no_track",
			want: &IPRoute{Dst: netip.MustParsePrefix("192.168.111.0/24"), Dev: "eth2", Scope: 253, HasScope: true,
				Metric: 7, Table: 100, Protocol: 4, OnLink: true, NoTrack: true}},
		{line: "blackhole 192.168.114.0/24", want: &IPRoute{Type: "blackhole", Dst: netip.MustParsePrefix("192.168.114.0/24")}},
		{line: "0.0.0.0/0 gw 192.168.0.1 table main", want: &IPRoute{Dst: netip.MustParsePrefix("0.0.0.0/0"),
			Via: netip.MustParseAddr("192.168.0.1"), Table: 254}},
		{line: "default via 192.168.0.1", want: &IPRoute{Dst: netip.MustParsePrefix("0.0.0.0/0"), Via: netip.MustParseAddr("192.168.0.1")}},
		{line: "192.168.113.0/24 via 192.168.200.254 or 192.168.100.254 dev eth1"},
		{line: "192.168.113.0/24 via 192.168.200.254 table small"},
		{line: "192.168.113.0/24 dev eth1 mtu 1400"},
		{line: "2001:db8::/64 dev eth1"},
		// Bad values skip the line, as keepalived does; a keyword without
		// its value is fatal there, and here.
		{line: "192.168.113.0/24"},
		{line: "via 10.0.0.1"},
		{line: "10.1.0.0/16 dev eth0 metric x"},
		{line: "10.1.0.0/16 via nope"},
		{line: "10.1.0.0/16 via", err: "via needs an address"},
		{line: "10.1.0.0/16 dev", err: "dev needs an interface name"},
		{line: "10.1.0.0/16 dev eth0 metric", err: "metric needs a whole number"},
	} {
		checkNetLine(t, "virtual_routes", "static_routes", tc.line, tc.want, tc.err,
			func(c *Config) ([]IPRoute, []IPRoute) { return c.VRRP.Instances[0].VirtualRoutes, c.Static.Routes },
			func(r *IPRoute, line int) { r.Pos = Pos{File: "/etc/keepalived/keepalived.conf", Line: line} })
	}
}

func TestIPRules(t *testing.T) {
	for _, tc := range []struct {
		line string
		want *IPRule
		err  string
	}{
		{line: "from 192.168.2.0/24 table 1 priority 7", want: &IPRule{From: netip.MustParsePrefix("192.168.2.0/24"), Table: 1,
			Priority: 7, SuppressPrefix: -1, hasTable: true}},
		{line: "from all to 10.0.0.0/8 fwmark 0x50/0xff priority 100 lookup 7 iif eth0 oif eth1 tos 0x10 not no_track",
			want: &IPRule{To: netip.MustParsePrefix("10.0.0.0/8"), HasMark: true, Mark: 0x50, Mask: 0xff, Priority: 100,
				Table: 7, IIF: "eth0", OIF: "eth1", TOS: 0x10, Invert: true, NoTrack: true, SuppressPrefix: -1, hasTable: true}},
		{line: "from 10.1.1.1 pref 5 blackhole", want: &IPRule{From: netip.MustParsePrefix("10.1.1.1/32"), Priority: 5,
			Action: "blackhole", SuppressPrefix: -1, hasAct: true}},
		{line: "from 10.1.1.1 goto 200 suppress_prefixlength 0 priority 3", want: &IPRule{From: netip.MustParsePrefix("10.1.1.1/32"),
			Priority: 3, Goto: 200, SuppressPrefix: 0, hasAct: true}},
		{line: "from 10.1.1.1 uidrange 1-2 table 1"},
		{line: "from 10.1.1.1 table small"},
		{line: "from 2001:db8::1 table 1"},
		{line: "from 10.1.1.1 priority 1"},
		{line: "from 10.1.1.1 fwmark x table 1 priority 1"},
		{line: "from 10.1.1.1 table", err: "table needs a value"},
	} {
		checkNetLine(t, "virtual_rules", "static_rules", tc.line, tc.want, tc.err,
			func(c *Config) ([]IPRule, []IPRule) { return c.VRRP.Instances[0].VirtualRules, c.Static.Rules },
			func(r *IPRule, line int) { r.Pos = Pos{File: "/etc/keepalived/keepalived.conf", Line: line} })
	}
}

// checkNetLine parses line in an instance's block and in the top-level
// static block: both must give want (nil: skipped with a warning each) or
// fail with errWant.
func checkNetLine[T any](t *testing.T, block, static, line string, want *T, errWant string,
	get func(*Config) (inst, static []T), setPos func(*T, int)) {
	t.Helper()
	// An error refuses the file with --strict; without it, as every
	// config error, it leaves the line out with a warning.
	cfg, warns, err := parse(t, vrrpWith(block+" {\n"+line+"\n}")+static+" {\n"+line+"\n}\n", Options{Strict: errWant != ""})
	if errWant != "" {
		if err == nil || !strings.Contains(err.Error(), errWant) {
			t.Errorf("%q: error %v, want one containing %q", line, err, errWant)
		}
		return
	}
	if err != nil {
		t.Errorf("%q: %v", line, err)
		return
	}
	got, st := get(cfg)
	if want == nil {
		if len(got)+len(st) != 0 || len(warns) != 2 || !strings.Contains(warns[0].Msg, "not applied") {
			t.Errorf("%q: applied as %+v %+v, warnings %q; want skipped with a warning each", line, got, st, warnStrings(warns))
		}
		return
	}
	for _, c := range []struct {
		where string
		got   []T
		line  int
	}{{block, got, 5}, {static, st, 9}} {
		setPos(want, c.line)
		if len(c.got) != 1 || !reflect.DeepEqual(c.got[0], *want) || len(warns) != 0 {
			t.Errorf("%q in %s:\n got %+v (warnings %q)\nwant %+v", line, c.where, c.got, warnStrings(warns), *want)
		}
	}
}

func TestRuleDefaultPriority(t *testing.T) {
	cfg, warns, err := parse(t, "static_rules {\n from 10.0.0.0/8 table 5\n}\n", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Static.Rules; len(r) != 1 || r[0].Priority != 16384 {
		t.Errorf("rules %+v, want priority 16384 (keepalived's default)", r)
	}
	if w := warnStrings(warns); !strings.Contains(w, "no priority; 16384") {
		t.Errorf("warnings %q, want one saying the priority was set", w)
	}
}

func TestStaticAddressNeedsDev(t *testing.T) {
	cfg, warns, err := parse(t, "static_ipaddress {\n 10.0.0.9/24 dev eth0 scope link\n 10.0.0.10/24\n}\n", Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []VirtualAddress{{Pos: Pos{File: "/etc/keepalived/keepalived.conf", Line: 2}, Prefix: netip.MustParsePrefix("10.0.0.9/24"), Dev: "eth0", Scope: "link"}}
	if !reflect.DeepEqual(cfg.Static.Addresses, want) {
		t.Errorf("static addresses %+v, want %+v", cfg.Static.Addresses, want)
	}
	if w := warnStrings(warns); !strings.Contains(w, "10.0.0.10/24 has no dev") {
		t.Errorf("warnings %q, want one naming the address without dev", w)
	}
}
