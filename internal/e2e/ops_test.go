package e2e

import (
	"net/http"

	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/internal/admin"
	"github.com/ulvs/ulvs/internal/demo"
	"github.com/ulvs/ulvs/internal/netns"
	"github.com/ulvs/ulvs/internal/status"
)

// portAdded is a service the reloads add and remove: NAT to the real
// servers' HTTP port.
const portAdded = 7000

// reloadConfig is the e2e configuration with the services the test does
// not watch changed in the ways a reload can change them, per variant:
// weights, schedulers, a real server removed, a service added or removed.
// The watched services (upload, persist, UDP) are written identically.
func reloadConfig(vip netip.Addr, variant int) string {
	base := e2eConfig(vip, balancer.NAT)
	rs := func(i int) netip.Addr { return netns.RealAddr(i).Addr() }
	switch variant % 3 {
	case 0:
		return base
	case 1:
		// HTTP weights 1:3 and lc; download loses rs2; closed UDP service
		// removed; a new service on portAdded.
		c := strings.Replace(base, fmt.Sprintf("virtual_server %v %d {\n    lb_algo wrr", vip, portHTTP),
			fmt.Sprintf("virtual_server %v %d {\n    lb_algo lc", vip, portHTTP), 1)
		c = strings.Replace(c, fmt.Sprintf("    real_server %v %d {\n        weight 3\n", rs(0), portHTTP),
			fmt.Sprintf("    real_server %v %d {\n        weight 1\n", rs(0), portHTTP), 1)
		c = strings.Replace(c, fmt.Sprintf("    real_server %v %d {\n        weight 1\n    }\n}\n\nvirtual_server %v %d",
			rs(1), portDownload, vip, portPersist), fmt.Sprintf("}\n\nvirtual_server %v %d", vip, portPersist), 1)
		i := strings.Index(c, fmt.Sprintf("virtual_server %v %d", vip, portClosed))
		c = c[:i]
		return c + fmt.Sprintf("virtual_server %v %d {\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n"+
			"    real_server %v 80 {\n        weight 1\n    }\n}\n", vip, portAdded, rs(0))
	default:
		// Only the timeouts and the HTTP scheduler change.
		return strings.Replace(base, "router_id e2e\n", "router_id e2e\n    lvs_timeouts tcp 600 tcpfin 60 udp 120\n", 1)
	}
}

