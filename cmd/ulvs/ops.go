package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/internal/admin"
	"github.com/ulvs/ulvs/internal/config"
	"github.com/ulvs/ulvs/internal/status"
)

// isConfigTest reports keepalived's "-f FILE -t" form.
func isConfigTest(args []string) bool {
	if len(args) == 0 || !strings.HasPrefix(args[0], "-") {
		return false
	}
	return slices.Contains(args, "-t") || slices.Contains(args, "--config-test")
}

func withoutTestFlag(args []string) []string {
	return slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == "-t" || a == "--config-test" })
}

// Exit codes of keepalived --config-test, as keepalived 2.2 returns them
// (lib/scheduler.h, chk_exit_code; its manual page says 3 and 4, but the
// program exits 4 for a file it cannot run and 5 for one it runs after
// dropping or correcting lines: TestKeepalivedParity checks both).
const (
	exitConfigOK       = 0
	exitConfigCannot   = 4 // the configuration cannot be run
	exitConfigWarnings = 5 // errors (warnings) found, but ulvs would run
)

// checkConfigCmd is ulvs check-config / ulvs -t: parse, convert and build
// the table exactly as run does, without touching the network.
func checkConfigCmd(args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("check-config", flag.ExitOnError)
	path := fs.String("f", "/etc/keepalived/keepalived.conf", "keepalived.conf to test")
	strict := fs.Bool("strict", false, "treat warnings as errors")
	var id string
	fs.StringVar(&id, "i", "", "config id for @id conditional lines (default: the host name up to its first dot)")
	fs.StringVar(&id, "config-id", "", "same as -i (keepalived's long form)")
	fs.Parse(args)
	cfg, warns, err := config.Load(*path, config.Options{Strict: *strict, ConfigID: id})
	for _, w := range warns {
		fmt.Fprintln(errOut, "warning:", w.String())
	}
	if err != nil {
		fmt.Fprintln(errOut, err)
		return exitCode(exitConfigCannot)
	}
	for _, w := range unrunCheckers(cfg) {
		warns = append(warns, w)
		fmt.Fprintln(errOut, "warning:", w.String())
	}
	services, err := cfg.Services()
	if err == nil {
		var addr []balancer.ServiceConfig
		for _, s := range services {
			if s.Key.FWMark != 0 {
				warns = append(warns, config.Warning{Msg: s.Key.String() + ": fwmark services are skipped (AF_PACKET frames carry no marks)"})
				fmt.Fprintln(errOut, "warning:", s.Key.String()+": fwmark services are skipped; ulvs cannot see packet marks")
				continue
			}
			addr = append(addr, s)
		}
		switch {
		case len(addr) == 0 && len(cfg.VRRP.Instances) > 0:
			// A VRRP-only director (a gateway, a proxy's address):
			// keepalived runs it, and so does ulvs.
		case len(addr) == 0:
			// keepalived runs a file with nothing to do; ulvs says so
			// rather than refuse it.
			const msg = "no virtual_server with an address to serve and no vrrp_instance: ulvs would have nothing to do"
			warns = append(warns, config.Warning{Msg: msg})
			fmt.Fprintln(errOut, "warning:", msg)
		default:
			var tab *balancer.Table
			if tab, err = balancer.NewTable(nil, addr); err == nil {
				for _, w := range tab.Warnings() {
					warns = append(warns, config.Warning{Msg: w})
					fmt.Fprintln(errOut, "warning:", w)
				}
			}
		}
	}
	if err != nil {
		fmt.Fprintf(errOut, "%s: %v\n", *path, err)
		return exitCode(exitConfigCannot)
	}
	if len(warns) > 0 {
		fmt.Fprintf(out, "%s: %d warnings; ulvs would run\n", *path, len(warns))
		return exitCode(exitConfigWarnings)
	}
	fmt.Fprintf(out, "%s: ok (%d services)\n", *path, len(services))
	return nil
}

// unrunCheckers names the checker blocks the file has and ulvs does not
// run (config.RealHealth.Unsupported): the daemon logs them at start, and
// check-config must not call such a file "ok".
func unrunCheckers(cfg *config.Config) []config.Warning {
	var out []config.Warning
	for _, vs := range cfg.VirtualServers {
		for _, rs := range vs.Reals {
			if rs.Health == nil {
				continue
			}
			for _, n := range rs.Health.Unsupported {
				out = append(out, config.Warning{Pos: n.Pos, Keyword: n.Keyword,
					Msg: fmt.Sprintf("accepted but not run by ulvs: real server %v is not checked by it (its other checkers run)", rs.Addr)})
			}
		}
	}
	return out
}

