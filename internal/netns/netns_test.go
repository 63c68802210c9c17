package netns_test

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/internal/netns"
	"github.com/ulvs/ulvs/internal/netns/netnstest"
)

const pingTimeout = time.Second

func TestLVSTopology(t *testing.T) {
	env := netnstest.ForTest(t)
	l, err := netns.NewLVS(env, netns.Options{Reals: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Reals) != 2 || l.VIP != netns.DefaultVIP {
		t.Fatalf("got %d reals, VIP %v", len(l.Reals), l.VIP)
	}
	for _, ifc := range []netns.Iface{l.Client.Dev, l.Front, l.Back, l.Reals[0].Dev, l.Reals[1].Dev} {
		if len(ifc.MAC) != 6 || ifc.Index == 0 || !ifc.Addr.IsValid() {
			t.Errorf("incomplete interface %+v", ifc)
		}
	}

	legs := []struct {
		name string
		from *netns.NS
		to   netip.Addr
	}{
		{"client→director front", l.Client.NS, l.Front.Addr.Addr()},
		{"director→client", l.Director, l.Client.Dev.Addr.Addr()},
		{"director→real0", l.Director, l.Reals[0].Dev.Addr.Addr()},
		{"director→real1", l.Director, l.Reals[1].Dev.Addr.Addr()},
		{"real1→director back", l.Reals[1].NS, l.Back.Addr.Addr()},
		{"real0→real1 (same L2)", l.Reals[0].NS, l.Reals[1].Dev.Addr.Addr()},
		{"client→gateway", l.Client.NS, l.GatewayFront.Addr.Addr()},
	}
	for _, leg := range legs {
		if err := leg.from.Ping(leg.to, pingTimeout); err != nil {
			t.Errorf("%s: %v", leg.name, err)
		}
	}

	// The director must not forward and must not own the VIP.
	if v, err := l.Director.ReadSysctl("net.ipv4.ip_forward"); err != nil || v != "0" {
		t.Errorf("director ip_forward = %q, %v; want 0", v, err)
	}
	out, err := l.Director.Exec(context.Background(), "ip", "-4", "addr")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), l.VIP.String()+"/") {
		t.Errorf("director owns the VIP:\n%s", out)
	}

	// NAT: a real server routes via the director, which does not forward,
	// so the client is unreachable from it.
	if err := l.ConfigureReals(balancer.NAT); err != nil {
		t.Fatal(err)
	}
	if err := l.Reals[0].NS.Ping(l.Client.Dev.Addr.Addr(), pingTimeout); err == nil {
		t.Error("NAT: real0 reached the client: the director forwards IP")
	}

	// DR: the VIP sits on lo, ARP for it is suppressed, replies go via the
	// gateway and reach the client.
	if err := l.ConfigureReals(balancer.DR); err != nil {
		t.Fatal(err)
	}
	for i, r := range l.Reals {
		out, err := r.NS.Exec(context.Background(), "ip", "-4", "addr", "show", "dev", "lo")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), l.VIP.String()+"/32") {
			t.Errorf("DR: real%d has no VIP on lo:\n%s", i, out)
		}
		for key, want := range map[string]string{
			"net.ipv4.conf.all.arp_ignore":   "1",
			"net.ipv4.conf.all.arp_announce": "2",
		} {
			if v, err := r.NS.ReadSysctl(key); err != nil || v != want {
				t.Errorf("DR: real%d %s = %q, %v; want %s", i, key, v, err, want)
			}
		}
	}
	if err := l.Reals[0].NS.Ping(l.Client.Dev.Addr.Addr(), pingTimeout); err != nil {
		t.Errorf("DR: real0 cannot reach the client through the gateway: %v", err)
	}
	// The VIP answers on the real itself (it is local), not across the LAN.
	if err := l.Reals[0].NS.Ping(l.VIP, pingTimeout); err != nil {
		t.Errorf("DR: real0 does not own the VIP locally: %v", err)
	}

	// Switching back to NAT removes the VIP.
	if err := l.ConfigureReals(balancer.NAT); err != nil {
		t.Fatal(err)
	}
	if err := l.Reals[1].NS.Ping(l.VIP, 300*time.Millisecond); err == nil {
		t.Error("NAT again: real1 still owns the VIP")
	}
}

