package daemon

import (
	"log/slog"
	"net/netip"
	"reflect"
	"testing"

	"github.com/ulvs/ulvs/internal/config"
)

// TestKernelNetSplit: an instance's addresses that back a virtual_server
// stay in the packet loop's responder (the owner claims them there); the
// others go to the kernel on their dev, by default the instance's
// interface, and their gratuitous ARPs go out there.
func TestKernelNetSplit(t *testing.T) {
	svc, gw, other := netip.MustParsePrefix("10.0.1.100/32"), netip.MustParsePrefix("10.0.2.1/24"), netip.MustParsePrefix("10.0.3.1/24")
	route := config.IPRoute{Dst: netip.MustParsePrefix("10.9.0.0/16"), Dev: "eth1"}
	cfg := &config.Config{VRRP: config.VRRP{Instances: []*config.VRRPInstance{{
		Name: "VI_1", Interface: "eth0",
		VIPs:          []netip.Prefix{svc, gw},
		VIPAddrs:      []config.IPAddress{{Prefix: svc}, {Prefix: gw, Label: "eth0:gw"}},
		ExcludedVIPs:  []netip.Prefix{other},
		ExcludedAddrs: []config.IPAddress{{Prefix: other, Dev: "eth1"}},
		VirtualRoutes: []config.IPRoute{route},
	}}}}
	k := newKernelNet(cfg, map[netip.Addr]bool{svc.Addr(): true}, slog.New(slog.DiscardHandler))
	if k.inKernel(svc.Addr()) {
		t.Errorf("%v backs a virtual_server but would go to the kernel", svc)
	}
	for addr, dev := range map[netip.Addr]string{gw.Addr(): "eth0", other.Addr(): "eth1"} {
		if !k.inKernel(addr) || k.dev[addr] != dev {
			t.Errorf("%v: in kernel %v on %q, want on %s", addr, k.inKernel(addr), k.dev[addr], dev)
		}
	}
	want := &kernelInstance{
		addrs:  []kernelAddr{{IPAddress: config.IPAddress{Prefix: gw, Label: "eth0:gw"}, dev: "eth0"}, {IPAddress: config.IPAddress{Prefix: other, Dev: "eth1"}, dev: "eth1"}},
		routes: []config.IPRoute{route},
	}
	if got := k.instances["VI_1"]; !reflect.DeepEqual(got, want) {
		t.Errorf("VI_1's kernel share\n got %+v\nwant %+v", got, want)
	}

	d := &Director{cfg: cfg, kernel: k}
	d.releaseVRRPAddrs()
	own := &vipOwner{d: d}
	own.Claim(svc.Addr())
	own.Claim(gw.Addr())
	if got := d.vips.List(); len(got) != 1 || got[0] != svc.Addr().As4() {
		t.Errorf("the responder answers for %v, want only %v", got, svc.Addr())
	}
}