// listCmd is ipvsadm -L for the running director.
func listCmd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("list", flag.ExitOnError)
	sock := fs.String("admin-socket", config.DefaultAdminSocket, "the running director's admin socket")
	fs.BoolVar(new(bool), "n", true, "numeric output (always on; accepted for ipvsadm habits)")
	stats := fs.Bool("stats", false, "counters: Conns InPkts OutPkts InBytes OutBytes")
	rate := fs.Bool("rate", false, "rates: CPS InPPS OutPPS InBPS OutBPS (IPVS-style 2 s EWMA)")
	exact := fs.Bool("exact", false, "whole numbers instead of K/M/G/T")
	conns := fs.Bool("c", false, "list connections (ipvsadm -Lnc)")
	timeout := fs.Bool("timeout", false, "print the tcp tcpfin udp timeouts")
	persist := fs.Bool("persistent-conn", false, "Weight PersistConn ActiveConn InActConn")
	thresh := fs.Bool("thresholds", false, "Uthreshold Lthreshold ActiveConn InActConn")
	healthView := fs.Bool("health", false, "health-check state: Forward Weight Health Checks, with failed servers and quorum")
	asJSON := fs.Bool("json", false, "print the status (or the connections with -c) as JSON")
	service := fs.String("t", "", "only this service (PROTO:ADDR:PORT, e.g. tcp:10.0.1.100:80)")
	fs.Parse(args)
	c := admin.NewClient(*sock)
	if *conns {
		cs, err := c.Conns(0)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(out, cs)
		}
		return status.WriteConns(out, cs)
	}
	snap, err := c.Status()
	if err != nil {
		return err
	}
	if *service != "" {
		k, err := admin.ParseService(*service)
		if err != nil {
			return err
		}
		snap.Services = slices.DeleteFunc(snap.Services, func(s status.Service) bool {
			return s.Proto != k.Proto.String() || s.Addr != k.Addr || s.Port != k.Port
		})
		if len(snap.Services) == 0 {
			return fmt.Errorf("no service %s", *service)
		}
	}
	if *asJSON {
		return writeJSON(out, snap)
	}
	if *timeout {
		return status.WriteTimeouts(out, snap.Timeouts)
	}
	opts := status.ListOptions{Exact: *exact}
	switch {
	case *stats:
		opts.Format = status.FormatStats
	case *healthView:
		opts.Format = status.FormatHealth
	case *rate:
		opts.Format = status.FormatRate
	case *thresh:
		opts.Format = status.FormatThresholds
	case *persist:
		opts.Format = status.FormatPersistentConn
	}
	if err := status.WriteList(out, snap, opts); err != nil {
		return err
	}
	if len(snap.VRRP) > 0 {
		fmt.Fprintln(out)
	}
	return status.WriteVRRP(out, snap.VRRP)
}

func writeJSON(w io.Writer, v any) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(v)
}

const adminUsage = `usage: ulvs admin <verb> [flags]

verbs (ipvsadm equivalents in brackets):
  add-service  -t PROTO:VIP:PORT [-s SCHED] [-p SECS] [-M BITS] [--ops]   [ipvsadm -A]
  edit-service -t PROTO:VIP:PORT [-s SCHED] [-p SECS] [-M BITS] [--ops]   [ipvsadm -E]
  del-service  -t PROTO:VIP:PORT                                          [ipvsadm -D]
  add-real     -t PROTO:VIP:PORT -r RIP:PORT [-m|-g|-i] [-w N] [-x N] [-y N]  [ipvsadm -a]
  edit-real    -t PROTO:VIP:PORT -r RIP:PORT [-m|-g|-i] [-w N] [-x N] [-y N]  [ipvsadm -e]
  del-real     -t PROTO:VIP:PORT -r RIP:PORT                              [ipvsadm -d]
  weight       -t PROTO:VIP:PORT -r RIP:PORT -w N
  drain        -t PROTO:VIP:PORT -r RIP:PORT [--deadline 5m]
  drain        (no -t/-r) withdraw every BGP route of this director; it keeps forwarding
  undrain      announce the BGP routes again
  zero         [-t PROTO:VIP:PORT]                                        [ipvsadm -Z]
  reload       reread the configuration file (same as SIGHUP)

Every verb takes --admin-socket PATH. Changes last until the next reload:
write them to keepalived.conf to keep them.
`

