package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/ulvs/ulvs/internal/netns"
)

// loopCell is one closed-loop test with one connection count.
type loopCell struct {
	test  string
	conns int
}

// loopRun is one client run's outcome.
type loopRun struct {
	value       float64
	p50, p99    float64
	errors      uint64
	retransmits uint64
}

// RunClosedLoop runs real TCP clients against real servers through each
// subject on a namespace topology: wrk against nginx on every real server
// (l.HTTP) and iperf3 to one real server (l.Bulk; iperf3 serves one test
// at a time, so a scheduler must not split its streams). The subjects
// (default ulvs-nat and kernel-dnat; ulvs-nat@PATH builds too) take turns,
// every test for each, c.Runs times. Nothing is pinned: the client, the
// servers and the subject share the CPUs as on any host. c.Reals (default
// 2) real servers serve HTTP; c.Duration (default 3 s, whole seconds) is
// one client run.
func RunClosedLoop(ctx context.Context, c Config, l ClosedLoop) (*ClosedLoopReport, error) {
	if c.Reals <= 0 {
		c.Reals = 2
	}
	if c.Subjects == nil {
		c.Subjects = []Subject{ULVSNAT, KernelDNAT}
	}
	c = c.withDefaults()
	l = l.withDefaults()
	c.Duration = max(time.Second, c.Duration.Round(time.Second))
	if !l.HTTP && !l.Bulk {
		return nil, errors.New("bench: choose a closed-loop test: HTTP (--http), bulk TCP (--bulk) or both")
	}
	for _, s := range c.Subjects {
		if k := s.Kind(); k != ULVSNAT && k != KernelDNAT && k != KernelDNATRPS {
			return nil, fmt.Errorf("bench: closed-loop tests compare NAT: subject %q is not one of ulvs-nat (or ulvs-nat@BINARY), kernel-dnat, kernel-dnat-rps", s)
		}
	}
	if !netns.IsRoot() {
		return nil, errors.New("bench: ulvs bench builds network namespaces and needs root")
	}
	tools := []string{"nft", "ss"}
	if l.HTTP {
		tools = append(tools, "nginx", "wrk")
	}
	if l.Bulk {
		tools = append(tools, "iperf3")
	}
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			return nil, fmt.Errorf("bench: %s is missing; the closed-loop tests need it (apt-get install nftables iproute2 nginx-light wrk iperf3)", t)
		}
	}
	if err := c.checkSubjects(false); err != nil {
		return nil, err
	}
	rep := &ClosedLoopReport{Started: time.Now(), Host: hostInfo(), Subjects: c.Subjects, Runs: c.Runs, Duration: c.Duration.String(),
		Notes:    []string{"closed loop: each client waits for every answer, so latency the director adds to a round trip costs throughput"},
		Warnings: []string{}}
	rep.Host.CPUs, rep.Host.Go = runtime.NumCPU(), runtime.Version()
	var servers, clients []string
	if l.HTTP {
		servers = append(servers, fmt.Sprintf("HTTP: %s on %d real servers", toolVersion(ctx, "nginx", "-v"), c.Reals))
		clients = append(clients, "HTTP: "+toolVersion(ctx, "wrk", "-v"))
		var cells []loopCell
		for _, test := range []string{TestHTTPKeepAlive, TestHTTPClose} {
			for _, n := range l.Conns {
				cells = append(cells, loopCell{test, n})
			}
		}
		if err := runLoopTopology(ctx, c, c.Reals, cells, rep); err != nil {
			return nil, err
		}
	}
	if l.Bulk {
		v := toolVersion(ctx, "iperf3", "-v")
		servers = append(servers, fmt.Sprintf("bulk: %s -s on 1 real server", v))
		clients = append(clients, fmt.Sprintf("bulk: %s -c (MTU 1500, no TSO/GSO at the client)", v))
		var cells []loopCell
		for _, n := range l.Streams {
			cells = append(cells, loopCell{TestBulk, n})
		}
		if err := runLoopTopology(ctx, c, 1, cells, rep); err != nil {
			return nil, err
		}
	}
	rep.Server, rep.Client = strings.Join(servers, "; "), strings.Join(clients, "; ")
	rep.summarize()
	for _, q := range rep.Results {
		if q.Errors > 0 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s, %s: %d socket errors or non-2xx answers", testName(q.Test, q.Conns), q.Subject, q.Errors))
		}
	}
	rep.Elapsed = time.Since(rep.Started).Round(time.Millisecond).String()
	return rep, nil
}

