package daemon

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/internal/config"
)

// TestVIPOwnership: a service VIP under a vrrp_instance is answered only
// while the instance is MASTER, and a reload (publishVIPs) does not bring
// it back while the instance is BACKUP.
func TestVIPOwnership(t *testing.T) {
	managed, plain := netip.MustParseAddr("10.0.1.100"), netip.MustParseAddr("10.0.1.101")
	tab, err := balancer.NewTable(nil, []balancer.ServiceConfig{
		{Key: balancer.ServiceKey{Addr: managed, Port: 80, Proto: balancer.TCP}},
		{Key: balancer.ServiceKey{Addr: plain, Port: 80, Proto: balancer.TCP}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{cfg: &config.Config{VRRP: config.VRRP{Instances: []*config.VRRPInstance{
		{Name: "VI_1", VIPs: []netip.Prefix{netip.PrefixFrom(managed, 32)}},
	}}}}
	d.table.Store(tab)
	answered := func() []netip.Addr {
		var out []netip.Addr
		for _, a := range d.vips.List() {
			out = append(out, netip.AddrFrom4(a))
		}
		slices.SortFunc(out, netip.Addr.Compare)
		return out
	}
	check := func(step string, want ...netip.Addr) {
		t.Helper()
		if got := answered(); !slices.Equal(got, want) {
			t.Errorf("%s: answering ARP for %v, want %v", step, got, want)
		}
	}
	d.releaseVRRPAddrs()
	check("at start (BACKUP)", plain)
	d.publishVIPs()
	check("reload while BACKUP", plain)
	d.setVRRPHeld(managed.As4(), true)
	check("MASTER", managed, plain)
	d.publishVIPs()
	check("reload while MASTER", managed, plain)
	d.setVRRPHeld(managed.As4(), false)
	check("back to BACKUP", plain)
}
