package config

import (
	"net/netip"
	"strings"
	"testing"
)

// TestVirtualAddressOptions checks the options of virtual_ipaddress lines
// and which lines keepalived (and so ulvs) drops.
func TestVirtualAddressOptions(t *testing.T) {
	cases := []struct {
		name, line string
		want       string // fmt of the parsed address, "" = dropped
		warn       string
	}{
		{"plain", "192.0.2.10", "192.0.2.10/32 dev= label= scope= brd=invalid IP peer=invalid IP", ""},
		{"all", "192.0.2.10/24 dev eth1 label eth1:v scope link brd 192.0.2.255", "192.0.2.10/24 dev=eth1 label=eth1:v scope=link brd=192.0.2.255 peer=invalid IP", ""},
		{"brd plus", "192.0.2.10/24 brd +", "192.0.2.10/24 dev= label= scope= brd=192.0.2.255 peer=invalid IP", ""},
		{"brd minus", "192.0.2.10/24 broadcast -", "192.0.2.10/24 dev= label= scope= brd=192.0.2.0 peer=invalid IP", ""},
		{"brd long prefix", "192.0.2.10/31 brd +", "192.0.2.10/31 dev= label= scope= brd=invalid IP peer=invalid IP", "too long for a broadcast"},
		{"peer", "192.0.2.10 peer 192.0.2.11", "192.0.2.10/32 dev= label= scope= brd=invalid IP peer=192.0.2.11", ""},
		{"numeric scope", "192.0.2.10 scope 253", "192.0.2.10/32 dev= label= scope=253 brd=invalid IP peer=invalid IP", ""},
		{"bad scope", "192.0.2.10 scope planet", "192.0.2.10/32 dev= label= scope= brd=invalid IP peer=invalid IP", "invalid scope"},
		{"unknown option", "192.0.2.10 colour red", "192.0.2.10/32 dev= label= scope= brd=invalid IP peer=invalid IP", "unknown option \"colour\""},
		{"missing value", "192.0.2.10 dev", "", "dev needs a value"},
		{"long label", "192.0.2.10 label abcdefghijklmnop", "", "longer than 15 bytes"},
		{"bad brd", "192.0.2.10 brd x", "", "not an IPv4 address"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := "vrrp_instance VI { interface eth0\nvirtual_router_id 1\nvirtual_ipaddress {\n" + c.line + "\n} }\n"
			cfg, warns, err := parse(t, in, Options{})
			if err != nil {
				t.Fatal(err)
			}
			addrs := cfg.VRRP.Instances[0].Addresses
			got := ""
			if len(addrs) == 1 {
				a := addrs[0]
				got = a.Prefix.String() + " dev=" + a.Dev + " label=" + a.Label + " scope=" + a.Scope + " brd=" + a.Broadcast.String() + " peer=" + a.Peer.String()
				if len(cfg.VRRP.Instances[0].VIPs) != 1 {
					t.Error("Addresses and VIPs disagree")
				}
			}
			if got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
			if w := warnStrings(warns); (c.warn == "") != (len(warns) == 0) || !strings.Contains(w, c.warn) {
				t.Errorf("warnings %q, want %q", w, c.warn)
			}
		})
	}
}

func TestBacksVirtualServer(t *testing.T) {
	in := "virtual_server_group g {\n 192.0.2.20-22 80\n}\n" +
		"virtual_server group g {\n protocol TCP\n lb_algo rr\n lb_kind DR\n real_server 198.51.100.1 80 {\n }\n}\n" +
		"virtual_server 192.0.2.10 80 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n real_server 198.51.100.1 80 {\n }\n}\n"
	cfg, _, err := parse(t, in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for a, want := range map[string]bool{"192.0.2.10": true, "192.0.2.21": true, "192.0.2.22": true, "192.0.2.23": false,
		"192.0.2.1": false, "::ffff:192.0.2.10": true, "2001:db8::1": false} {
		if got := cfg.BacksVirtualServer(netip.MustParseAddr(a)); got != want {
			t.Errorf("%s: %v, want %v", a, got, want)
		}
	}
}
