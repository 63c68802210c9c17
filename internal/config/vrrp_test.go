package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestVRRPFullInstance(t *testing.T) {
	in := `
global_defs {
	vrrp_garp_master_refresh 60
}
vrrp_script chk_lb {
	script "/usr/local/bin/check lb"
	interval 2
	timeout 1
	weight -20
	rise 3
	fall 2
}
vrrp_sync_group G1 {
	group {
		VI_1
		VI_2
	}
	notify_fault "/n/group fault"
}
vrrp_instance VI_1 {
	state BACKUP
	interface eth0
	virtual_router_id 51
	priority 150
	advert_int 0.1
	version 3
	nopreempt
	mcast_src_ip 10.0.0.1
	virtual_ipaddress {
		192.0.2.10/24 dev eth0 label eth0:1
		192.0.2.11
	}
	virtual_ipaddress_excluded {
		192.0.2.12
	}
	track_interface {
		eth1 weight -30
		eth2
	}
	track_script {
		chk_lb
	}
	garp_master_delay 1
	garp_master_repeat 3
	notify_master "/n/master arg"
	notify /n/any
	use_vmac
}
vrrp_instance VI_2 {
	state MASTER
	interface eth0
	virtual_router_id 52
	advert_int 2
	authentication {
		auth_type PASS
		auth_pass longer-than-8
	}
	unicast_src_ip 10.0.0.1
	unicast_peer {
		10.0.0.2
		10.0.0.3 min_ttl 250
	}
	preempt_delay 30
	virtual_ipaddress {
		192.0.2.20
	}
}
`
	cfg, warns, err := parse(t, in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if w := warnStrings(warns); !strings.Contains(w, "first 8 characters") || !strings.Contains(w, ":47: use_vmac: accepted but ignored") || len(warns) != 2 {
		t.Errorf("warnings:\n%s", w)
	}
	v := cfg.VRRP
	if len(v.Instances) != 2 || len(v.Scripts) != 1 || len(v.SyncGroups) != 1 {
		t.Fatalf("%d instances %d scripts %d groups", len(v.Instances), len(v.Scripts), len(v.SyncGroups))
	}
	a := v.Instances[0]
	want := &VRRPInstance{Pos: a.Pos, Name: "VI_1", State: "BACKUP", Interface: "eth0", VRID: 51, Priority: 150,
		AdvertInt: 100 * time.Millisecond, Version: 3,
		VIPs:         []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24"), netip.MustParsePrefix("192.0.2.11/32")},
		ExcludedVIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.12/32")},
		McastSrc:     netip.MustParseAddr("10.0.0.1"), McastDst: netip.MustParseAddr("224.0.0.18"), Preempt: false,
		GARPMasterDelay: time.Second, GARPMasterRepeat: 3, GARPMasterRefresh: time.Minute, GARPMasterRefreshRepeat: 1,
		GARPLowerPrioRepeat: 3, DownTimerAdverts: 3, HigherPrioSendAdvert: true,
		TrackInterfaces: []VRRPTrack{{Name: "eth1", Weight: -30, HasWeight: true}, {Name: "eth2"}},
		TrackScripts:    []VRRPTrack{{Name: "chk_lb", Weight: -20}},
		Notify:          VRRPNotify{Master: "/n/master arg", Any: "/n/any"},
		Extra:           a.Extra,
		Addresses:       a.Addresses, // TestVirtualAddressOptions
	}
	if len(a.Addresses) != 3 || a.Addresses[0].Label != "eth0:1" || !a.Addresses[2].Excluded {
		t.Errorf("addresses %+v", a.Addresses)
	}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("VI_1\n got %+v\nwant %+v", a, want)
	}
	if len(a.Extra) != 1 || a.Extra[0].Keyword != "use_vmac" {
		t.Errorf("extra %v", a.Extra)
	}
	b := v.Instances[1]
	if b.Priority != 255 || b.Version != 2 || b.AdvertInt != 2*time.Second || b.AuthType != "PASS" || b.AuthPass != "longer-t" ||
		!b.Preempt || b.PreemptDelay != 30*time.Second || len(b.UnicastPeers) != 2 || b.UnicastSrc != netip.MustParseAddr("10.0.0.1") ||
		b.GARPMasterDelay != 5*time.Second || b.GARPMasterRepeat != 5 {
		t.Errorf("VI_2 (MASTER without priority owns; keepalived defaults) %+v", b)
	}
	s := v.Scripts[0]
	if s.Script != "/usr/local/bin/check lb" || s.Interval != 2*time.Second || s.Timeout != time.Second ||
		s.Weight != -20 || s.Rise != 3 || s.Fall != 2 {
		t.Errorf("script %+v", s)
	}
	g := v.SyncGroups[0]
	if !reflect.DeepEqual(g.Group, []string{"VI_1", "VI_2"}) || g.Notify.Fault != "/n/group fault" {
		t.Errorf("group %+v", g)
	}
	// The nodes stay in Blocks for code that reads them generically.
	if len(cfg.Blocks) != 4 {
		t.Errorf("%d blocks kept", len(cfg.Blocks))
	}
}

