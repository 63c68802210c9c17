package e2e

// VRRP without virtual servers: a keepalived.conf with only a
// vrrp_instance (and static_routes) runs under `ulvs run`, and the
// instance's address, which backs no virtual_server, goes to the master's
// kernel with its label, as keepalived puts it there: the host's own
// services (here a TCP listener on 0.0.0.0) answer on it, and it moves on
// failover. virtual_routes and virtual_rules follow the master too.

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ulvs/ulvs/internal/netns"
)

const (
	gwVIP  = "10.9.0.60"
	gwPort = 7100
)

// vrrpOnlyConf is a VRRP-only file: the address with keepalived's
// options, a virtual route and rule, and a static route.
func vrrpOnlyConf(prio int, withNet bool) string {
	var b strings.Builder
	if withNet {
		b.WriteString("static_routes {\n  10.97.0.0/16 dev eth0\n}\n")
	}
	fmt.Fprintf(&b, `vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id %d
  priority %d
  advert_int 0.1
  version 3
  garp_master_delay 1
  virtual_ipaddress {
    %s/24 dev eth0 label eth0:gw
  }
`, labVRID, prio, gwVIP)
	if withNet {
		b.WriteString("  virtual_routes {\n    10.99.0.0/16 via 10.9.0.11 metric 7\n  }\n")
		b.WriteString("  virtual_rules {\n    from " + gwVIP + " table 100 priority 1000\n  }\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func (l *vrrpLab) startVRRPOnly(name, kind, conf string) *director {
	l.t.Helper()
	return l.startFile(name, kind, name+"-"+kind+"-only.conf", conf)
}

// kernelState is what `ip` shows of the master's share on a director.
func (l *vrrpLab) kernelState(name string) string {
	var b strings.Builder
	for _, args := range [][]string{{"-4", "-o", "addr", "show", "dev", "eth0"}, {"-4", "route", "show"}, {"-4", "rule", "show"}} {
		out, err := exec.Command("ip", append([]string{"-n", l.dirs[name].Name}, args...)...).CombinedOutput()
		if err != nil {
			l.t.Fatalf("ip %v on %s: %v: %s", args, name, err, out)
		}
		b.Write(out)
	}
	return b.String()
}

const (
	gwAddrLine = "inet " + gwVIP + "/24 scope global secondary eth0:gw"
	gwRoute    = "10.99.0.0/16 via 10.9.0.11 dev eth0 proto keepalived metric 7"
	gwRule     = "1000:\tfrom " + gwVIP + " lookup 100 proto keepalived"
	gwStatic   = "10.97.0.0/16 dev eth0 proto keepalived \n"
)

// holds reports whether name's kernel has the address (and, withNet, the
// virtual route and rule), and fails the test on half a share.
func (l *vrrpLab) holds(name string, withNet bool) bool {
	s := l.kernelState(name)
	addr := strings.Contains(s, gwAddrLine)
	if withNet {
		route, rule := strings.Contains(s, gwRoute), strings.Contains(s, gwRule)
		if route != addr || rule != addr {
			// A transition in progress: look once more before judging.
			time.Sleep(50 * time.Millisecond)
			s = l.kernelState(name)
			addr, route, rule = strings.Contains(s, gwAddrLine), strings.Contains(s, gwRoute), strings.Contains(s, gwRule)
			if route != addr || rule != addr {
				l.t.Errorf("%s holds address %v, virtual route %v, virtual rule %v; want all or none:\n%s", name, addr, route, rule, s)
			}
		}
	}
	return addr
}

// waitHolder waits until exactly want's kernel holds the address.
func (l *vrrpLab) waitHolder(within time.Duration, want string, withNet bool, others ...string) {
	l.t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok := l.holds(want, withNet)
		for _, o := range others {
			ok = ok && !l.holds(o, withNet)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			for _, n := range append([]string{want}, others...) {
				l.t.Logf("%s:\n%s", n, l.kernelState(n))
			}
			l.t.Fatalf("%s does not hold %s alone after %v", want, gwVIP, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hasStatic checks that the directors' kernels have the static route.
func (l *vrrpLab) hasStatic(names ...string) {
	l.t.Helper()
	for _, n := range names {
		if s := l.kernelState(n); !strings.Contains(s, gwStatic) {
			l.t.Errorf("%s lacks the static route %q:\n%s", n, gwStatic, s)
		}
	}
}

// garpReached checks that the new holder's gratuitous ARPs moved the
// client's existing neighbour entry for the address to its MAC, before the
// client sends anything (a stale entry would otherwise take seconds of
// neighbour probing to fix).
func (l *vrrpLab) garpReached(name string) {
	l.t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for l.clientNeighOf(gwVIP) != l.mac[name] {
		if time.Now().After(deadline) {
			l.t.Errorf("the client's neighbour entry for %s is %v, want %s's %v after its gratuitous ARPs",
				gwVIP, l.clientNeighOf(gwVIP), name, l.mac[name])
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hostListeners runs a TCP listener on 0.0.0.0 in each director's
// namespace (a host service, not behind ulvs) that writes its name.
func (l *vrrpLab) hostListeners() {
	l.t.Helper()
	for name, ns := range l.dirs {
		var ln net.Listener
		if err := ns.Do(func() error {
			var err error
			ln, err = net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", gwPort))
			return err
		}); err != nil {
			l.t.Fatal(err)
		}
		l.t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				fmt.Fprintln(c, name)
				c.Close()
			}
		}()
	}
}

// whoAnswers connects from the client to the address and returns the
// name the listener wrote, retrying (bounded) while the client's ARP cache
// catches up with the gratuitous ARPs.
func (l *vrrpLab) whoAnswers(within time.Duration) string {
	l.t.Helper()
	deadline := time.Now().Add(within)
	var lastErr error
	for time.Now().Before(deadline) {
		var name string
		lastErr = l.cl.Do(func() error {
			c, err := net.DialTimeout("tcp4", fmt.Sprintf("%s:%d", gwVIP, gwPort), 500*time.Millisecond)
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(time.Second))
			name, err = bufio.NewReader(c).ReadString('\n')
			return err
		})
		if lastErr == nil {
			return strings.TrimSpace(name)
		}
		time.Sleep(50 * time.Millisecond)
	}
	l.t.Fatalf("no TCP answer from %s:%d within %v: %v", gwVIP, gwPort, within, lastErr)
	return ""
}

// TestVRRPOnlyKernelAddress: two `ulvs run` with a VRRP-only file. The
// master's kernel holds the address (with its label and brd), the
// virtual route and rule; the client reaches a host service on it; a
// graceful stop moves all of it to the backup, which the client then
// reaches; the returning higher priority takes it back (preempt) and the
// backup's kernel lets go. After kill -9 the address stays in the dead
// master's kernel until the next ulvs there starts. static_routes stand
// while each ulvs runs and go when it stops.
func TestVRRPOnlyKernelAddress(t *testing.T) {
	if !netns.IsRoot() {
		t.Skip("needs root for network namespaces")
	}
	l := newVRRPLab(t)
	l.hostListeners()
	d1 := l.startVRRPOnly("d1", "ulvs", vrrpOnlyConf(150, true))
	d2 := l.startVRRPOnly("d2", "ulvs", vrrpOnlyConf(100, true))
	l.waitHolder(5*time.Second, "d1", true, "d2")
	l.hasStatic("d1", "d2")
	if got := l.whoAnswers(3 * time.Second); got != "d1" {
		t.Fatalf("the master's address is answered by %s, want d1", got)
	}
	if err := l.cl.Ping(netip.MustParseAddr(gwVIP), 2*time.Second); err != nil {
		t.Errorf("ping %s: %v", gwVIP, err)
	}
	if st := vrrpState(t, l, "d1"); st != "MASTER" {
		t.Errorf("ulvs list on the VRRP-only d1 says %q, want MASTER", st)
	}
	if st := vrrpState(t, l, "d2"); st != "BACKUP" {
		t.Errorf("ulvs list on the VRRP-only d2 says %q, want BACKUP", st)
	}
	if !strings.Contains(d1.proc.Output(), "VRRP only") {
		t.Errorf("d1 does not say it runs VRRP only:\n%s", tail(d1.proc.Output(), 2000))
	}

	d1.stop()
	if s := l.kernelState("d1"); strings.Contains(s, gwVIP) || strings.Contains(s, "10.99.0.0") || strings.Contains(s, "10.97.0.0") {
		t.Errorf("a stopped ulvs left its share in the kernel:\n%s", s)
	}
	l.waitHolder(3*time.Second, "d2", true, "d1")
	l.garpReached("d2")
	if got := l.whoAnswers(3 * time.Second); got != "d2" {
		t.Fatalf("after the failover the address is answered by %s, want d2", got)
	}

	d1 = l.startVRRPOnly("d1", "ulvs", vrrpOnlyConf(150, true))
	l.waitHolder(5*time.Second, "d1", true, "d2")
	l.garpReached("d1")
	if got := l.whoAnswers(3 * time.Second); got != "d1" {
		t.Fatalf("after preemption the address is answered by %s, want d1", got)
	}

	// kill -9 leaves the address in d1's kernel, as a killed keepalived
	// does; the next ulvs on d1 (lower priority now, so BACKUP) removes it
	// at start.
	d1.kill()
	deadline := time.Now().Add(3 * time.Second)
	for !l.holds("d2", true) {
		if time.Now().After(deadline) {
			t.Fatalf("d2 did not take over after kill -9 of d1:\n%s", l.kernelState("d2"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !l.holds("d1", true) {
		t.Errorf("d1's kernel lost the address on kill -9; it stays there with keepalived, and the restart below is meant to remove it")
	}
	l.startVRRPOnly("d1", "ulvs", vrrpOnlyConf(50, true))
	l.waitHolder(3*time.Second, "d2", true, "d1")

	d2.stop()
	if s := l.kernelState("d2"); strings.Contains(s, "10.97.0.0") {
		t.Errorf("static route left after ulvs stopped:\n%s", s)
	}
}

// TestVRRPOnlyKeepalivedPeer: the same file, ulvs against keepalived. The
// address, virtual route and rule move between the two kernels both ways,
// the client reaches whichever host holds the address, and what ulvs
// installs reads in `ip` exactly as what keepalived installs.
func TestVRRPOnlyKeepalivedPeer(t *testing.T) {
	if !netns.IsRoot() {
		t.Skip("needs root for network namespaces")
	}
	l := newVRRPLab(t)
	l.hostListeners()
	u := l.startVRRPOnly("d1", "ulvs", vrrpOnlyConf(150, true))
	ka := l.startVRRPOnly("d2", "keepalived", "global_defs {\n  router_id d2\n}\n"+vrrpOnlyConf(100, true))
	l.waitHolder(6*time.Second, "d1", true, "d2")
	// The same lines in both kernels: ulvs installs what keepalived does.
	l.hasStatic("d1", "d2")
	if got := l.whoAnswers(3 * time.Second); got != "d1" {
		t.Fatalf("ulvs master: answered by %s, want d1", got)
	}
	u.stop()
	l.waitHolder(5*time.Second, "d2", true, "d1")
	l.garpReached("d2")
	if got := l.whoAnswers(3 * time.Second); got != "d2" {
		t.Fatalf("keepalived master: answered by %s, want d2", got)
	}
	l.startVRRPOnly("d1", "ulvs", vrrpOnlyConf(150, true))
	l.waitHolder(6*time.Second, "d1", true, "d2")
	l.garpReached("d1")
	if got := l.whoAnswers(3 * time.Second); got != "d1" {
		t.Fatalf("ulvs back as master: answered by %s, want d1", got)
	}
	if !ka.alive() {
		t.Errorf("keepalived exited:\n%s", tail(ka.proc.Output(), 2000))
	}
}

// TestVRRPMixedAddresses: an instance with a virtual_server's address and
// a gateway address (virtual_ipaddress_excluded) on ulvs directors that
// forward. The service address stays off the kernel and is answered by
// ulvs's ARP responder; the gateway address goes to the master's kernel,
// where a host service answers on it; both move on failover.
func TestVRRPMixedAddresses(t *testing.T) {
	if !netns.IsRoot() {
		t.Skip("needs root for network namespaces")
	}
	l := newVRRPLab(t)
	l.hostListeners()
	in := instance{version: 3, advert: "0.1",
		extra: "  virtual_ipaddress_excluded {\n    " + gwVIP + "/24 label eth0:gw\n  }\n"}
	hi, lo := in, in
	hi.prio, lo.prio = 150, 100
	d1 := l.start("d1", "ulvs", hi)
	l.start("d2", "ulvs", lo)
	l.waitHolder(6*time.Second, "d1", false, "d2")
	for _, n := range []string{"d1", "d2"} {
		if s := l.kernelState(n); strings.Contains(s, labVIP) {
			t.Errorf("the virtual_server's address %s is in %s's kernel:\n%s", labVIP, n, s)
		}
	}
	check := func(want string) {
		t.Helper()
		if got := l.whoAnswers(3 * time.Second); got != want {
			t.Errorf("the gateway address is answered by %s, want %s", got, want)
		}
		deadline := time.Now().Add(3 * time.Second)
		for {
			got := l.answerers()
			if len(got) == 1 && got[l.mac[want]] {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("ARP for the service address %s answered by %v, want %s (%v) alone", labVIP, got, want, l.mac[want])
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	check("d1")
	d1.stop()
	l.waitHolder(3*time.Second, "d2", false, "d1")
	check("d2")
}