// runLoopTopology builds a topology with reals real servers, starts the
// cells' servers there and runs every cell through every subject.
func runLoopTopology(ctx context.Context, c Config, reals int, cells []loopCell, rep *ClosedLoopReport) error {
	c.Reals = reals
	h, cleanup, err := newTopology(ctx, c, false, true)
	if err != nil {
		return err
	}
	defer cleanup()
	// A permanent neighbour entry for the VIP: the kernel subjects have no
	// ARP responder for it, and ulvs's would answer with the same MAC.
	if err := h.lvs.Client.NS.IP("neigh", "replace", h.lvs.VIP.String(), "lladdr", h.lvs.Front.MAC.String(), "dev", h.lvs.Client.Dev.Name, "nud", "permanent"); err != nil {
		return err
	}
	http := cells[0].test != TestBulk
	for i, r := range h.lvs.Reals {
		if err := h.startServer(i, r, http); err != nil {
			return err
		}
	}
	for run := 1; run <= c.Runs; run++ {
		for _, s := range c.Subjects {
			if err := h.runLoopSubject(s, run, cells, rep); err != nil {
				return fmt.Errorf("bench: %s run %d: %w", s, run, err)
			}
		}
	}
	return nil
}

// runLoopSubject starts s, waits until it carries connections and runs
// every cell through it.
func (h *harness) runLoopSubject(s Subject, run int, cells []loopCell, rep *ClosedLoopReport) error {
	sub, err := h.newSubject(s, run)
	if err != nil {
		return err
	}
	if err := sub.start(); err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			_, _ = sub.stop()
		}
	}()
	if err := h.waitService(sub, cells[0].test != TestBulk); err != nil {
		return err
	}
	for _, cell := range cells {
		if err := h.ctx.Err(); err != nil {
			return err
		}
		cpu0, cpuOK := sub.cpu()
		t0 := time.Now()
		r, err := h.runClient(cell)
		if err != nil {
			return fmt.Errorf("%s: %w", testName(cell.test, cell.conns), err)
		}
		if err := sub.alive(); err != nil {
			return err
		}
		q := rep.result(cell.test, cell.conns, s)
		q.Values = append(q.Values, r.value)
		q.lat = append(q.lat, [2]float64{r.p50, r.p99})
		q.Errors += r.errors
		q.Retransmits += r.retransmits
		if cpu1, ok := sub.cpu(); ok && cpuOK {
			q.cpu = append(q.cpu, 100*(cpu1-cpu0).Seconds()/time.Since(t0).Seconds())
		}
		h.log.Info("closed loop", "subject", s, "run", run, "test", cell.test, "conns", cell.conns, "value", r.value)
	}
	stopped = true
	_, err = sub.stop()
	return err
}

// startServer starts nginx (http) or iperf3 on real server i, listening on
// the service port, and waits until it listens.
func (h *harness) startServer(i int, r netns.Host, http bool) error {
	port := strconv.Itoa(servicePort)
	var p *netns.Proc
	var err error
	if http {
		conf := filepath.Join(h.dir, fmt.Sprintf("nginx-real%d.conf", i))
		if err := os.WriteFile(conf, []byte(nginxConfig(h.dir, i)), 0o644); err != nil {
			return err
		}
		p, err = r.NS.Start("nginx", "-e", filepath.Join(h.dir, fmt.Sprintf("nginx-real%d.err", i)), "-c", conf)
	} else {
		p, err = r.NS.Start("iperf3", "-s", "-p", port)
	}
	if err != nil {
		return err
	}
	deadline := time.Now().Add(startupTimeout)
	for {
		out, err := r.NS.Exec(h.ctx, "ss", "-Hltn", "sport = :"+port)
		if err == nil && len(strings.TrimSpace(string(out))) > 0 {
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("bench: the server on %s exited:\n%s", r.NS.Name, p.Output())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: the server on %s does not listen on port %s after %v:\n%s", r.NS.Name, port, startupTimeout, p.Output())
		}
	}
}

