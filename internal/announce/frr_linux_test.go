package announce_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ulvs/ulvs/internal/announce"
	"github.com/ulvs/ulvs/internal/netns"
	"github.com/ulvs/ulvs/internal/netns/netnstest"
)

// The FRR tests run the speaker in a director namespace: GoBGP opens its
// sockets from goroutines on any thread, so the whole process must be in
// the namespace. The test binary re-executes itself there (ip netns exec)
// with helperEnv set, and drives it over stdin.
const helperEnv = "ULVS_ANNOUNCE_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(speakerMain())
	}
	os.Exit(m.Run())
}

// speakerMain runs a Controller on GoBGP with one neighbour from the
// environment and obeys stdin: "up VIP...", "drain", "undrain",
// "status" (answers one JSON line) until EOF.
func speakerMain() int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	as, _ := strconv.ParseUint(os.Getenv("BGP_LOCAL_AS"), 10, 32)
	ras, _ := strconv.ParseUint(os.Getenv("BGP_REMOTE_AS"), 10, 32)
	hold, _ := time.ParseDuration(os.Getenv("BGP_HOLD"))
	sp, err := announce.StartGoBGP(uint32(as), netip.MustParseAddr(os.Getenv("BGP_ROUTER_ID")), log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer sp.Close()
	if err := sp.SetNeighbors([]announce.Neighbor{{Addr: netip.MustParseAddr(os.Getenv("BGP_NEIGHBOR")),
		RemoteAS: uint32(ras), HoldTime: hold, Password: os.Getenv("BGP_PASSWORD")}}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c := announce.NewController(sp, log)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "up", "down":
			var in announce.Input
			for _, v := range f[1:] {
				in.Services = append(in.Services, announce.Service{VIP: netip.MustParseAddr(v), Up: f[0] == "up"})
			}
			err = c.Update(in)
		case "drain":
			err = c.Drain()
		case "undrain":
			err = c.Undrain()
		case "status":
			b, _ := json.Marshal(c.Status())
			fmt.Println(string(b))
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("ok")
	}
	return 0
}

// speaker is a helper process in a director namespace.
type speaker struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func startSpeaker(t *testing.T, ns *netns.NS, env ...string) *speaker {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns.Name, os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), helperEnv+"=1"), env...)
	cmd.Stderr = &testWriter{t: t, prefix: ns.Name + ": "}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &speaker{cmd: cmd, in: in, out: bufio.NewReader(out)}
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return s
}

// do sends one command and returns its answer lines.
func (s *speaker) do(t *testing.T, line string) string {
	t.Helper()
	if _, err := fmt.Fprintln(s.in, line); err != nil {
		t.Fatalf("speaker %q: %v", line, err)
	}
	var got []string
	for {
		l, err := s.out.ReadString('\n')
		if err != nil {
			t.Fatalf("speaker %q: %v (it exited?)", line, err)
		}
		l = strings.TrimSpace(l)
		if l == "ok" {
			return strings.Join(got, "\n")
		}
		got = append(got, l)
	}
}

func (s *speaker) status(t *testing.T) announce.Status {
	t.Helper()
	var st announce.Status
	if err := json.Unmarshal([]byte(s.do(t, "status")), &st); err != nil {
		t.Fatalf("status: %v", err)
	}
	return st
}

