package hostnet

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ulvs/ulvs/internal/config"
)

// TestKernelAddress adds an address with keepalived's options, checks
// what `ip addr` shows and that the other namespace reaches it, then
// removes it; adding and removing twice are no errors.
func TestKernelAddress(t *testing.T) {
	a, b := pair(t)
	vip := config.VirtualAddress{Prefix: netip.MustParsePrefix("10.0.9.50/24"), Label: "a0:vip",
		Broadcast: netip.MustParseAddr("10.0.9.255")}
	for range 2 {
		if err := a.Do(func() error { return AddAddress(vip, "a0") }); err != nil {
			t.Fatal(err)
		}
	}
	out, err := a.Exec(context.Background(), "ip", "-4", "-o", "addr", "show", "dev", "a0")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"inet 10.0.9.50/24 brd 10.0.9.255 scope global secondary a0:vip"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("ip addr lacks %q:\n%s", want, out)
		}
	}
	if err := b.Ping(vip.Prefix.Addr(), 2*time.Second); err != nil {
		t.Errorf("the address is not answered once added: %v", err)
	}
	for range 2 {
		if err := a.Do(func() error { return DelAddress(vip, "a0") }); err != nil {
			t.Fatal(err)
		}
	}
	out, _ = a.Exec(context.Background(), "ip", "-4", "-o", "addr", "show", "dev", "a0")
	if strings.Contains(string(out), "10.0.9.50") {
		t.Errorf("the address is still there after DelAddress:\n%s", out)
	}
	if err := b.Ping(vip.Prefix.Addr(), 300*time.Millisecond); err == nil {
		t.Error("the address is still answered after DelAddress")
	}
	// Without brd there is none, as with `ip addr add` and keepalived.
	host := config.VirtualAddress{Prefix: netip.MustParsePrefix("10.0.10.51/24"), Scope: "host", Flags: []string{"noprefixroute"}}
	if err := a.Do(func() error { return AddAddress(host, "a0") }); err != nil {
		t.Fatal(err)
	}
	out, _ = a.Exec(context.Background(), "ip", "-4", "-o", "addr", "show", "dev", "a0")
	if !strings.Contains(string(out), "inet 10.0.10.51/24 scope host noprefixroute a0") {
		t.Errorf("scope host not applied:\n%s", out)
	}
	zero := uint32(0)
	lft := config.VirtualAddress{Prefix: netip.MustParsePrefix("10.0.11.52/24"), PreferredLft: &zero}
	if err := a.Do(func() error { return AddAddress(lft, "a0") }); err != nil {
		t.Fatal(err)
	}
	out, _ = a.Exec(context.Background(), "ip", "-4", "-o", "addr", "show", "dev", "a0")
	// preferred_lft 0 deprecates the address (keepalived's way of keeping
	// it from being picked as a source address).
	if !strings.Contains(string(out), "10.0.11.52/24 scope global deprecated a0") {
		t.Errorf("preferred_lft 0 did not deprecate the address:\n%s", out)
	}
	if err := a.Do(func() error { return AddAddress(vip, "nonexistent0") }); err == nil || !strings.Contains(err.Error(), "ip link") {
		t.Errorf("a missing interface gives %v, want an error naming `ip link`", err)
	}
}

// TestKernelRoutesAndRules installs routes and rules of every form ulvs
// applies and checks them in `ip route` / `ip rule`, then removes them.
func TestKernelRoutesAndRules(t *testing.T) {
	a, _ := pair(t)
	routes := []config.IPRoute{
		{Dst: netip.MustParsePrefix("10.77.0.0/16"), Via: netip.MustParseAddr("10.0.9.2"), Table: 100, Metric: 5},
		{Dst: netip.MustParsePrefix("10.78.0.0/16"), Dev: "a0", Src: netip.MustParseAddr("10.0.9.1")},
		{Dst: netip.MustParsePrefix("10.79.0.0/16"), Type: "blackhole"},
	}
	rules := []config.IPRule{
		{From: netip.MustParsePrefix("10.0.9.50/32"), Table: 100, Priority: 1000, SuppressPrefix: -1},
		{To: netip.MustParsePrefix("10.80.0.0/16"), HasMark: true, Mark: 0x50, Mask: 0xff, Table: 100, Priority: 1001, SuppressPrefix: -1},
		{IIF: "a0", Action: "blackhole", Priority: 1002, SuppressPrefix: -1},
	}
	show := func() string {
		var b strings.Builder
		for _, args := range [][]string{{"route", "show", "table", "all"}, {"rule", "show"}} {
			out, err := a.Exec(context.Background(), "ip", append([]string{"-4"}, args...)...)
			if err != nil {
				t.Fatal(err)
			}
			b.Write(out)
		}
		return b.String()
	}
	want := []string{
		"10.77.0.0/16 via 10.0.9.2 dev a0 table 100 proto keepalived metric 5",
		"10.78.0.0/16 dev a0 proto keepalived src 10.0.9.1",
		"blackhole 10.79.0.0/16 proto keepalived",
		"1000:\tfrom 10.0.9.50 lookup 100 proto keepalived",
		"1001:\tfrom all to 10.80.0.0/16 fwmark 0x50/0xff lookup 100 proto keepalived",
		"1002:\tfrom all iif a0 blackhole proto keepalived",
	}
	for range 2 {
		err := a.Do(func() error {
			for _, r := range routes {
				if err := AddRoute(r); err != nil {
					return err
				}
			}
			for _, r := range rules {
				if err := AddRule(r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	got := show()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
	if n := strings.Count(got, "1000:"); n != 1 {
		t.Errorf("rule 1000 is there %d times after adding twice, want once", n)
	}
	for range 2 {
		err := a.Do(func() error {
			for _, r := range rules {
				if err := DelRule(r); err != nil {
					return err
				}
			}
			for _, r := range routes {
				if err := DelRoute(r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	got = show()
	for _, w := range []string{"10.77.0.0", "10.78.0.0", "10.79.0.0", "1000:", "1001:", "1002:"} {
		if strings.Contains(got, w) {
			t.Errorf("%q still there after removal:\n%s", w, got)
		}
	}
}
