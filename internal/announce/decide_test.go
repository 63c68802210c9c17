package announce

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/ulvs/ulvs/internal/labeltest"
)

var (
	vip1 = netip.MustParseAddr("192.0.2.1")
	vip2 = netip.MustParseAddr("192.0.2.2")
	vip6 = netip.MustParseAddr("2001:db8::1")
)

func routesString(rs []Route) string {
	var s []string
	for _, r := range rs {
		verb := "withdraw"
		if r.Announce {
			verb = "announce"
		}
		s = append(s, fmt.Sprintf("%s %v %v", verb, r.Prefix, r.Reason))
	}
	return strings.Join(s, "; ")
}

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Input
		want string
	}{
		{"no services", Input{}, ""},
		{"one healthy", Input{Services: []Service{{vip1, true}}}, "announce 192.0.2.1/32 healthy"},
		{"none healthy", Input{Services: []Service{{vip1, false}}}, "withdraw 192.0.2.1/32 down"},
		{"one of two services on the VIP up", Input{Services: []Service{{vip1, false}, {vip1, true}}},
			"announce 192.0.2.1/32 healthy"},
		{"each VIP on its own", Input{Services: []Service{{vip2, true}, {vip1, false}}},
			"withdraw 192.0.2.1/32 down; announce 192.0.2.2/32 healthy"},
		{"IPv6 is a /128", Input{Services: []Service{{vip6, true}}}, "announce 2001:db8::1/128 healthy"},
		{"mapped IPv4 is IPv4", Input{Services: []Service{{netip.AddrFrom16(vip1.As16()), true}}},
			"announce 192.0.2.1/32 healthy"},
		{"always ignores checks", Input{Mode: ModeAlways, Services: []Service{{vip1, false}}},
			"announce 192.0.2.1/32 always"},
		{"drain beats always", Input{Mode: ModeAlways, Drained: true, Services: []Service{{vip1, true}}},
			"withdraw 192.0.2.1/32 drained"},
		{"drain beats VRRP master", Input{Drained: true, Services: []Service{{vip1, true}}, VRRP: map[netip.Addr]bool{vip1: true}},
			"withdraw 192.0.2.1/32 drained"},
		{"VRRP backup", Input{Services: []Service{{vip1, true}}, VRRP: map[netip.Addr]bool{vip1: false}},
			"withdraw 192.0.2.1/32 vrrp_backup"},
		{"VRRP backup beats always", Input{Mode: ModeAlways, Services: []Service{{vip1, true}}, VRRP: map[netip.Addr]bool{vip1: false}},
			"withdraw 192.0.2.1/32 vrrp_backup"},
		{"VRRP master still needs health", Input{Services: []Service{{vip1, false}, {vip2, true}},
			VRRP: map[netip.Addr]bool{vip1: true, vip2: true}},
			"withdraw 192.0.2.1/32 down; announce 192.0.2.2/32 healthy"},
		{"VRRP on another VIP", Input{Services: []Service{{vip1, true}}, VRRP: map[netip.Addr]bool{vip2: false}},
			"announce 192.0.2.1/32 healthy"},
		{"invalid VIP (fwmark) skipped", Input{Services: []Service{{netip.Addr{}, true}}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := routesString(Decide(tc.in)); got != tc.want {
				t.Errorf("Decide:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestReasonNames(t *testing.T) {
	labeltest.Check(t, reasonCount, []string{"healthy", "always", "down", "drained", "vrrp_backup"}, true)
}
