package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ulvs/ulvs/internal/admin"
	"github.com/ulvs/ulvs/internal/demo"
	"github.com/ulvs/ulvs/internal/netns"
	"github.com/ulvs/ulvs/internal/status"
)

// Health-check ports: each service has its own checker kind.
const (
	portHCHTTP    = 8090 // HTTP_GET
	portHCTCP     = 8091 // TCP_CHECK
	portHCMisc    = 8092 // MISC_CHECK misc_dynamic
	portHCQuorum  = 8093 // TCP_CHECK, quorum 2, sorry server
	portHCSorry   = 8094 // the sorry server's port (on rs2)
	portHCInhibit = 8095 // TCP_CHECK, inhibit_on_failure
	portHCUDP     = 5310 // UDP_CHECK
)

// Checker timing in the tests, and the detection bound of the issue:
// delay_loop + connect_timeout x (retry+1) + delay_before_retry x retry,
// plus one interval of slack for the wait before the first failing probe.
const (
	hcDelayLoop = time.Second
	hcTimeout   = time.Second
	hcRetry     = 1
	hcDBR       = time.Second
	hcBound     = hcDelayLoop + hcTimeout*(hcRetry+1) + hcDBR*hcRetry + hcDelayLoop
)

// switchable is a server in a real server's namespace that the test stops
// and restarts.
type switchable struct {
	t     *testing.T
	ns    *netns.NS
	name  string
	port  int
	udp   bool
	mu    sync.Mutex
	ln    net.Listener
	pc    net.PacketConn
	httpd bool
}

func (s *switchable) start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.ns.Do(func() error {
		var err error
		if s.udp {
			s.pc, err = net.ListenPacket("udp4", fmt.Sprintf(":%d", s.port))
			return err
		}
		lc := net.ListenConfig{}
		s.ln, err = lc.Listen(s.t.Context(), "tcp4", fmt.Sprintf(":%d", s.port))
		return err
	})
	if err != nil {
		s.t.Fatal(err)
	}
	switch {
	case s.udp:
		pc := s.pc
		go func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				pc.WriteTo(append([]byte(s.name+":"), buf[:n]...), from)
			}
		}()
	case s.httpd:
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, s.name)
		}), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(s.ln)
	default:
		ln := s.ln
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				fmt.Fprintln(c, s.name)
				c.Close()
			}
		}()
	}
	s.t.Cleanup(s.stop)
}

func (s *switchable) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	if s.pc != nil {
		s.pc.Close()
		s.pc = nil
	}
}

func healthConfig(vip netip.Addr, miscDir string) string {
	rs0, rs1 := netns.RealAddr(0).Addr(), netns.RealAddr(1).Addr()
	timing := fmt.Sprintf("            connect_timeout %d\n            retry %d\n            delay_before_retry %d\n",
		int(hcTimeout.Seconds()), hcRetry, int(hcDBR.Seconds()))
	// check is "KIND" or "KIND\nline\nline"; RS in it becomes the real
	// server's index.
	vs := func(port int, proto, extra, check string) string {
		kind, body, _ := strings.Cut(check, "\n")
		var b strings.Builder
		fmt.Fprintf(&b, "virtual_server %v %d {\n    delay_loop %d\n    lb_algo rr\n    lb_kind NAT\n    protocol %s\n%s",
			vip, port, int(hcDelayLoop.Seconds()), proto, extra)
		for i, a := range []netip.Addr{rs0, rs1} {
			fmt.Fprintf(&b, "    real_server %v %d {\n        weight 1\n        %s {\n%s\n%s        }\n    }\n",
				a, port, kind, strings.ReplaceAll(body, "RS", fmt.Sprint(i)), timing)
		}
		b.WriteString("}\n\n")
		return b.String()
	}
	return "global_defs {\n    router_id e2e-health\n}\n\n" +
		fmt.Sprintf("virtual_server %v %d {\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    real_server %v %d {\n    }\n}\n\n", vip, portHTTP, rs0, portHTTP) +
		vs(portHCHTTP, "TCP", "", "HTTP_GET\nurl {\npath /\nstatus_code 200\n}") +
		vs(portHCTCP, "TCP", "", "TCP_CHECK") +
		vs(portHCMisc, "TCP", "", fmt.Sprintf("MISC_CHECK\nmisc_path \"%s/misc.sh RS\"\nmisc_dynamic", miscDir)) +
		vs(portHCQuorum, "TCP", fmt.Sprintf("    quorum 2\n    sorry_server %v %d\n", rs1, portHCSorry), "TCP_CHECK") +
		vs(portHCInhibit, "TCP", "    inhibit_on_failure\n", "TCP_CHECK") +
		vs(portHCUDP, "UDP", "", "UDP_CHECK\npayload 70696e67\nrequire_reply 7273")
}

