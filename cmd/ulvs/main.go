// Command ulvs is a userspace Linux Virtual Server director: it reads a
// keepalived.conf and forwards traffic for its virtual services with NAT, DR
// or TUN over AF_PACKET sockets, without the ip_vs kernel module.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/ulvs/ulvs/internal/config"
	"github.com/ulvs/ulvs/internal/daemon"
	"github.com/ulvs/ulvs/internal/demo"
	"github.com/ulvs/ulvs/internal/logging"
	"github.com/ulvs/ulvs/internal/preflight"
	"github.com/ulvs/ulvs/internal/tunnel"
)

const usage = `usage: ulvs <command> [flags]

commands:
  run        forward for the virtual servers of a keepalived.conf (-f FILE); SIGHUP reloads it
  list       show the running director the way ipvsadm -Ln shows IPVS (--stats, --rate, -c, --json, ...)
  admin      change the running director: services, real servers, weights, drains, counters, reload
  check-config  test a keepalived.conf (also: ulvs -t -f FILE); exit 0 ok, 4 cannot run, 5 runs with warnings
  preflight  check this host for a keepalived.conf and print what each real server needs
  tunnel     real-server side of TUN without the ipip module: decapsulate IPIP into the local stack
  demo       build a namespace topology and show NAT, DR and TUN at work
  inspect    show field by field how NAT, DR or TUN rewrites a packet (described, or from a capture)
  simulate   which real server a flow gets, the spread of N flows, and how many move on a change
  trace      watch the running director rewrite: sampled frames before and after, filtered (as inspect shows them)
  bench      measure ulvs NAT/DR/TUN against a null forwarder and nftables DNAT, every packet verified;
             --latency-sweep: latency against load; --http, --bulk: wrk/nginx and iperf3 through NAT
  version    print the version

Run 'ulvs <command> -h' for a command's flags.
`

var version = "dev"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	if isConfigTest(os.Args[1:]) {
		// keepalived's spelling: ulvs -f FILE -t.
		cmd, args = "check-config", withoutTestFlag(os.Args[1:])
	}
	var err error
	switch cmd {
	case "run":
		err = runCmd(args)
	case "preflight":
		err = preflightCmd(args, os.Stdout)
	case "tunnel":
		err = tunnelCmd(args)
	case "demo":
		err = demoCmd(args)
	case "inspect":
		err = inspectCmd(args, os.Stdout)
	case "simulate":
		err = simulateCmd(args, os.Stdout)
	case "trace":
		err = traceCmd(args, os.Stdout, os.Stderr)
	case "bench":
		err = benchCmd(args, os.Stdout)
	case "list":
		err = listCmd(args, os.Stdout)
	case "admin":
		err = adminCmd(args, os.Stdout)
	case "check-config", "-t", "--config-test":
		err = checkConfigCmd(args, os.Stdout, os.Stderr)
	case "version", "-v", "--version":
		fmt.Println("ulvs", version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "ulvs: unknown command %q\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		var ex exitCode
		if errors.As(err, &ex) {
			os.Exit(int(ex))
		}
		fmt.Fprintf(os.Stderr, "ulvs %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

// exitCode ends the program with a status and no further message.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newLogger(level string) *slog.Logger { return newFormatLogger(level, "text") }

// newFormatLogger logs text or JSON to stderr; repeated messages are
// rate-limited (see logging.Limit).
func newFormatLogger(level, format string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	o := &slog.HandlerOptions{Level: l}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, o)
	if format == "json" {
		h = slog.NewJSONHandler(os.Stderr, o)
	}
	return slog.New(logging.Limit(h, logging.DefaultBurst, logging.DefaultWindow))
}

// directorFlags are the flags run and preflight share.
type directorFlags struct {
	opts      daemon.Options
	logLevel  string
	logFormat string
}

func (f *directorFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.opts.ConfigPath, "f", "/etc/keepalived/keepalived.conf", "keepalived.conf to read")
	fs.BoolVar(&f.opts.Strict, "strict", false, "treat config warnings as errors")
	fs.StringVar(&f.opts.ClientIface, "client-iface", "", "interface clients reach the VIPs on (default: from the routing table)")
	fs.StringVar(&f.opts.RealIface, "real-iface", "", "interface towards the real servers (default: from the routing table)")
	fs.IntVar(&f.opts.Workers, "workers", 0, "packet workers per interface (default: one per CPU)")
	fs.StringVar(&f.opts.IO, "io", "", "packet I/O: ring (AF_PACKET rings, default) or plain (one syscall per packet, for debugging)")
	fs.BoolVar(&f.opts.NoKernelDrop, "no-kernel-drop", false, "do not install nftables ingress rules that keep the kernel off forwarded traffic")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "text or json")
}

