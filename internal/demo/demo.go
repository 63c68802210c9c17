// Package demo is `ulvs demo`: it builds the standard namespace topology
// (a client, a director, three real servers running HTTP servers), runs the
// real ulvs binary as the director in NAT, then DR, then TUN, sends HTTP
// requests from the client and reports which real server answered how often
// next to what the scheduler promises, with the director's counters.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/internal/netns"
	"github.com/ulvs/ulvs/internal/report"
)

// Options tune the demo.
type Options struct {
	// Binary is the ulvs executable run as the director and the TUN
	// decapsulator.
	Binary string
	// Requests is the number of HTTP requests per method; a multiple of
	// the weight sum (6) makes the expected split exact.
	Requests int
	// Verbose prints the director's log after each method.
	Verbose bool
}

// Weights are the demo's wrr weights for its three real servers.
var Weights = []uint32{3, 2, 1}

// Run runs the demo and writes its report to out. It returns an error if any
// method failed to deliver every request or the split was off.
func Run(ctx context.Context, out io.Writer, o Options) error {
	if !netns.IsRoot() {
		return errors.New("the demo builds network namespaces and needs root (sudo make demo)")
	}
	if o.Requests <= 0 {
		o.Requests = 60
	}
	env, err := netns.NewEnv(nil)
	if err != nil {
		return err
	}
	defer env.Close()
	lvs, err := netns.NewLVS(env, netns.Options{Reals: len(Weights)})
	if err != nil {
		return fmt.Errorf("building the topology: %w", err)
	}
	for i, r := range lvs.Reals {
		if err := ServeHTTP(r.NS, fmt.Sprintf("rs%d", i+1)); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "ulvs-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	fmt.Fprintf(out, "ulvs demo: client %v -> VIP %v:80 (wrr %v) -> real servers %s\n",
		lvs.Client.Dev.Addr.Addr(), lvs.VIP, Weights, realList(lvs))
	fmt.Fprintf(out, "director namespace %s: %s faces the client, %s the real servers\n\n",
		lvs.Director.Name, lvs.Front.Name, lvs.Back.Name)

	var failed []string
	for _, m := range []balancer.Method{balancer.NAT, balancer.DR, balancer.TUN} {
		res, err := RunMethod(ctx, lvs, o, dir, m)
		if err != nil {
			fmt.Fprintf(out, "%v: FAILED: %v\n\n", m, err)
			failed = append(failed, m.String())
			continue
		}
		res.Print(out)
		if !res.OK() {
			failed = append(failed, m.String())
		}
		if o.Verbose {
			fmt.Fprintf(out, "--- director log (%v)\n%s\n", m, res.Log)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("demo failed for %s", strings.Join(failed, ", "))
	}
	fmt.Fprintln(out, "all methods delivered every request with the split wrr promises; namespaces removed")
	return nil
}

// Result is what one method's run produced.
type Result struct {
	Method   balancer.Method
	Requests int
	Answered map[string]int // real server name -> answers
	Expected map[string]int
	Errors   int
	Report   report.Report
	Log      string
}

// OK reports whether every request was answered with the expected split.
func (r *Result) OK() bool {
	if r.Errors > 0 {
		return false
	}
	for k, v := range r.Expected {
		if r.Answered[k] != v {
			return false
		}
	}
	return true
}

// Print writes the method's section of the report.
func (r *Result) Print(out io.Writer) {
	status := "ok"
	if !r.OK() {
		status = "MISMATCH"
	}
	fmt.Fprintf(out, "%v (%s): %d requests, %d failed: %s\n", r.Method, methodBlurb(r.Method), r.Requests, r.Errors, status)
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  real\tweight\tanswered\texpected\tconns\tin pkts\tout pkts\t")
	byAddr := map[string]report.Real{}
	for _, s := range r.Report.Services {
		for _, rr := range s.Reals {
			byAddr[rr.Addr] = rr
		}
	}
	for i, w := range Weights {
		name := fmt.Sprintf("rs%d", i+1)
		rr := byAddr[netip.AddrPortFrom(netns.RealAddr(i).Addr(), 80).String()]
		out := "-"
		if r.Method == balancer.NAT {
			out = fmt.Sprint(rr.OutPkts)
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%d\t%s\t\n", name, w, r.Answered[name], r.Expected[name], rr.Conns, rr.InPkts, out)
	}
	tw.Flush()
	l := r.Report.Loop
	fmt.Fprintf(out, "  director: %d frames in, %d out, %d ARP replies; drops: %s\n\n", l.RxFrames, l.TxFrames, l.ARPReplies, l.DropSummary())
}

func methodBlurb(m balancer.Method) string {
	switch m {
	case balancer.NAT:
		return "destination rewritten, replies return through the director"
	case balancer.DR:
		return "only the MAC changes, real servers answer the client directly"
	default:
		return "IPIP-encapsulated, decapsulated by `ulvs tunnel` on each real server"
	}
}

// Config returns the keepalived.conf the demo runs for a method: a plain
// keepalived file, no ulvs-specific lines (interfaces come from routes).
func Config(vip netip.Addr, m balancer.Method) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n    router_id ulvs_demo\n}\n\nvirtual_server %v 80 {\n    delay_loop 6\n    lb_algo wrr\n    lb_kind %v\n    protocol TCP\n", vip, m)
	for i, w := range Weights {
		fmt.Fprintf(&b, "\n    real_server %v 80 {\n        weight %d\n    }\n", netns.RealAddr(i).Addr(), w)
	}
	b.WriteString("}\n")
	return b.String()
}

// RunMethod runs the director for one method and sends the requests.
func RunMethod(ctx context.Context, lvs *netns.LVS, o Options, dir string, m balancer.Method) (*Result, error) {
	if err := lvs.ConfigureReals(m); err != nil {
		return nil, err
	}
	if m == balancer.TUN {
		for _, r := range lvs.Reals {
			p, err := r.NS.Start(o.Binary, "tunnel", "-i", r.Dev.Name)
			if err != nil {
				return nil, err
			}
			defer p.Stop()
		}
	}
	conf := filepath.Join(dir, fmt.Sprintf("keepalived-%v.conf", m))
	if err := os.WriteFile(conf, []byte(Config(lvs.VIP, m)), 0o644); err != nil {
		return nil, err
	}
	proc, err := lvs.Director.Start(o.Binary, "run", "-f", conf)
	if err != nil {
		return nil, err
	}
	defer proc.Stop()

	client := HTTPClient(lvs.Client.NS, PortSequence(30000+1000*int(m)))
	url := fmt.Sprintf("http://%v/", netip.AddrPortFrom(lvs.VIP, 80))
	if err := waitReady(ctx, client, url, proc); err != nil {
		return nil, err
	}
	res := &Result{Method: m, Requests: o.Requests, Answered: map[string]int{}, Expected: map[string]int{}}
	sum := uint32(0)
	for _, w := range Weights {
		sum += w
	}
	for i, w := range Weights {
		res.Expected[fmt.Sprintf("rs%d", i+1)] = o.Requests * int(w) / int(sum)
	}
	for range o.Requests {
		name, err := get(ctx, client, url)
		if err != nil {
			res.Errors++
			continue
		}
		res.Answered[name]++
	}
	proc.Stop()
	res.Log = proc.Output()
	res.Report, err = report.Parse(res.Log)
	if err != nil {
		return res, err
	}
	return res, nil
}

// waitReady polls the VIP until a request succeeds, the director exits or
// ten seconds pass.
func waitReady(ctx context.Context, c *http.Client, url string, proc *netns.Proc) error {
	deadline := time.Now().Add(10 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-proc.Done():
			return fmt.Errorf("director exited:\n%s", proc.Output())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if _, last = get(ctx, c, url); last == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no answer from %s within 10s (%v); director log:\n%s", url, last, proc.Output())
}

func get(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// HTTPClient returns a client whose connections are made from inside ns, one
// connection per request, with a short timeout; srcPort picks each
// connection's source port (nil: ephemeral).
func HTTPClient(ns *netns.NS, srcPort func() int) *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second, // above the 1 s SYN retransmit, for loaded machines
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext:       DialFrom(ns, srcPort),
		},
	}
}