func TestTeardownLeavesNothing(t *testing.T) {
	if !netns.IsRoot() {
		t.Skip("netns: skipping, this test builds network namespaces and needs root")
	}
	env, err := netns.NewEnv(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := netns.NewLVS(env, netns.Options{Reals: 1}); err != nil {
		env.Close()
		t.Fatal(err)
	}
	p, err := env.Namespaces()[0].Start("sleep", "60")
	if err != nil {
		env.Close()
		t.Fatal(err)
	}
	if n := countNamespaces(t, env.Prefix()); n != 5 {
		t.Errorf("%d namespaces before teardown, want 5", n)
	}
	if err := env.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	default:
		t.Error("process still running after Close")
	}
	if err := env.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if n := countNamespaces(t, env.Prefix()); n != 0 {
		t.Errorf("%d namespaces left after teardown", n)
	}
	if _, err := env.Add("late"); err == nil {
		t.Error("Add after Close succeeded")
	}
}

func countNamespaces(t *testing.T, prefix string) int {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, prefix+"-") {
			n++
		}
	}
	return n
}

func TestDoSwitchesAndRestores(t *testing.T) {
	env := netnstest.ForTest(t)
	a, err := env.Add("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := env.Add("b")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Veth(a, "va", b, "vb"); err != nil {
		t.Fatal(err)
	}
	if err := a.Do(func() error {
		_, err := net.InterfaceByName("va")
		return err
	}); err != nil {
		t.Errorf("inside a: %v", err)
	}
	if _, err := b.Interface("va"); err == nil {
		t.Error("b sees a's interface")
	}
	// Many switches on many threads: none may leak the namespace.
	for range 50 {
		if err := a.Do(func() error { return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := net.InterfaceByName("va"); err == nil {
			t.Fatal("the test's own namespace sees va: Do did not restore")
		}
	}
}

func TestProcessAndSysctlAndOffload(t *testing.T) {
	env := netnstest.ForTest(t)
	a, err := env.Add("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := env.Add("b")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Veth(a, "va", b, "vb"); err != nil {
		t.Fatal(err)
	}
	if err := a.AddrAdd("va", "10.0.77.1/24"); err != nil {
		t.Fatal(err)
	}
	p, err := a.Start("ip", "-4", "addr")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("ip addr did not finish")
	}
	if !strings.Contains(p.Output(), "10.0.77.1/24") {
		t.Errorf("process did not run inside the namespace:\n%s", p.Output())
	}

	for _, v := range []string{"1", "0"} {
		if err := b.Sysctl("net.ipv4.conf.vb.rp_filter", v); err != nil {
			t.Fatal(err)
		}
		if got, err := b.ReadSysctl("net.ipv4.conf.vb.rp_filter"); err != nil || got != v {
			t.Errorf("rp_filter = %q, %v; want %s", got, err, v)
		}
	}

	if _, err := exec.LookPath("ethtool"); err != nil {
		t.Skip("ethtool missing; the offload toggle is untested (apt-get install ethtool)")
	}
	for _, on := range []bool{false, true} {
		if err := a.Offload("va", on, "tx", "rx"); err != nil {
			t.Fatal(err)
		}
		out, err := a.Exec(context.Background(), "ethtool", "-k", "va")
		if err != nil {
			t.Fatal(err)
		}
		want := "tx-checksumming: off"
		if on {
			want = "tx-checksumming: on"
		}
		if !strings.Contains(string(out), want) {
			t.Errorf("offload on=%v: want %q in\n%s", on, want, out)
		}
	}
}