func runCmd(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	var f directorFlags
	f.register(fs)
	fs.BoolVar(&f.opts.Force, "force", false, "start even when preflight finds problems")
	stats := fs.Bool("stats", true, "print the counters as JSON on stdout when stopping")
	fs.StringVar(&f.opts.AdminSocket, "admin-socket", "", "admin API socket (default: admin_socket of the ulvs block, else "+config.DefaultAdminSocket+"); none turns it off")
	fs.StringVar(&f.opts.MetricsListen, "metrics-listen", "", "serve Prometheus /metrics on host:port (default: metrics_listen of the ulvs block); none turns it off")
	cpuprofile := fs.String("cpuprofile", "", "write a Go CPU profile of the whole run to `FILE` (for benchmarks)")
	fs.Parse(args)
	log := newFormatLogger(f.logLevel, f.logFormat)
	if *cpuprofile != "" {
		stopProfile, err := startCPUProfile(*cpuprofile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	f.opts.Logger = log
	daemon.Version = version
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	d, err := daemon.Load(f.opts)
	if err != nil {
		return err
	}
	for _, fd := range d.Findings() {
		switch fd.Severity {
		case preflight.Warn, preflight.Error:
			log.Warn("preflight", "check", fd.Check, "problem", fd.Message, "fix", fd.Fix)
		}
	}
	ctx, stop := drainContext(d, log)
	defer stop()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading", "file", f.opts.ConfigPath)
				d.Reload() // logs its own result; a failed reload keeps the running configuration
			}
		}
	}()
	err = d.Run(ctx)
	if *stats {
		json.NewEncoder(os.Stdout).Encode(d.Report())
	}
	if err == nil {
		log.Info("ulvs stopped")
	}
	return err
}

// startCPUProfile starts a pprof CPU profile into path; the returned
// function stops it and closes the file.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func preflightCmd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("preflight", flag.ExitOnError)
	var f directorFlags
	f.register(fs)
	fs.Parse(args)
	f.opts.Logger = newLogger(f.logLevel)
	d, err := daemon.Load(f.opts)
	if err != nil {
		return err
	}
	client, reals := d.Interfaces()
	if client == "" {
		fmt.Fprintln(out, "VRRP only: no virtual_server to forward, so no packet loop and nothing to check")
		return nil
	}
	fmt.Fprintf(out, "interfaces: clients on %s, real servers on %s\n\n", client, reals)
	for _, fd := range d.Findings() {
		fmt.Fprintln(out, fd)
	}
	fmt.Fprintln(out, "\nWhat each real server needs:")
	for _, c := range preflight.RealServerCommands(d.Setup(), d.RealsAddr()) {
		fmt.Fprintln(out, c)
	}
	if preflight.Worst(d.Findings()) == preflight.Error {
		return exitCode(1)
	}
	return nil
}

func tunnelCmd(args []string) error {
	fs := flag.NewFlagSet("tunnel", flag.ExitOnError)
	var cfg tunnel.Config
	fs.StringVar(&cfg.Interface, "i", "", "interface the IPIP packets arrive on (required)")
	fs.StringVar(&cfg.TunName, "tun", "", "name of the TUN device inner packets go through (default ulvstun0)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	fs.Parse(args)
	if cfg.Interface == "" {
		return errors.New("name the interface IPIP packets arrive on with -i")
	}
	cfg.Logger = newLogger(*level)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return tunnel.Run(ctx, cfg)
}

func demoCmd(args []string) error {
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	var o demo.Options
	fs.IntVar(&o.Requests, "requests", 60, "HTTP requests per method")
	fs.BoolVar(&o.Verbose, "v", false, "show the director's log")
	fs.Parse(args)
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	o.Binary = exe
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return demo.Run(ctx, os.Stdout, o)
}