// TestHealthChecks stops and restarts real-server services under a
// running director and checks that traffic leaves and comes back within
// the detection bound, for each checker kind, plus quorum with a sorry
// server and inhibit_on_failure.
func TestHealthChecks(t *testing.T) {
	lvs := natLab(t)
	miscDir := t.TempDir()
	if err := os.Chmod(miscDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// misc.sh N exits with the number in state-N (default 0).
	script := "#!/bin/sh\n[ -f " + miscDir + "/state-$1 ] && exit $(cat " + miscDir + "/state-$1)\nexit 0\n"
	if err := os.WriteFile(filepath.Join(miscDir, "misc.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	servers := map[int][2]*switchable{}
	for _, port := range []int{portHCHTTP, portHCTCP, portHCMisc, portHCQuorum, portHCInhibit, portHCUDP} {
		var pair [2]*switchable
		for i, r := range lvs.Reals {
			s := &switchable{t: t, ns: r.NS, name: fmt.Sprintf("rs%d", i+1), port: port,
				udp: port == portHCUDP, httpd: port == portHCHTTP}
			s.start()
			pair[i] = s
		}
		servers[port] = pair
	}
	sorry := &switchable{t: t, ns: lvs.Reals[1].NS, name: "sorry", port: portHCSorry}
	sorry.start()

	tp := &topo{t: t, lvs: lvs}
	tp.conf = filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(tp.conf, []byte(healthConfig(lvs.VIP, miscDir)), 0o644); err != nil {
		t.Fatal(err)
	}
	tp.start()
	c := admin.NewClient(tp.adminSock)
	// Checkers start within warmup (= delay_loop); wait for every real
	// to be reported up.
	tp.waitHealth(c, portHCUDP, "UDP", "rs", 2, 3*time.Second)

	t.Run("HTTP_GET", func(t *testing.T) { tp.failover(t, c, portHCHTTP, "TCP", servers[portHCHTTP][0], tp.httpPort, nil) })
	t.Run("TCP_CHECK", func(t *testing.T) { tp.failover(t, c, portHCTCP, "TCP", servers[portHCTCP][0], tp.hcLine, nil) })
	t.Run("UDP_CHECK", func(t *testing.T) {
		// Until the restart the client keeps two flows (fixed source
		// ports; rr puts one on each server): the one on the stopped
		// server must move on its next datagram once the check fails,
		// not stay black-holed until the UDP timeout. After the restart
		// new flows must reach the server again.
		var mu sync.Mutex
		fixed, n, fresh := true, 0, 41000
		udp := func(port int) (string, error) {
			mu.Lock()
			src := 40001 + n%2
			n++
			if !fixed {
				fresh++
				src = fresh
			}
			mu.Unlock()
			reply, err := tp.udpEchoPort(port, src)
			name, _, _ := strings.Cut(reply, ":")
			return name, err
		}
		tp.failover(t, c, portHCUDP, "UDP", servers[portHCUDP][0], udp, func() { mu.Lock(); fixed = false; mu.Unlock() })
	})
	t.Run("MISC_CHECK dynamic weight", func(t *testing.T) {
		state := filepath.Join(miscDir, "state-0")
		os.WriteFile(state, []byte("7\n"), 0o644) // up, weight 5
		tp.waitWeight(t, c, portHCMisc, 0, 5)
		start := time.Now()
		os.WriteFile(state, []byte("1\n"), 0o644) // down
		tp.waitGone(t, c, portHCMisc, "TCP", 0)
		t.Logf("MISC_CHECK: down after %v (bound %v)", time.Since(start).Round(10*time.Millisecond), hcBound)
		for i := 0; i < 10; i++ {
			if got, err := tp.hcLine(portHCMisc); err != nil || got != "rs2" {
				t.Fatalf("request %d after detection: %q %v", i, got, err)
			}
		}
		os.WriteFile(state, []byte("0\n"), 0o644)
		tp.waitWeight(t, c, portHCMisc, 0, 1)
	})
	t.Run("quorum and sorry server", func(t *testing.T) {
		s := servers[portHCQuorum][0]
		s.stop()
		deadline := time.Now().Add(hcBound + time.Second)
		for {
			got, err := tp.hcLine(portHCQuorum)
			if err == nil && got == "sorry" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("sorry server not serving after %v: %q %v", hcBound, got, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		snap, _ := c.Status()
		if svc := findSvc(snap, "TCP", portHCQuorum); svc == nil || svc.Quorum != "down" {
			t.Errorf("quorum not reported down: %+v", svc)
		}
		s.start()
		deadline = time.Now().Add(hcBound + time.Second)
		for seen := map[string]bool{}; !seen["rs1"] || !seen["rs2"]; {
			if got, err := tp.hcLine(portHCQuorum); err == nil {
				seen[got] = true
			}
			if time.Now().After(deadline) {
				t.Fatalf("pool not back after quorum regained: %v", seen)
			}
		}
	})
	t.Run("inhibit_on_failure", func(t *testing.T) {
		s := servers[portHCInhibit][0]
		s.stop()
		tp.waitWeight(t, c, portHCInhibit, 0, 0)
		for i := 0; i < 6; i++ {
			if got, err := tp.hcLine(portHCInhibit); err != nil || got != "rs2" {
				tp.fatalf("request %d: %q %v", i, got, err)
			}
		}
		s.start()
		tp.waitWeight(t, c, portHCInhibit, 0, 1)
	})
	t.Run("ulvs list --health", func(t *testing.T) {
		servers[portHCTCP][1].stop()
		tp.waitGone(t, c, portHCTCP, "TCP", 1)
		out, err := exec.Command(ulvsBinary, "list", "--health", "--admin-socket", tp.adminSock).CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		want := fmt.Sprintf("%v:%d", netns.RealAddr(1).Addr(), portHCTCP)
		var line string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, want) {
				line = l
			}
		}
		if !strings.Contains(line, " down ") || !strings.Contains(line, "TCP_CHECK") {
			t.Errorf("list --health line for %s: %q\n%s", want, line, out)
		}
		servers[portHCTCP][1].start()
	})
	tp.stop()
}

// failover stops s during continuous client traffic, measures when the
// director takes it out, checks that no request fails after that, then
// restarts it and waits for traffic to reach it again.
func (tp *topo) failover(t *testing.T, c *admin.Client, port int, proto string, s *switchable, get func(int) (string, error), onRestart func()) {
	var mu sync.Mutex
	type res struct {
		at   time.Time
		name string
		err  error
	}
	var results []res
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 2000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			at := time.Now()
			name, err := get(port)
			mu.Lock()
			results = append(results, res{at, name, err})
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	stopped := time.Now()
	s.stop()
	detected := tp.waitGone(t, c, port, proto, 0)
	took := detected.Sub(stopped)
	t.Logf("%s %d: server stopped, out of the table after %v (bound %v)", proto, port, took.Round(10*time.Millisecond), hcBound)
	if took > hcBound {
		t.Errorf("detection took %v, more than the bound %v", took, hcBound)
	}
	time.Sleep(3 * time.Second)
	mu.Lock()
	if onRestart != nil {
		onRestart()
	}
	back := time.Now()
	mu.Unlock()
	s.start()
	deadline := back.Add(hcBound)
	for {
		if name, err := get(port); err == nil && name == s.name {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("traffic did not come back to %s within %v", s.name, hcBound)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%s %d: back after %v", proto, port, time.Since(back).Round(10*time.Millisecond))
	close(stop)
	wg.Wait()
	failedAfter, total := 0, 0
	for _, r := range results {
		if r.at.After(detected.Add(100*time.Millisecond)) && r.at.Before(back) {
			total++
			if r.err != nil || r.name == s.name {
				failedAfter++
				t.Logf("after detection: %q %v", r.name, r.err)
			}
		}
	}
	if total == 0 || failedAfter > 0 {
		t.Errorf("%d of %d requests between detection and restart failed or reached the stopped server", failedAfter, total)
	}
}

func findSvc(snap *status.Snapshot, proto string, port int) *status.Service {
	if snap == nil {
		return nil
	}
	for i := range snap.Services {
		if s := &snap.Services[i]; s.Proto == proto && int(s.Port) == port {
			return s
		}
	}
	return nil
}

func realOf(s *status.Service, i int) *status.Real {
	a := netns.RealAddr(i).Addr()
	for j := range s.Reals {
		if s.Reals[j].Addr == a {
			return &s.Reals[j]
		}
	}
	return nil
}

// waitGone polls the admin status until real server i leaves the table
// (and is listed as failed, down), and returns when it saw that.
func (tp *topo) waitGone(t *testing.T, c *admin.Client, port int, proto string, i int) time.Time {
	t.Helper()
	deadline := time.Now().Add(2 * hcBound)
	for {
		snap, err := c.Status()
		if err == nil {
			if s := findSvc(snap, proto, port); s != nil && realOf(s, i) == nil {
				if len(s.Failed) == 0 || s.Failed[0].Health != "down" || s.Failed[0].HealthError == "" {
					t.Errorf("failed list %+v", s.Failed)
				}
				return time.Now()
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("real %d of %s %d still in the table after %v", i, proto, port, 2*hcBound)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (tp *topo) waitWeight(t *testing.T, c *admin.Client, port, i int, w uint32) {
	t.Helper()
	deadline := time.Now().Add(2 * hcBound)
	for {
		if snap, err := c.Status(); err == nil {
			if s := findSvc(snap, "TCP", port); s != nil {
				if r := realOf(s, i); r != nil && r.Weight == w {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("real %d of TCP %d never reached weight %d", i, port, w)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitHealth waits until n real servers of the service report health "up".
func (tp *topo) waitHealth(c *admin.Client, port int, proto, prefix string, n int, max time.Duration) {
	deadline := time.Now().Add(max)
	for {
		snap, err := c.Status()
		if s := findSvc(snap, proto, port); err == nil && s != nil {
			up := 0
			for _, r := range s.Reals {
				if r.Health == "up" {
					up++
				}
			}
			if up == n {
				return
			}
		}
		if time.Now().After(deadline) {
			tp.fatalf("health state of %s %d not up after %v", proto, port, max)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (tp *topo) udpEchoPort(port, srcPort int) (string, error) {
	c, err := tp.dialUDPFrom(port, srcPort)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		return "", err
	}
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		return "", errors.Join(err, io.ErrUnexpectedEOF)
	}
	return string(buf[:n]), nil
}

// hcLine reads the one line a test server sends, with a bounded connect.
func (tp *topo) hcLine(port int) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := demo.DialIn(tp.lvs.Client.NS)(ctx, "tcp4", netip.AddrPortFrom(tp.lvs.VIP, uint16(port)).String())
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	b, err := io.ReadAll(c)
	return strings.TrimSpace(string(b)), err
}