// TestHitlessChanges sends continuous traffic through three services
// (a long TCP upload, a stream of short TCP connections, UDP ping-pong)
// while the director reloads its file with every other service changed,
// and while weights change through the admin API: not one lost datagram,
// not one failed or reset connection, and the watched services keep their
// counters.
func TestHitlessChanges(t *testing.T) {
	tp := newTopo(t, balancer.NAT)
	c := admin.NewClient(tp.adminSock)
	if _, err := c.Status(); err != nil {
		t.Fatalf("admin API: %v\n%s", err, tp.proc.Output())
	}
	svcKey := func(proto string, port int) string {
		return fmt.Sprintf("%s:%v", proto, netip.AddrPortFrom(tp.lvs.VIP, uint16(port)))
	}
	before := serviceStats(t, c, "UDP", portUDP)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failures []string
	var fmu sync.Mutex
	fail := func(format string, args ...any) {
		fmu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		fmu.Unlock()
	}
	var udpSent, udpLost, shortConns, uploadBytes atomic.Int64

	// A long-lived TCP connection streams through every change.
	wg.Add(1)
	go func() {
		defer wg.Done()
		conn, err := tp.dial("tcp4", portUpload)
		if err != nil {
			fail("upload dial: %v", err)
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Minute))
		h := sha256.New()
		chunk := make([]byte, 16<<10)
		for i := 0; ; i++ {
			select {
			case <-stop:
				conn.(*net.TCPConn).CloseWrite()
				b, err := io.ReadAll(conn)
				f := strings.Fields(string(b))
				if err != nil || len(f) != 2 || f[1] != hex.EncodeToString(h.Sum(nil)) {
					fail("long upload of %d bytes: answer %q, err %v", uploadBytes.Load(), b, err)
				}
				return
			default:
			}
			for j := range chunk {
				chunk[j] = byte(i + j)
			}
			if _, err := conn.Write(chunk); err != nil {
				fail("long upload write after %d bytes: %v", uploadBytes.Load(), err)
				return
			}
			h.Write(chunk)
			uploadBytes.Add(int64(len(chunk)))
			time.Sleep(5 * time.Millisecond)
		}
	}()
	// Short TCP connections, one after another.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			name, err := tp.lineFrom(portPersist)
			if err != nil || (name != "rs1" && name != "rs2") {
				fail("short connection %d: %q, %v", shortConns.Load(), name, err)
			}
			shortConns.Add(1)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	// UDP ping-pong from one source port: each datagram must be answered,
	// without retries.
	wg.Add(1)
	go func() {
		defer wg.Done()
		conn, err := tp.dialUDPFrom(portUDP, 41000)
		if err != nil {
			fail("udp dial: %v", err)
			return
		}
		defer conn.Close()
		buf := make([]byte, 2048)
		for seq := 0; ; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			msg := fmt.Sprintf("seq-%d", seq)
			if _, err := conn.Write([]byte(msg)); err != nil {
				fail("udp write: %v", err)
				return
			}
			udpSent.Add(1)
			conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, err := conn.Read(buf)
			if err != nil || !strings.HasSuffix(string(buf[:n]), ":"+msg) {
				udpLost.Add(1)
				fail("udp %s: reply %q, %v", msg, buf[:n], err)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()

	// The changes: reloads with other services changed, and weights
	// through the API, interleaved.
	httpSvc := svcKey("tcp", portHTTP)
	udp := svcKey("udp", portUDP)
	rs1 := netip.AddrPortFrom(netns.RealAddr(0).Addr(), portHTTP).String()
	rs1udp := netip.AddrPortFrom(netns.RealAddr(0).Addr(), portUDP).String()
	for round := 1; round <= 6; round++ {
		time.Sleep(300 * time.Millisecond)
		if err := os.WriteFile(tp.conf, []byte(reloadConfig(tp.lvs.VIP, round)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(tp.proc.Pid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		if round%3 == 1 {
			// The reload added portAdded: it forwards.
			if name, err := tp.httpPort(portAdded); err != nil || name != "rs1" {
				fail("round %d: new service %d: %q, %v", round, portAdded, name, err)
			}
		}
		if err := c.SetWeight(httpSvc, rs1, uint32(round)); err != nil {
			fail("API weight: %v", err)
		}
		// The watched UDP service's own weights change too.
		if err := c.SetWeight(udp, rs1udp, uint32(1+round%3)); err != nil {
			fail("API weight on the watched service: %v", err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	t.Logf("%d datagrams (%d lost), %d short connections, one %d-byte upload across 6 reloads and 12 API changes",
		udpSent.Load(), udpLost.Load(), shortConns.Load(), uploadBytes.Load())
	if udpSent.Load() < 50 || shortConns.Load() < 50 {
		t.Errorf("too little traffic to judge: %d datagrams, %d connections", udpSent.Load(), shortConns.Load())
	}
	out := tp.proc.Output()
	if n := strings.Count(out, "configuration reloaded"); n != 6 {
		t.Errorf("%d reloads logged, want 6:\n%s", n, out)
	}
	// The watched service kept its counters: they only grew.
	after := serviceStats(t, c, "UDP", portUDP)
	if after.InPkts < before.InPkts+uint64(udpSent.Load()) {
		t.Errorf("UDP service counters went from %+v to %+v with %d datagrams sent: reset by a reload?",
			before, after, udpSent.Load())
	}
	r := tp.stop()
	if d := r.Loop.BalancerDrops; d["tcp_not_syn"] != 0 || d["real_server_unavailable"] != 0 {
		t.Errorf("drops of packets of existing connections: %v", d)
	}
}

func (tp *topo) httpPort(port int) (string, error) {
	conn, err := tp.dial("tcp4", port)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: x\r\n\r\n")
	b, err := io.ReadAll(conn)
	if err != nil {
		return "", err
	}
	_, body, ok := strings.Cut(string(b), "\r\n\r\n")
	if !ok {
		return "", errors.New("no HTTP response")
	}
	return strings.TrimSpace(body), nil
}

func serviceStats(t *testing.T, c *admin.Client, proto string, port int) status.Stats {
	t.Helper()
	snap, err := c.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range snap.Services {
		if s.Proto == proto && int(s.Port) == port {
			return s.Stats
		}
	}
	t.Fatalf("no %s service on port %d in %+v", proto, port, snap.Services)
	return status.Stats{}
}

// TestAdminCLI drives the running director with the ulvs binary's list and
// admin verbs, as an operator would.
func TestAdminCLI(t *testing.T) {
	tp := newTopoArgs(t, balancer.NAT, []string{"--metrics-listen", "127.0.0.1:9117"})
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(ulvsBinary, append(args, "--admin-socket", tp.adminSock)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ulvs %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	vip := tp.lvs.VIP
	httpSvc := fmt.Sprintf("tcp:%v:%d", vip, portHTTP)
	rs1 := netip.AddrPortFrom(netns.RealAddr(0).Addr(), portHTTP)
	rs2 := netip.AddrPortFrom(netns.RealAddr(1).Addr(), portHTTP)

	list := run("list")
	if !strings.HasPrefix(list, "IP Virtual Server version 1.2.1 (size=") ||
		!strings.Contains(list, fmt.Sprintf("TCP  %v:%d wrr\n", vip, portHTTP)) ||
		!strings.Contains(list, fmt.Sprintf("  -> %-28s Masq    3      ", rs1)) {
		t.Errorf("ulvs list:\n%s", list)
	}
	for i := range 8 {
		if _, err := tp.httpGet(); err != nil {
			t.Fatalf("request %d: %v\n%s", i, err, tp.proc.Output())
		}
	}
	stats := run("list", "--stats", "-t", httpSvc)
	if !strings.Contains(stats, "Conns   InPkts  OutPkts  InBytes OutBytes") || strings.Contains(stats, "UDP") {
		t.Errorf("ulvs list --stats -t:\n%s", stats)
	}
	var snap status.Snapshot
	if err := json.Unmarshal([]byte(run("list", "--json")), &snap); err != nil {
		t.Fatal(err)
	}
	if len(snap.Services) != 6 || snap.ConnTableSize == 0 {
		t.Errorf("--json: %+v", snap)
	}
	if c := run("list", "-c"); !strings.HasPrefix(c, "IPVS connection entries\npro expire state       source             virtual            destination\nTCP ") {
		t.Errorf("ulvs list -c:\n%s", c)
	}
	if to := run("list", "--timeout"); to != "Timeout (tcp tcpfin udp): 900 120 300\n" {
		t.Errorf("ulvs list --timeout: %q", to)
	}

	// The metrics listener in the director's namespace.
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: demo.DialIn(tp.lvs.Director)}}
	resp, err := hc.Get("http://127.0.0.1:9117/metrics")
	if err != nil {
		t.Fatalf("scrape: %v\n%s", err, tp.proc.Output())
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if f := fams["node_ipvs_connections_total"]; f == nil || f.Metric[0].Counter.GetValue() < 8 {
		t.Errorf("node_ipvs_connections_total: %v", f)
	}
	if f := fams["node_ipvs_backend_weight"]; f == nil || len(f.Metric) != 12 {
		t.Errorf("node_ipvs_backend_weight: %v", f)
	}
	if f := fams["ulvs_neighbour_entries"]; f == nil {
		t.Errorf("no ARP state metrics")
	}

	// Weight 0 through the CLI: every new connection goes to rs2.
	run("admin", "weight", "-t", httpSvc, "-r", rs1.String(), "-w", "0")
	for range 6 {
		if name, err := tp.httpGet(); err != nil || name != "rs2" {
			t.Fatalf("with rs1 at weight 0: %q, %v", name, err)
		}
	}
	// Add a service and a real server, use it, delete it.
	svc := fmt.Sprintf("tcp:%v:%d", vip, portAdded)
	run("admin", "add-service", "-t", svc, "-s", "rr")
	run("admin", "add-real", "-t", svc, "-r", rs2.String(), "-m", "-w", "2")
	if name, err := tp.httpPort(portAdded); err != nil || name != "rs2" {
		t.Errorf("added service: %q, %v", name, err)
	}
	if l := run("list", "-t", svc); !strings.Contains(l, fmt.Sprintf("  -> %-28s Masq    2      ", rs2)) {
		t.Errorf("added real server not listed:\n%s", l)
	}
	run("admin", "del-service", "-t", svc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	conn, err := demo.DialIn(tp.lvs.Client.NS)(ctx, "tcp4", netip.AddrPortFrom(vip, portAdded).String())
	cancel()
	if err == nil {
		conn.Close()
		t.Errorf("deleted service still accepts connections")
	}
	// Drain rs2 of the HTTP service: weight 0 at once; its TIME_WAIT
	// entries keep it listed until the deadline removes it.
	run("admin", "weight", "-t", httpSvc, "-r", rs1.String(), "-w", "1")
	run("admin", "drain", "-t", httpSvc, "-r", rs2.String(), "--deadline", "3s")
	if l := run("list", "-t", httpSvc); !strings.Contains(l, fmt.Sprintf("  -> %-28s Masq    0      ", rs2)) {
		t.Errorf("draining server not at weight 0:\n%s", l)
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Contains(run("list", "-t", httpSvc), rs2.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("drained server still listed after 10s:\n%s", run("list", "-t", httpSvc))
		}
		time.Sleep(200 * time.Millisecond)
	}
	run("admin", "zero")
	if s := serviceStats(t, admin.NewClient(tp.adminSock), "TCP", portHTTP); s.Conns != 0 {
		t.Errorf("after zero: %+v", s)
	}
	// Errors say what to do, and exit non-zero.
	var out []byte
	out, err = exec.Command(ulvsBinary, "admin", "weight", "-t", httpSvc, "-r", "10.9.9.9:80", "-w", "1",
		"--admin-socket", tp.adminSock).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no real server 10.9.9.9:80") {
		t.Errorf("weight of an unknown server: %v, %s", err, out)
	}
	// The file wins at reload: the API's changes are gone.
	run("admin", "reload")
	if l := run("list", "-t", httpSvc); !strings.Contains(l, rs2.String()) {
		t.Errorf("after reload the file's real servers are back:\n%s", l)
	}
	fi, err := os.Stat(tp.adminSock)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin socket mode: %v, %v", fi.Mode(), err)
	}
}
