package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/internal/netns"
	"github.com/ulvs/ulvs/internal/netns/netnstest"
	"github.com/ulvs/ulvs/internal/status"
)

// bgpConfig is a DR service on the VIP whose two real servers pass their
// MISC_CHECK while upFile exists, and a bgp block peering with FRR in
// the client namespace (the upstream router of this topology).
func bgpConfig(tp *topo, upFile string) string {
	var reals string
	for i := range 2 {
		reals += fmt.Sprintf("    real_server %v %d {\n        weight 1\n        MISC_CHECK {\n"+
			"            misc_path \"/usr/bin/test -e %s\"\n            misc_timeout 1\n        }\n    }\n",
			netns.RealAddr(i).Addr(), portHTTP, upFile)
	}
	return fmt.Sprintf(`global_defs {
    router_id e2e-bgp
}

ulvs {
    bgp {
        local_as 65001
        router_id 10.0.1.1
        neighbor 10.0.1.10 {
            remote_as 65000
            hold_time 3
            password e2e-md5
        }
        drain_time 3
    }
}

virtual_server %v %d {
    delay_loop 1
    lb_algo mh
    lb_kind DR
    protocol TCP
%s}
`, tp.lvs.VIP, portHTTP, reals)
}

// TestBGPRouteHealthInjection runs the real binary with a bgp block
// against FRR (bgpd + zebra in the client namespace): the VIP's /32
// appears in the router's kernel table via the director, is withdrawn
// when every real server fails its check and comes back when they
// recover, follows `ulvs admin drain`/`undrain`, and on SIGTERM is
// withdrawn while the director still runs out drain_time.
func TestBGPRouteHealthInjection(t *testing.T) {
	if !netns.IsRoot() {
		t.Skip("end-to-end tests build network namespaces and need root")
	}
	env := netnstest.ForTest(t)
	lvs, err := netns.NewLVS(env, netns.Options{Reals: 2})
	if err != nil {
		t.Fatalf("topology: %v", err)
	}
	if err := lvs.ConfigureReals(balancer.DR); err != nil {
		t.Fatal(err)
	}
	for i, r := range lvs.Reals {
		startServers(t, r.NS, fmt.Sprintf("rs%d", i+1), lvs.VIP)
	}
	frr, err := lvs.Client.NS.StartFRR(`frr defaults datacenter
router bgp 65000
 bgp router-id 10.0.1.10
 no bgp ebgp-requires-policy
 neighbor 10.0.1.1 remote-as 65001
 neighbor 10.0.1.1 password e2e-md5
 neighbor 10.0.1.1 timers 1 3
`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(frr.Output())
		}
		frr.Close()
	})
	dir := t.TempDir()
	upFile := filepath.Join(dir, "up")
	if err := os.WriteFile(upFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tp := &topo{t: t, lvs: lvs, conf: filepath.Join(dir, "keepalived.conf")}
	if err := os.WriteFile(tp.conf, []byte(bgpConfig(tp, upFile)), 0o644); err != nil {
		t.Fatal(err)
	}
	tp.start()
	vip := lvs.VIP.String() + "/32"

	// routeVia returns the gateways of the VIP's BGP route in the router.
	routeVia := func() []string {
		out, err := lvs.Client.NS.Exec(context.Background(), "ip", "-j", "route", "show", vip, "proto", "bgp")
		if err != nil {
			t.Fatalf("ip route: %v: %s", err, out)
		}
		var rs []struct {
			Gateway string `json:"gateway"`
		}
		if err := json.Unmarshal(out, &rs); err != nil {
			t.Fatalf("ip -j route: %v: %s", err, out)
		}
		var gws []string
		for _, r := range rs {
			gws = append(gws, r.Gateway)
		}
		return gws
	}
	bgpStatus := func() *status.BGP {
		out, err := exec.Command(ulvsBinary, "list", "--json", "--admin-socket", tp.adminSock).Output()
		if err != nil {
			t.Fatalf("ulvs list --json: %v", err)
		}
		var snap status.Snapshot
		if err := json.Unmarshal(out, &snap); err != nil {
			t.Fatalf("list --json: %v: %s", err, out)
		}
		if snap.BGP == nil {
			t.Fatalf("list --json has no bgp section:\n%s", out)
		}
		return snap.BGP
	}
	// wait waits up to 20 s for the route's gateways and the prefix's
	// reason in the director's status.
	wait := func(step string, reason string, via ...string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			got := routeVia()
			st := bgpStatus()
			ok := slices.Equal(got, via) && len(st.Prefixes) == 1 && st.Prefixes[0].Reason == reason
			if ok {
				return
			}
			if time.Now().After(deadline) {
				summary, _ := frr.VTY(context.Background(), "show bgp summary", "show ip bgp")
				t.Fatalf("%s: route via %v and status %+v after 20 s; want via %v, reason %s\n%s\n%s",
					step, got, st, via, reason, summary, tp.proc.Output())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	wait("start", "healthy", "10.0.1.1")
	st := bgpStatus()
	if len(st.Neighbors) != 1 || st.Neighbors[0].State != "established" || st.Neighbors[0].Up.IsZero() ||
		!st.Prefixes[0].Announced {
		t.Errorf("status after start: %+v", st)
	}

	if err := os.Remove(upFile); err != nil { // every real server fails its check
		t.Fatal(err)
	}
	wait("all real servers down", "down")
	if err := os.WriteFile(upFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	wait("real servers back", "healthy", "10.0.1.1")

	// SIGHUP with a second neighbour: the first session stays up (same
	// uptime), the new one is tried; then the reverse.
	reload := func(extra string) {
		t.Helper()
		conf := strings.Replace(bgpConfig(tp, upFile), "        drain_time 3\n", extra+"        drain_time 3\n", 1)
		if err := os.WriteFile(tp.conf, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(tp.proc.Pid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	upBefore := bgpStatus().Neighbors[0].Up
	reload("        neighbor 10.0.1.99 {\n            remote_as 65009\n        }\n")
	for deadline := time.Now().Add(10 * time.Second); len(bgpStatus().Neighbors) != 2; {
		if time.Now().After(deadline) {
			t.Fatalf("the reload did not add the second neighbour: %+v\n%s", bgpStatus(), tp.proc.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	reload("")
	for deadline := time.Now().Add(10 * time.Second); len(bgpStatus().Neighbors) != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("the reload did not remove the second neighbour: %+v", bgpStatus())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := bgpStatus().Neighbors[0]; n.State != "established" || !n.Up.Equal(upBefore) {
		t.Errorf("after two reloads the unchanged session is %s since %v; want established since %v", n.State, n.Up, upBefore)
	}
	wait("after reloads", "healthy", "10.0.1.1")

	admin := func(verb string) {
		if out, err := exec.Command(ulvsBinary, "admin", verb, "--admin-socket", tp.adminSock).CombinedOutput(); err != nil {
			t.Fatalf("ulvs admin %s: %v: %s", verb, err, out)
		}
	}
	admin("drain")
	wait("admin drain", "drained")
	if _, err := tp.httpGet(); err != nil {
		t.Errorf("a drained director must keep forwarding: %v", err)
	}
	admin("undrain")
	wait("admin undrain", "healthy", "10.0.1.1")

	// SIGTERM: the route goes while the director still runs drain_time.
	sent := time.Now()
	if err := syscall.Kill(tp.proc.Pid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(routeVia()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("route still there 10 s after SIGTERM:\n%s", tp.proc.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	withdrawn := time.Since(sent)
	select {
	case <-tp.proc.Done():
		t.Fatalf("the director exited %v after SIGTERM, before drain_time (3 s) ran out", time.Since(sent))
	default:
	}
	if _, err := tp.httpGet(); err != nil {
		t.Errorf("the director must forward during drain_time: %v", err)
	}
	select {
	case <-tp.proc.Done():
	case <-time.After(15 * time.Second):
		t.Fatalf("the director still runs 15 s after SIGTERM:\n%s", tp.proc.Output())
	}
	t.Logf("SIGTERM: route withdrawn from the router after %v, director exited after %v (drain_time 3 s)",
		withdrawn.Round(time.Millisecond), time.Since(sent).Round(time.Millisecond))
}
