package hostnet

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ulvs/ulvs/internal/netns"
	"github.com/ulvs/ulvs/internal/netns/netnstest"
)

// pair builds two namespaces joined by a veth, a0 10.0.9.1/24 in a (with a
// default route via 10.0.9.2) and b0 10.0.9.2/24 in b.
func pair(t *testing.T) (a, b *netns.NS) {
	t.Helper()
	a, b = netnstest.Pair(t, "a0", "10.0.9.1/24", "b0", "10.0.9.2/24")
	if err := a.RouteAdd("default", "10.0.9.2"); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func TestFactsInNamespace(t *testing.T) {
	a, _ := pair(t)
	err := a.Do(func() error {
		ifc, err := LookupInterface("a0")
		if err != nil {
			return err
		}
		if ifc.MTU != 1500 || ifc.MAC == [6]byte{} || ifc.FirstAddr() != netip.MustParseAddr("10.0.9.1") {
			t.Errorf("LookupInterface(a0) = %+v", ifc)
		}
		if !ifc.OnLink(netip.MustParseAddr("10.0.9.77")) || ifc.OnLink(netip.MustParseAddr("10.0.8.1")) {
			t.Error("OnLink wrong")
		}
		on, err := RouteTo(netip.MustParseAddr("10.0.9.2"))
		if err != nil || on.Iface != "a0" || on.Gateway.IsValid() || on.NextHop() != netip.MustParseAddr("10.0.9.2") {
			t.Errorf("RouteTo on-link = %+v, %v", on, err)
		}
		off, err := RouteTo(netip.MustParseAddr("10.0.77.5"))
		if err != nil || off.Gateway != netip.MustParseAddr("10.0.9.2") || off.NextHop() != off.Gateway {
			t.Errorf("RouteTo via gateway = %+v, %v", off, err)
		}
		gw, err := DefaultGateway("a0")
		if err != nil || gw != netip.MustParseAddr("10.0.9.2") {
			t.Errorf("DefaultGateway = %v, %v", gw, err)
		}
		if owner, err := AddrOwner(netip.MustParseAddr("10.0.9.1")); err != nil || owner != "a0" {
			t.Errorf("AddrOwner(own address) = %q, %v", owner, err)
		}
		if owner, _ := AddrOwner(netip.MustParseAddr("10.0.9.99")); owner != "" {
			t.Errorf("AddrOwner(foreign) = %q", owner)
		}
		if err := SetSysctl("net.ipv4.ip_forward", "1"); err != nil {
			return err
		}
		if v, err := Sysctl("net.ipv4.ip_forward"); err != nil || v != "1" {
			t.Errorf("Sysctl after SetSysctl = %q, %v", v, err)
		}
		if _, err := ReadOffloads("a0"); err != nil {
			t.Errorf("ReadOffloads: %v", err)
		}
		if _, err := LookupInterface("nonexistent0"); err == nil || !strings.Contains(err.Error(), "ip link") {
			t.Errorf("missing interface error does not say where to look: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestKernelDrop installs a rule that drops ICMP to a0's address at ingress
// and checks that pings stop, then that removing the table lets them
// through again.
func TestKernelDrop(t *testing.T) {
	a, b := pair(t)
	target := netip.MustParseAddr("10.0.9.1")
	if err := b.Ping(target, 2*time.Second); err != nil {
		t.Fatalf("ping before the rule: %v", err)
	}
	rules := []DropRule{{Iface: "a0", Match: "ip daddr 10.0.9.1 ip protocol icmp"}}
	if err := a.Do(func() error { return InstallKernelDrop("ulvstest", rules) }); err != nil {
		t.Fatal(err)
	}
	out, err := a.Exec(context.Background(), "nft", "list", "table", "netdev", "ulvstest")
	if err != nil || !strings.Contains(string(out), `device "a0"`) {
		t.Fatalf("nft list: %v\n%s", err, out)
	}
	if err := b.Ping(target, 500*time.Millisecond); err == nil {
		t.Error("ping got through the ingress drop rule")
	}
	// Installing again replaces, never duplicates.
	if err := a.Do(func() error { return InstallKernelDrop("ulvstest", rules) }); err != nil {
		t.Fatal(err)
	}
	if err := a.Do(func() error { return RemoveKernelDrop("ulvstest") }); err != nil {
		t.Fatal(err)
	}
	if err := b.Ping(target, 2*time.Second); err != nil {
		t.Errorf("ping after removing the rules: %v", err)
	}
	if err := a.Do(func() error { return RemoveKernelDrop("ulvstest") }); err != nil {
		t.Errorf("removing an absent table: %v", err)
	}
}

func TestKernelDropScript(t *testing.T) {
	got := KernelDropScript("ulvs", []DropRule{
		{Iface: "eth1", Match: "ip saddr 10.0.2.11 tcp sport 80"},
		{Iface: "eth0", Match: "ip daddr 10.0.1.100"},
	})
	want := `add table netdev ulvs
delete table netdev ulvs
table netdev ulvs {
	chain ingress0 {
		type filter hook ingress device "eth0" priority 0; policy accept;
		ip daddr 10.0.1.100 drop
	}
	chain ingress1 {
		type filter hook ingress device "eth1" priority 0; policy accept;
		ip saddr 10.0.2.11 tcp sport 80 drop
	}
}
`
	if got != want {
		t.Errorf("script:\n%s\nwant:\n%s", got, want)
	}
}