type testWriter struct {
	t      *testing.T
	prefix string
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(w.prefix + strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// nexthops returns the gateways of dst's route in the router's kernel
// table (zebra installed it from bgpd), sorted; nil when there is none.
func nexthops(t *testing.T, router *netns.NS, dst string) []string {
	t.Helper()
	out, err := router.Exec(context.Background(), "ip", "-j", "route", "show", dst)
	if err != nil {
		t.Fatalf("ip route: %v: %s", err, out)
	}
	var routes []struct {
		Gateway  string `json:"gateway"`
		Nexthops []struct {
			Gateway string `json:"gateway"`
		} `json:"nexthops"`
	}
	if err := json.Unmarshal(out, &routes); err != nil {
		t.Fatalf("ip -j route: %v: %s", err, out)
	}
	var gws []string
	for _, r := range routes {
		if r.Gateway != "" {
			gws = append(gws, r.Gateway)
		}
		for _, n := range r.Nexthops {
			gws = append(gws, n.Gateway)
		}
	}
	slices.Sort(gws)
	return gws
}

// waitNexthops waits up to 30 s for dst's gateways to be want.
func waitNexthops(t *testing.T, router *netns.NS, frr *netns.FRR, dst string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := nexthops(t, router, dst)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			summary, _ := frr.VTY(context.Background(), "show bgp summary", "show ip bgp")
			t.Fatalf("route %s via %v after 30 s, want via %v\n%s", dst, got, want, summary)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFRRInterop: two directors peer with FRR (eBGP, TCP MD5, 3 s hold
// time); the VIP's route in the router's kernel table follows their
// decisions: multipath while both announce, one path when one is down
// or drained, gone when neither announces; tshark decodes the session.
func TestFRRInterop(t *testing.T) {
	if !netns.IsRoot() {
		t.Skip("needs root: creates network namespaces and runs FRR")
	}
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Fatal("tshark is missing: apt-get install tshark (make deps does it)")
	}
	env := netnstest.ForTest(t)
	router, err := env.Add("router")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []*netns.NS
	for i := range 2 {
		d, err := env.Add(fmt.Sprintf("dir%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if err := env.Veth(router, fmt.Sprintf("r%d", i), d, "up0"); err != nil {
			t.Fatal(err)
		}
		if err := router.AddrAdd(fmt.Sprintf("r%d", i), fmt.Sprintf("10.99.%d.1/24", i)); err != nil {
			t.Fatal(err)
		}
		if err := d.AddrAdd("up0", fmt.Sprintf("10.99.%d.2/24", i)); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	frr, err := router.StartFRR(`frr defaults datacenter
router bgp 65000
 bgp router-id 10.99.0.1
 no bgp ebgp-requires-policy
 neighbor 10.99.0.2 remote-as 65001
 neighbor 10.99.0.2 password s3cret
 neighbor 10.99.0.2 timers 1 3
 neighbor 10.99.1.2 remote-as 65001
 neighbor 10.99.1.2 password s3cret
 neighbor 10.99.1.2 timers 1 3
 address-family ipv4 unicast
  maximum-paths 8
 exit-address-family
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
	pcap := filepath.Join(t.TempDir(), "bgp.pcap")
	capture, err := router.Start("tshark", "-i", "r0", "-f", "tcp port 179", "-w", pcap)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(capture.Output(), "Capturing on"); {
		if time.Now().After(deadline) {
			t.Fatalf("tshark did not start capturing within 20 s:\n%s", capture.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}

	var sps []*speaker
	for i, d := range dirs {
		sps = append(sps, startSpeaker(t, d, "BGP_LOCAL_AS=65001", fmt.Sprintf("BGP_ROUTER_ID=10.99.%d.2", i),
			fmt.Sprintf("BGP_NEIGHBOR=10.99.%d.1", i), "BGP_REMOTE_AS=65000", "BGP_HOLD=3s", "BGP_PASSWORD=s3cret"))
	}
	const vip = "192.0.2.1"
	for _, s := range sps {
		s.do(t, "up "+vip)
	}
	waitNexthops(t, router, frr, vip, "10.99.0.2", "10.99.1.2")
	for i, s := range sps {
		st := s.status(t)
		if len(st.Neighbors) != 1 || st.Neighbors[0].State != "established" || st.Neighbors[0].Up.IsZero() {
			t.Errorf("director %d: neighbours %+v, want one established with an uptime", i, st.Neighbors)
		}
		if len(st.Prefixes) != 1 || !st.Prefixes[0].Announced || st.Prefixes[0].Reason != "healthy" {
			t.Errorf("director %d: prefixes %+v, want %s/32 announced (healthy)", i, st.Prefixes, vip)
		}
	}

	sps[0].do(t, "down "+vip) // its real servers failed their checks
	waitNexthops(t, router, frr, vip, "10.99.1.2")
	sps[0].do(t, "up "+vip)
	waitNexthops(t, router, frr, vip, "10.99.0.2", "10.99.1.2")
	sps[1].do(t, "drain")
	waitNexthops(t, router, frr, vip, "10.99.0.2")
	if st := sps[1].status(t); !st.Drained || st.Prefixes[0].Announced || st.Prefixes[0].Reason != "drained" {
		t.Errorf("drained director's status: %+v", st)
	}
	sps[1].do(t, "undrain")
	waitNexthops(t, router, frr, vip, "10.99.0.2", "10.99.1.2")
	for _, s := range sps {
		s.do(t, "down "+vip)
	}
	waitNexthops(t, router, frr, vip)

	time.Sleep(1500 * time.Millisecond) // at least one more KEEPALIVE each way
	_ = capture.Stop()
	checkCapture(t, pcap)
}

// checkCapture has tshark decode the session on r0: OPEN, UPDATE and
// KEEPALIVE from the director (10.99.0.2), nothing malformed.
func checkCapture(t *testing.T, pcap string) {
	t.Helper()
	out, err := exec.Command("tshark", "-r", pcap, "-Y", "bgp && ip.src == 10.99.0.2", "-T", "fields", "-e", "bgp.type").Output()
	if err != nil {
		t.Fatalf("tshark: %v: %s", err, out)
	}
	types := map[string]int{}
	for _, line := range strings.Fields(string(out)) {
		for _, ty := range strings.Split(line, ",") {
			types[ty]++
		}
	}
	// 1 OPEN, 2 UPDATE, 4 KEEPALIVE (RFC 4271 4.1).
	for ty, name := range map[string]string{"1": "OPEN", "2": "UPDATE", "4": "KEEPALIVE"} {
		if types[ty] == 0 {
			t.Errorf("no %s from the director decoded; message types seen: %v", name, types)
		}
	}
	bad, err := exec.Command("tshark", "-r", pcap, "-Y", "_ws.malformed || _ws.expert.severity >= error").Output()
	if err != nil {
		t.Fatalf("tshark: %v: %s", err, bad)
	}
	if s := strings.TrimSpace(string(bad)); s != "" {
		t.Errorf("tshark finds malformed or erroneous packets:\n%s", s)
	}
	t.Logf("director's BGP messages decoded by tshark: %v", types)
}
