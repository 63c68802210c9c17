package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/internal/admin"
	"github.com/ulvs/ulvs/internal/netns"
)

// TestBFDCheck runs `ulvs run` with a real server under BFD_CHECK whose
// BFD peer is FRR's bfdd in that real server's namespace. The server is
// in service once the session is Up (alpha: not before), is taken out
// within the detection time when bfdd is killed, and comes back when
// bfdd restarts; the other real server, unchecked, serves throughout.
func TestBFDCheck(t *testing.T) {
	if !netns.IsRoot() {
		t.Skip("end-to-end tests build network namespaces and need root")
	}
	if _, err := os.Stat(netns.BFDDPath); err != nil {
		t.Skip("FRR's bfdd is not installed (make deps installs the frr package)")
	}
	env := netns.ForTest(t)
	lvs, err := netns.NewLVS(env, netns.Options{Reals: 2})
	if err != nil {
		t.Fatalf("topology: %v", err)
	}
	if err := lvs.ConfigureReals(balancer.NAT); err != nil {
		t.Fatal(err)
	}
	for i, r := range lvs.Reals {
		startServers(t, r.NS, fmt.Sprintf("rs%d", i+1), lvs.Reals[i].Dev.Addr.Addr())
	}
	dir, rs0, rs1 := lvs.Back.Addr.Addr(), netns.RealAddr(0).Addr(), netns.RealAddr(1).Addr()
	// 100 ms both ways, multiplier 3: the director's detection time is
	// 3 x max(its min_rx 100, bfdd's transmit-interval 100) = 300 ms.
	const detect = 300 * time.Millisecond
	peer, err := lvs.Reals[0].NS.StartBFDD(fmt.Sprintf("bfd\n peer %v local-address %v\n  receive-interval 100\n  transmit-interval 100\n  detect-multiplier 3\n !\n!\n", dir, rs0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(peer.Close)

	conf := fmt.Sprintf(`bfd_instance rs1 {
    neighbor_ip %v
    source_ip %v
    min_rx 100
    min_tx 100
    multiplier 3
}

virtual_server %v %d {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server %v %d {
        BFD_CHECK {
            name rs1
            alpha
        }
    }
    real_server %v %d {
    }
}
`, rs0, dir, lvs.VIP, portHTTP, rs0, portHTTP, rs1, portHTTP)
	tp := &topo{t: t, lvs: lvs, conf: filepath.Join(t.TempDir(), "keepalived.conf")}
	if err := os.WriteFile(tp.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	tp.start()
	defer func() {
		if t.Failed() {
			t.Logf("bfdd:\n%s", peer.Output())
		}
	}()
	c := admin.NewClient(tp.adminSock)
	tp.waitHealth(c, portHTTP, "TCP", "rs", 1, 15*time.Second)
	snap, err := c.Status()
	if err != nil {
		t.Fatal(err)
	}
	if r := realOf(findSvc(snap, "TCP", portHTTP), 0); r == nil || !slices.Contains(r.Checks, "BFD_CHECK") {
		t.Fatalf("real server 0 does not list BFD_CHECK: %+v", r)
	}
	servedBy := func(n int) map[string]int {
		seen := map[string]int{}
		for range n {
			body, err := tp.httpGet()
			if err != nil {
				tp.fatalf("request through the VIP: %v", err)
			}
			name, _, _ := strings.Cut(strings.TrimSpace(body), " ")
			seen[name]++
		}
		return seen
	}
	if seen := servedBy(6); seen["rs1"] == 0 || seen["rs2"] == 0 {
		t.Fatalf("both servers should serve while the session is Up: %v", seen)
	}
	// Let the poll sequences settle on the fast intervals before timing
	// the detection.
	time.Sleep(time.Second)

	killed := time.Now()
	peer.Kill()
	gone := tp.waitGone(t, c, portHTTP, "TCP", 0)
	took := gone.Sub(killed)
	// The admin status is polled every 50 ms; a loaded machine gets room.
	if took > detect+time.Second {
		t.Errorf("real server taken out %v after bfdd was killed; the detection time is %v", took, detect)
	}
	t.Logf("BFD_CHECK: real server out %v after bfdd was killed (detection time %v)", took.Round(time.Millisecond), detect)
	if seen := servedBy(6); seen["rs1"] != 0 {
		t.Errorf("the taken-out server still served: %v", seen)
	}

	if err := peer.Start(); err != nil {
		t.Fatal(err)
	}
	tp.waitHealth(c, portHTTP, "TCP", "rs", 1, 15*time.Second)
	if seen := servedBy(6); seen["rs1"] == 0 {
		t.Errorf("the server did not come back after bfdd restarted: %v", seen)
	}

	// Reloads: one that leaves the bfd_instance alone keeps the session;
	// one that changes it restarts the session (our AdminDown tells bfdd
	// it is no failure), and the server stays in service throughout.
	reload := func(conf string) {
		if err := os.WriteFile(tp.conf, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(tp.proc.Pid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	inService := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			snap, err := c.Status()
			if err != nil {
				t.Fatal(err)
			}
			if realOf(findSvc(snap, "TCP", portHTTP), 0) == nil {
				tp.fatalf("the BFD_CHECK server left the table during a reload")
			}
		}
	}
	started := func() int { return strings.Count(tp.proc.Output(), `msg="BFD sessions started"`) }
	reload(strings.Replace(conf, "lb_algo rr", "lb_algo wrr", 1))
	inService(time.Second)
	if n := started(); n != 1 {
		t.Errorf("a reload that left bfd_instance alone restarted the sessions (%d starts)", n)
	}
	reload(strings.Replace(conf, "min_rx 100", "min_rx 120", 1))
	inService(2 * time.Second)
	if n := started(); n != 2 {
		t.Errorf("a reload that changed bfd_instance did not restart the sessions (%d starts)", n)
	}
	tp.waitHealth(c, portHTTP, "TCP", "rs", 1, 15*time.Second)
	tp.stop()
}