// adminCmd changes the running director through its admin socket.
func adminCmd(args []string, out io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" {
		fmt.Fprint(out, adminUsage)
		return nil
	}
	verb := args[0]
	fs := flag.NewFlagSet("admin "+verb, flag.ExitOnError)
	sock := fs.String("admin-socket", config.DefaultAdminSocket, "the running director's admin socket")
	svc := fs.String("t", "", "service PROTO:VIP:PORT, e.g. tcp:10.0.1.100:80")
	real := fs.String("r", "", "real server RIP:PORT")
	sched := fs.String("s", "", "scheduler")
	persist := fs.Int("p", -1, "persistence timeout in seconds (0: off)")
	mask := fs.Int("M", -1, "persistence granularity as a prefix length")
	ops := fs.Bool("ops", false, "one-packet scheduling (UDP)")
	masq := fs.Bool("m", false, "NAT (masquerading)")
	route := fs.Bool("g", false, "DR (gatewaying)")
	tun := fs.Bool("i", false, "TUN (IPIP)")
	weight := fs.Int("w", -1, "weight 0..65535")
	uth := fs.Int("x", -1, "upper connection threshold (0: unset)")
	lth := fs.Int("y", -1, "lower connection threshold (0: unset)")
	deadline := fs.Duration("deadline", 0, "drain: remove the server at this deadline even with connections left (0: when idle)")
	fs.Parse(args[1:])
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	c := admin.NewClient(*sock)

	need := func(names ...string) error {
		for _, n := range names {
			if !set[n] {
				return fmt.Errorf("admin %s needs -%s", verb, n)
			}
		}
		return nil
	}
	serviceSpec := func() admin.ServiceSpec {
		s := admin.ServiceSpec{Service: *svc}
		if set["s"] {
			s.Scheduler = sched
		}
		if *persist >= 0 {
			p := uint32(*persist)
			s.Persistence = &p
		}
		if *mask >= 0 {
			s.MaskBits = mask
		}
		if set["ops"] {
			s.OnePacket = ops
		}
		return s
	}
	realSpec := func() (admin.RealSpec, error) {
		r := admin.RealSpec{Service: *svc, Real: *real}
		var m []string
		if *masq {
			m = append(m, "NAT")
		}
		if *route {
			m = append(m, "DR")
		}
		if *tun {
			m = append(m, "TUN")
		}
		if len(m) > 1 {
			return r, errors.New("choose one of -m, -g and -i")
		}
		if len(m) == 1 {
			r.Method = &m[0]
		}
		u32 := func(v int, name string) (*uint32, error) {
			if v < 0 {
				return nil, nil
			}
			if v > balancer.MaxWeight && name == "w" {
				return nil, fmt.Errorf("-w %d: use 0..%d", v, balancer.MaxWeight)
			}
			x := uint32(v)
			return &x, nil
		}
		var err error
		if r.Weight, err = u32(*weight, "w"); err != nil {
			return r, err
		}
		r.UThreshold, _ = u32(*uth, "x")
		r.LThreshold, _ = u32(*lth, "y")
		return r, nil
	}

	switch verb {
	case "add-service", "edit-service":
		if err := need("t"); err != nil {
			return err
		}
		return c.Service(strings.TrimSuffix(verb, "-service"), serviceSpec())
	case "del-service":
		if err := need("t"); err != nil {
			return err
		}
		return c.Service("delete", admin.ServiceSpec{Service: *svc})
	case "add-real", "edit-real", "del-real":
		if err := need("t", "r"); err != nil {
			return err
		}
		r, err := realSpec()
		if err != nil {
			return err
		}
		op := strings.TrimSuffix(verb, "-real")
		if op == "del" {
			op = "delete"
		}
		return c.Real(op, r)
	case "weight":
		if err := need("t", "r", "w"); err != nil {
			return err
		}
		if *weight < 0 || *weight > balancer.MaxWeight {
			return fmt.Errorf("-w %d: use 0..%d", *weight, balancer.MaxWeight)
		}
		return c.SetWeight(*svc, *real, uint32(*weight))
	case "drain":
		if !set["t"] && !set["r"] {
			return drainDirector(c, out)
		}
		if err := need("t", "r"); err != nil {
			return err
		}
		return c.Drain(*svc, *real, *deadline)
	case "undrain":
		if err := c.UndrainDirector(); err != nil {
			return err
		}
		fmt.Fprintln(out, "routes announced again (as health allows)")
		return nil
	case "zero":
		return c.Zero(*svc)
	case "reload":
		return c.Reload()
	}
	return fmt.Errorf("unknown admin verb %q\n%s", verb, adminUsage)
}
