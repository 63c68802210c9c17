package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ulvs/ulvs/bench"
	"golang.org/x/sys/unix"
)

// benchCmd runs `ulvs bench`: subjects side by side on a namespace
// topology, every delivered packet verified.
func benchCmd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	subjects := fs.String("subjects", "", "comma-separated subjects (default all): "+joinSubjects()+"; a ulvs mode as MODE@BINARY runs another build")
	pcap := fs.String("pcap", "", "replay this pcap or pcapng `FILE` instead of synthetic traffic")
	pace := fs.String("pace", "", "max, recorded (captures), xN (N times recorded), or packets per second (50k, 1.2M); default max, recorded for a capture")
	flows := fs.Int("flows", 1000, "synthetic: concurrent flows")
	sizes := fs.String("sizes", "60", "synthetic: frame sizes in bytes without FCS, round robin per flow (60 = 64 on the wire)")
	tcp := fs.Float64("tcp", 0, "synthetic: share of flows that are TCP (0..1)")
	newConns := fs.Float64("new-conns", 0, "synthetic: new TCP connections (single SYNs) per second on top")
	synFlood := fs.Bool("syn-flood", false, "synthetic: every packet a SYN from a fresh source port")
	dur := fs.Duration("duration", 3*time.Second, "measured window per subject")
	warm := fs.Duration("warmup", 300*time.Millisecond, "warmup before every window")
	runs := fs.Int("runs", 1, "windows per subject (interleaved; medians reported)")
	reals := fs.Int("reals", 4, "real servers")
	workers := fs.Int("workers", 1, "ulvs --workers")
	gomaxprocs := fs.Int("gomaxprocs", 0, "GOMAXPROCS for ulvs (0: runtime default)")
	countOnly := fs.Bool("count-only", false, "count delivered packets at the real servers' ingress without reading them: the generator keeps its CPU, but nothing is verified and latency is not measured")
	interleave := fs.Duration("interleave", 0, "after the windows, run every ulvs subject at the same time as the null forwarder on a twin topology and feed them in turns of this `length` (400ms is a good start; needs --count-only): the steadiest ratio on a host whose speed drifts")
	rounds := fs.Int("rounds", bench.DefaultRounds, "--interleave: turns per subject")
	noPin := fs.Bool("no-pin", false, "do not pin generator/sinks and subject to CPUs 0 and 1")
	jsonOut := fs.String("json", "", "write the full report as JSON to `FILE` (- for stdout instead of the table)")
	svg := fs.String("svg", "", "write a plot to `FILE` (SVG): throughput and latency per subject; with --latency-sweep latency against load; with --http/--bulk a bar per subject and test")
	binary := fs.String("binary", "", "ulvs binary for the ulvs subjects (default: this executable)")
	httpTest := fs.Bool("http", false, "closed-loop HTTP instead: wrk against nginx on the real servers, keep-alive and a new connection per request, through ulvs NAT and kernel DNAT (default subjects); requests/s and ratios")
	bulk := fs.Bool("bulk", false, "closed-loop bulk TCP instead (with --http: as well): iperf3 with MTU-sized frames to one real server through ulvs NAT and kernel DNAT; Gbit/s and ratios")
	conns := fs.String("conns", "4,32", "--http: comma-separated connection counts")
	streams := fs.String("streams", "1,4", "--bulk: comma-separated parallel stream counts")
	sweep := fs.String("latency-sweep", "", "measure latency (p50, p99, p99.9) of every subject at each of these comma-separated offered `rates` (e.g. idle,1k,10k,100k,max; idle: one packet per window) instead; --svg plots latency against load")
	fs.Parse(args)
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	var c bench.Config
	var err error
	if *pcap != "" {
		c.Traffic, err = bench.LoadPcap(*pcap)
		c.Pace = bench.Pace{Mode: bench.PaceRecorded, Speed: 1}
	} else {
		var sz []int
		for _, s := range strings.Split(*sizes, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("--sizes %q: want comma-separated byte counts such as 60,1500", *sizes)
			}
			sz = append(sz, v)
		}
		c.Traffic, err = bench.Synthetic(bench.SyntheticSpec{Flows: *flows, Sizes: sz, TCPShare: *tcp, NewConnRate: *newConns, SYNFlood: *synFlood})
	}
	if err != nil {
		return err
	}
	if *pace != "" {
		if c.Pace, err = bench.ParsePace(*pace); err != nil {
			return err
		}
	}
	if *subjects != "" {
		for _, s := range strings.Split(*subjects, ",") {
			c.Subjects = append(c.Subjects, bench.Subject(strings.TrimSpace(s)))
		}
	}
	c.Binary = *binary
	if c.Binary == "" {
		if c.Binary, err = os.Executable(); err != nil {
			return err
		}
	}
	c.Duration, c.Warmup, c.Runs, c.Reals, c.Workers, c.GOMAXPROCS, c.NoPin = *dur, *warm, *runs, *reals, *workers, *gomaxprocs, *noPin
	c.CountOnly = *countOnly
	c.Interleave, c.Rounds = *interleave, *rounds
	n := len(c.Subjects)
	if n == 0 {
		n = len(bench.AllSubjects())
	}
	if isTerminal(os.Stderr) && time.Duration(n**runs)*(*dur) > 3*time.Second {
		c.Progress = func(p bench.Progress) {
			fmt.Fprintf(os.Stderr, "\r\033[K[%d/%d] %-16s run %d  %4.1f/%.0fs  sent %d",
				p.Index, p.Of, p.Subject, p.Run, p.Elapsed.Seconds(), p.Window.Seconds(), p.Sent)
			if !c.CountOnly {
				fmt.Fprintf(os.Stderr, "  read-so-far %d", p.Delivered)
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *sweep != "" {
		if *httpTest || *bulk {
			return errors.New("--latency-sweep and --http/--bulk are separate runs; give one of them")
		}
		return sweepCmd(ctx, c, *sweep, *pace, *jsonOut, *svg, out)
	}
	if *httpTest || *bulk {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["reals"] {
			c.Reals = 0 // RunClosedLoop's default
		}
		return closedLoopCmd(ctx, c, bench.ClosedLoop{HTTP: *httpTest, Bulk: *bulk}, *conns, *streams, *jsonOut, *svg, out)
	}
	rep, err := bench.Run(ctx, c)
	if c.Progress != nil {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
	if err != nil {
		return err
	}
	return writeReport(rep, *jsonOut, *svg, out)
}

func joinSubjects() string {
	var s []string
	for _, x := range bench.AllSubjects() {
		s = append(s, string(x))
	}
	return strings.Join(s, ",")
}

// isTerminal reports whether f is a terminal (for the progress line).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