// nginxConfig serves a short text answer on the service port, one worker,
// no logging, a scratch directory of its own.
func nginxConfig(dir string, i int) string {
	return fmt.Sprintf(`worker_processes 1;
daemon off;
pid %[1]s/nginx-real%[2]d.pid;
error_log %[1]s/nginx-real%[2]d.err warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    client_body_temp_path %[1]s/nginx-real%[2]d-body;
    default_type text/plain;
    server {
        listen %[3]d reuseport;
        location / { return 200 "ulvs bench real server %[2]d\n"; }
    }
}
`, dir, i, servicePort)
}

// waitService waits until a TCP connection to the VIP through the subject
// succeeds (and with http, an HTTP request is answered with 200).
func (h *harness) waitService(sub subject, http bool) error {
	addr := netip.AddrPortFrom(h.lvs.VIP, servicePort).String()
	deadline := time.Now().Add(startupTimeout)
	var last error
	for time.Now().Before(deadline) {
		if err := sub.alive(); err != nil {
			return err
		}
		last = h.lvs.Client.NS.Do(func() error {
			conn, err := net.DialTimeout("tcp4", addr, 300*time.Millisecond)
			if err != nil {
				return err
			}
			defer conn.Close()
			if !http {
				return nil
			}
			conn.SetDeadline(time.Now().Add(time.Second))
			if _, err := io.WriteString(conn, "GET / HTTP/1.0\r\nHost: bench\r\n\r\n"); err != nil {
				return err
			}
			buf := make([]byte, 64)
			n, err := io.ReadAtLeast(conn, buf, 12)
			if err != nil {
				return err
			}
			if status := string(buf[:n]); !strings.HasPrefix(status, "HTTP/1.1 200") {
				return fmt.Errorf("answer %q, want HTTP/1.1 200", status)
			}
			return nil
		})
		if last == nil {
			return nil
		}
		if err := h.ctx.Err(); err != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no TCP service through the VIP after %v: %w", startupTimeout, last)
}

// runClient runs one cell's client (wrk or iperf3) in the client namespace.
func (h *harness) runClient(cell loopCell) (loopRun, error) {
	secs := strconv.Itoa(int(h.c.Duration / time.Second))
	vip := h.lvs.VIP.String()
	if cell.test == TestBulk {
		out, err := h.lvs.Client.NS.Exec(h.ctx, "iperf3", "-c", vip, "-p", strconv.Itoa(servicePort), "-t", secs,
			"-P", strconv.Itoa(cell.conns), "-J", "--connect-timeout", "3000")
		r, perr := parseIperf3(out)
		if perr != nil {
			return loopRun{}, errors.Join(perr, err)
		}
		return loopRun{value: r.gbps, retransmits: r.retransmits}, nil
	}
	args := []string{"-t", strconv.Itoa(min(cell.conns, runtime.NumCPU())), "-c", strconv.Itoa(cell.conns), "-d", secs + "s",
		"--timeout", "2s", "--latency"}
	if cell.test == TestHTTPClose {
		args = append(args, "-H", "Connection: close")
	}
	args = append(args, fmt.Sprintf("http://%s:%d/", vip, servicePort))
	out, err := h.lvs.Client.NS.Exec(h.ctx, "wrk", args...)
	if err != nil {
		return loopRun{}, err
	}
	r, err := parseWrk(string(out))
	if err != nil {
		return loopRun{}, fmt.Errorf("%w:\n%s", err, out)
	}
	if r.requests == 0 {
		return loopRun{}, fmt.Errorf("wrk completed no request:\n%s", out)
	}
	return loopRun{value: r.rps, p50: r.p50, p99: r.p99, errors: r.sockErrors + r.non2xx}, nil
}

// toolVersion is a program's name and version as its version flag prints
// them, without what follows ("wrk debian/4.1.0-3+b2", "nginx/1.22.1").
func toolVersion(ctx context.Context, name string, flag string) string {
	out, _ := exec.CommandContext(ctx, name, flag).CombinedOutput()
	return versionLine(string(out), name)
}