func TestVRRPDefaults(t *testing.T) {
	cfg, _, err := parse(t, "vrrp_instance VI { interface eth0\nvirtual_router_id 1 }\n", Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := cfg.VRRP.Instances[0]
	if in.Priority != 100 || in.Version != 2 || in.AdvertInt != time.Second || !in.Preempt ||
		in.GARPMasterDelay != 5*time.Second || in.GARPMasterRepeat != 5 || in.GARPMasterRefresh != 0 ||
		in.DownTimerAdverts != 3 {
		t.Errorf("defaults %+v", in)
	}
	cfg, _, err = parse(t, "global_defs { vrrp_version 3 }\nvrrp_instance VI { interface eth0\nvirtual_router_id 1\nadvert_int 0.25 }\n", Options{})
	if err != nil || cfg.VRRP.Instances[0].Version != 3 || cfg.VRRP.Instances[0].AdvertInt != 250*time.Millisecond {
		t.Errorf("vrrp_version 3: %v %+v", err, cfg)
	}
}

func TestVRRPErrors(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"no vrid", "vrrp_instance VI { interface eth0 }", "no virtual_router_id"},
		{"no interface", "vrrp_instance VI { virtual_router_id 1 }", "no interface"},
		{"vrid range", "vrrp_instance VI { interface eth0\nvirtual_router_id 256 }", "outside 1..255"},
		{"v2 fraction", "vrrp_instance VI { interface eth0\nvirtual_router_id 1\nadvert_int 0.5 }", "VRRPv2 carries whole seconds"},
		{"v3 millis", "vrrp_instance VI { interface eth0\nvirtual_router_id 1\nversion 3\nadvert_int 0.005 }", "VRRPv3 carries centiseconds"},
		{"v3 auth", "vrrp_instance VI { interface eth0\nvirtual_router_id 1\nversion 3\nauthentication {\nauth_type PASS\nauth_pass x\n} }", "VRRPv3 has no authentication"},
		{"duplicate vrid", "vrrp_instance A { interface eth0\nvirtual_router_id 1 }\nvrrp_instance B { interface eth0\nvirtual_router_id 1 }", "already used"},
		{"duplicate name", "vrrp_instance A { interface eth0\nvirtual_router_id 1 }\nvrrp_instance A { interface eth0\nvirtual_router_id 2 }", "already defined"},
		{"sync member", "vrrp_instance A { interface eth0\nvirtual_router_id 1 }\nvrrp_sync_group G { group {\nA B\n} }", "no vrrp_instance B"},
		{"bad vip", "vrrp_instance VI { interface eth0\nvirtual_router_id 1\nvirtual_ipaddress {\nnot-an-ip\n} }", "not an IP address"},
		{"bad weight", "vrrp_instance VI { interface eth0\nvirtual_router_id 1\ntrack_interface {\neth1 weight 300\n} }", "outside -253..253"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := refused(t, c.in+"\n")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}
