package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/internal/inspect"
	"github.com/ulvs/ulvs/internal/netns"
)

// traceWhileTraffic runs `ulvs trace ARGS` against the topology's director
// while HTTP requests go through the VIP, until the trace exits (its -n
// is reached) or 60 requests were made, and returns its stdout.
func traceWhileTraffic(t *testing.T, tp *topo, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(ulvsBinary, append([]string{"trace", "--admin-socket", tp.adminSock, "--duration", "30s"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	time.Sleep(300 * time.Millisecond) // attach before the traffic
	for i := 0; ; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("ulvs trace %v: %v\n%s\ndirector:\n%s", args, err, stderr.String(), tp.proc.Output())
			}
			if !strings.Contains(stderr.String(), "samples shown; the director sampled") {
				t.Errorf("ulvs trace: no summary on stderr: %q", stderr.String())
			}
			return stdout.Bytes()
		default:
		}
		if i == 60 {
			cmd.Process.Kill()
			t.Fatalf("ulvs trace %v did not get its samples after 60 requests\nstdout:\n%s\nstderr:\n%s\ndirector:\n%s",
				args, stdout.String(), stderr.String(), tp.proc.Output())
		}
		if _, err := tp.httpGet(); err != nil {
			t.Fatalf("request %d during the trace: %v", i, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func field(f *inspect.Frame, key string, outer bool) (inspect.Field, bool) {
	for _, l := range f.Layers {
		if l.Outer != outer {
			continue
		}
		for _, fd := range l.Fields {
			if fd.Key == key {
				return fd, true
			}
		}
	}
	return inspect.Field{}, false
}

// TestTrace attaches the real ulvs trace to a running NAT director with a
// filter on service, client and real server, and checks that the records
// show the frames before and after the rewrite with the right fields
// changed; then writes a pcapng that tshark reads with a comment on every
// frame and no bad checksum.
func TestTrace(t *testing.T) {
	tp := newTopo(t, balancer.NAT)
	vip := tp.lvs.VIP
	rs1 := netip.AddrPortFrom(netns.RealAddr(0).Addr(), portHTTP)
	client := tp.lvs.Client.Dev.Addr.Addr()
	svc := fmt.Sprintf("tcp:%v:%d", vip, portHTTP)
	const want = 8
	out := traceWhileTraffic(t, tp, "--json", "-n", fmt.Sprint(want), "--service", svc, "--client", client.String(), "--real", rs1.String())

	var rws []inspect.Rewrite
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		var rw inspect.Rewrite
		if err := json.Unmarshal(sc.Bytes(), &rw); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		rws = append(rws, rw)
	}
	if len(rws) != want {
		t.Fatalf("%d records, want %d:\n%s", len(rws), want, out)
	}
	inbound, replies := 0, 0
	for i := range rws {
		rw := &rws[i]
		d := rw.Decision
		if d.Service != svc || d.Real != rs1.String() || d.Method != "NAT" || rw.Drop != "" || len(rw.After) != 1 {
			t.Errorf("record %d: decision %+v, drop %q, %d after frames", rw.Packet, d, rw.Drop, len(rw.After))
			continue
		}
		before, after := &rw.Before, &rw.After[0]
		bsrc, _ := field(before, "ip.src", false)
		bdst, _ := field(before, "ip.dst", false)
		asrc, _ := field(after, "ip.src", false)
		adst, _ := field(after, "ip.dst", false)
		switch before.Interface {
		case inspect.IfaceClient: // client -> VIP becomes client -> rs1
			inbound++
			if bsrc.Value != client.String() || bdst.Value != vip.String() || adst.Value != rs1.Addr().String() ||
				adst.Status != "changed" || adst.Old != vip.String() || asrc.Status != "" || after.Interface != inspect.IfaceReals {
				t.Errorf("record %d (inbound): before %s -> %s, after %s -> %s (%s, old %s) on %s",
					rw.Packet, bsrc.Value, bdst.Value, asrc.Value, adst.Value, adst.Status, adst.Old, after.Interface)
			}
		case inspect.IfaceReals: // rs1 -> client becomes VIP -> client
			replies++
			if bsrc.Value != rs1.Addr().String() || asrc.Value != vip.String() || asrc.Status != "changed" ||
				adst.Value != client.String() || after.Interface != inspect.IfaceClient {
				t.Errorf("record %d (reply): before %s -> %s, after %s -> %s on %s", rw.Packet, bsrc.Value, bdst.Value, asrc.Value, adst.Value, after.Interface)
			}
		default:
			t.Errorf("record %d: interface %q", rw.Packet, before.Interface)
		}
		for _, k := range []string{"ip.checksum", "tcp.checksum"} {
			if f, _ := field(after, k, false); f.Check != "correct" {
				t.Errorf("record %d: after %s %s is %q", rw.Packet, k, f.Value, f.Check)
			}
		}
		if ttl, _ := field(after, "ip.ttl", false); ttl.Status != "changed" {
			t.Errorf("record %d: NAT did not decrement the TTL as recorded: %+v", rw.Packet, ttl)
		}
		if rw.Decision.Change == "" || rw.Time.IsZero() {
			t.Errorf("record %d: change %q, time %v", rw.Packet, rw.Decision.Change, rw.Time)
		}
	}
	if inbound == 0 || replies == 0 {
		t.Errorf("%d inbound records and %d NAT replies; want both", inbound, replies)
	}

	// A filter nothing matches yields nothing, and the trace ends at its
	// duration; the director keeps forwarding meanwhile.
	miss := exec.Command(ulvsBinary, "trace", "--admin-socket", tp.adminSock, "--json", "--client", "192.0.2.1", "--duration", "1s")
	go func() {
		for range 5 {
			tp.httpGet()
		}
	}()
	if out, err := miss.Output(); err != nil || len(out) != 0 {
		t.Errorf("trace with a filter that misses: %v, output %q", err, out)
	}

	// pcapng for Wireshark: before and after frames, each with a comment.
	file := filepath.Join(t.TempDir(), "trace.pcapng")
	traceWhileTraffic(t, tp, "--out", file, "-n", "4", "--service", svc)
	fields, err := exec.Command("tshark", "-r", file, "-T", "fields", "-e", "frame.interface_name", "-e", "frame.comment").Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v", file, err)
	}
	lines := strings.Split(strings.TrimSpace(string(fields)), "\n")
	if len(lines) != 8 {
		t.Errorf("tshark read %d frames, want 8 (4 before, 4 after):\n%s", len(lines), fields)
	}
	for _, l := range lines {
		iface, comment, _ := strings.Cut(l, "\t")
		if (iface != "client" && iface != "real-server") || !strings.HasPrefix(comment, "ulvs packet ") {
			t.Errorf("tshark frame without the interface or comment: %q", l)
		}
	}
	if n, bad := tsharkBad(t, file); n != 8 || bad != "" {
		t.Errorf("tshark: %d frames; bad checksums or malformed:\n%s", n, bad)
	}
	tp.stop()
}
