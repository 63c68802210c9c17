package preflight

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/ulvs/ulvs/balancer"
)

type fakeHost struct {
	owners   map[netip.Addr]string
	sysctls  map[string]string
	gro      bool
	routes   map[netip.Addr][2]string // iface, gateway
	noIfaces bool
}

func (h fakeHost) AddrOwner(a netip.Addr) (string, error) { return h.owners[a], nil }
func (h fakeHost) Sysctl(n string) (string, error) {
	v, ok := h.sysctls[n]
	if !ok {
		return "0", nil
	}
	return v, nil
}
func (h fakeHost) Offloads(string) (bool, bool, error) { return h.gro, false, nil }
func (h fakeHost) Route(dst netip.Addr) (string, netip.Addr, error) {
	r, ok := h.routes[dst]
	if !ok {
		return "", netip.Addr{}, errors.New("network unreachable")
	}
	gw, _ := netip.ParseAddr(r[1])
	return r[0], gw, nil
}
func (h fakeHost) InterfaceExists(string) bool { return !h.noIfaces }

var (
	vip   = netip.MustParseAddr("10.0.1.100")
	real1 = netip.MustParseAddr("10.0.2.11")
)

func setup(m balancer.Method, drop bool) Setup {
	return Setup{
		ClientIface: "c0", RealIface: "r0", KernelDrop: drop,
		Services: []balancer.ServiceConfig{{
			Key:   balancer.ServiceKey{Addr: vip, Port: 80, Proto: balancer.TCP},
			Reals: []balancer.RealConfig{{Addr: real1, Port: 80, Method: m, Weight: 1}},
		}},
	}
}

func goodHost() fakeHost {
	return fakeHost{routes: map[netip.Addr][2]string{real1: {"r0", ""}}}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name      string
		host      func() fakeHost
		setup     Setup
		wantWorst Severity
		wantCheck string // a check that must report wantWorst
		wantFix   string
	}{
		{"clean NAT", goodHost, setup(balancer.NAT, true), OK, "", ""},
		{"VIP on a kernel interface", func() fakeHost {
			h := goodHost()
			h.owners = map[netip.Addr]string{vip: "c0"}
			return h
		}, setup(balancer.NAT, true), Error, "vip", "ip addr del 10.0.1.100/32 dev c0"},
		{"forwarding without kernel drop", func() fakeHost {
			h := goodHost()
			h.sysctls = map[string]string{"net.ipv4.ip_forward": "1"}
			return h
		}, setup(balancer.NAT, false), Error, "ip_forward", "ip_forward=0"},
		{"strict rp_filter with DR replies", func() fakeHost {
			h := goodHost()
			h.sysctls = map[string]string{"net.ipv4.ip_forward": "1", "net.ipv4.conf.all.rp_filter": "1"}
			return h
		}, setup(balancer.DR, true), Error, "rp_filter", "rp_filter=2"},
		{"gro on", func() fakeHost { h := goodHost(); h.gro = true; return h }, setup(balancer.DR, true), Error, "offloads", "ethtool -K"},
		{"DR behind a gateway", func() fakeHost {
			return fakeHost{routes: map[netip.Addr][2]string{real1: {"r0", "10.0.2.1"}}}
		}, setup(balancer.DR, true), Error, "route", "TUN"},
		{"real on the wrong interface", func() fakeHost {
			return fakeHost{routes: map[netip.Addr][2]string{real1: {"c0", ""}}}
		}, setup(balancer.NAT, true), Error, "route", "interface_reals"},
		{"no route", func() fakeHost { return fakeHost{} }, setup(balancer.TUN, true), Error, "route", "ip route add"},
		{"missing interface", func() fakeHost { h := goodHost(); h.noIfaces = true; return h }, setup(balancer.NAT, true), Error, "interface", "ulvs block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := Check(tt.host(), tt.setup)
			if got := Worst(fs); got != tt.wantWorst {
				t.Fatalf("worst = %v, want %v; findings:\n%v", got, tt.wantWorst, fs)
			}
			if tt.wantCheck == "" {
				return
			}
			for _, f := range fs {
				if f.Check == tt.wantCheck && f.Severity == tt.wantWorst && strings.Contains(f.Fix, tt.wantFix) {
					return
				}
			}
			t.Errorf("no %v finding for %q with fix containing %q; findings:\n%v", tt.wantWorst, tt.wantCheck, tt.wantFix, fs)
		})
	}
}

func TestRealServerCommands(t *testing.T) {
	for _, tt := range []struct {
		m    balancer.Method
		want []string
	}{
		{balancer.NAT, []string{"ip route replace default via 10.0.2.1"}},
		{balancer.DR, []string{"ip addr add 10.0.1.100/32 dev lo", "arp_ignore=1", "arp_announce=2"}},
		{balancer.TUN, []string{"ip addr add 10.0.1.100/32 dev lo", "ulvs tunnel", "rp_filter=0"}},
	} {
		out := strings.Join(RealServerCommands(setup(tt.m, true), netip.MustParseAddr("10.0.2.1")), "\n")
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: commands lack %q:\n%s", tt.m, w, out)
			}
		}
	}
}
