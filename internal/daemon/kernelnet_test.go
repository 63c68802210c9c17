package daemon

import (
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
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
		VIPs:         []netip.Prefix{svc, gw},
		ExcludedVIPs: []netip.Prefix{other},
		Addresses: []config.VirtualAddress{{Prefix: svc}, {Prefix: gw, Label: "eth0:gw"},
			{Prefix: other, Dev: "eth1", Excluded: true}},
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
		addrs: []kernelAddr{{VirtualAddress: config.VirtualAddress{Prefix: gw, Label: "eth0:gw"}, dev: "eth0"},
			{VirtualAddress: config.VirtualAddress{Prefix: other, Dev: "eth1", Excluded: true}, dev: "eth1"}},
		routes: []config.IPRoute{route},
	}
	if got := k.instances["VI_1"]; !reflect.DeepEqual(got, want) {
		t.Errorf("VI_1's kernel share\n got %+v\nwant %+v", got, want)
	}

	d := &Daemon{cfg: cfg, kernel: k}
	d.releaseVRRPAddrs()
	own := &vipOwner{d: d}
	own.Claim(svc.Addr())
	own.Claim(gw.Addr())
	if got := d.vips.List(); len(got) != 1 || got[0] != svc.Addr().As4() {
		t.Errorf("the responder answers for %v, want only %v", got, svc.Addr())
	}
}

// TestVRRPOnlyLoad: a file without a virtual_server loads as a VRRP-only
// director (no interfaces resolved, nothing for preflight), every VIP is a
// kernel address, and a reload that brings a virtual_server is refused
// with a hint to restart, keeping the running configuration.
func TestVRRPOnlyLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	only := "vrrp_instance VI_1 {\n interface eth9\n virtual_router_id 5\n virtual_ipaddress {\n 10.0.2.1/24 label eth9:gw\n }\n}\n"
	if err := os.WriteFile(path, []byte(only), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Load(Options{ConfigPath: path})
	if err != nil {
		t.Fatalf("a VRRP-only file does not load: %v", err)
	}
	if c, r := d.Interfaces(); c != "" || r != "" || len(d.Findings()) != 0 || d.RealsAddr().IsValid() {
		t.Errorf("VRRP-only director has interfaces %q/%q, findings %v, reals address %v", c, r, d.Findings(), d.RealsAddr())
	}
	if !d.kernel.inKernel(netip.MustParseAddr("10.0.2.1")) {
		t.Error("the VIP of a VRRP-only file is not a kernel address")
	}
	vs := "virtual_server 10.0.1.100 80 {\n lb_kind DR\n real_server 10.0.2.11 80 {\n }\n}\n"
	if err := os.WriteFile(path, []byte(only+vs), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(); err == nil || !strings.Contains(err.Error(), "restart ulvs") {
		t.Errorf("reload bringing a virtual_server: %v, want a refusal saying to restart", err)
	}
	if n := len(d.Table().Services()); n != 0 {
		t.Errorf("the refused reload left %d services in the table", n)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(Options{ConfigPath: path}); err == nil || !strings.Contains(err.Error(), "no vrrp_instance") {
		t.Errorf("an empty file: %v, want an error naming both missing kinds of block", err)
	}
}