// DialIn returns a DialContext that creates its sockets inside ns.
func DialIn(ns *netns.NS) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return DialFrom(ns, nil)
}

// DialFrom is DialIn with the source port of each connection taken from
// srcPort (nil or 0 means an ephemeral port).
//
// Distribution checks use fresh source ports: a client that reuses an
// ephemeral port while the director still holds the old connection (DR
// entries linger in FIN_WAIT for 120 s) rightly follows it to the same real
// server, as IPVS with conn_reuse_mode=1 does.
func DialFrom(ns *netns.NS, srcPort func() int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := ns.Do(func() error {
			var err error
			var d net.Dialer
			if srcPort != nil {
				if p := srcPort(); p != 0 {
					d.LocalAddr = &net.TCPAddr{Port: p}
				}
			}
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// PortSequence returns a generator of source ports from first upwards.
func PortSequence(first int) func() int {
	var mu sync.Mutex
	next := first
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		next++
		return next - 1
	}
}

// ServeHTTP starts an HTTP server on port 80 inside ns that answers every
// request with name. It stops when the namespace is removed.
func ServeHTTP(ns *netns.NS, name string) error {
	var ln net.Listener
	if err := ns.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", ":80")
		return err
	}); err != nil {
		return fmt.Errorf("HTTP server %s: %w", name, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, name)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return nil
}

func realList(lvs *netns.LVS) string {
	var s []string
	for i := range lvs.Reals {
		s = append(s, fmt.Sprintf("rs%d=%v", i+1, netns.RealAddr(i).Addr()))
	}
	return strings.Join(s, " ")
}
