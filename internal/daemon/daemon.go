// Package daemon runs a director: it turns a keepalived.conf into a
// balancer Table, finds the interfaces from the routing table, checks the
// host, keeps neighbours resolved and connections expiring, runs the packet
// loop and shuts everything down cleanly. `ulvs run`, `ulvs demo`, the
// end-to-end tests and the bench harness all start directors through it.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/balancer/conntrack"
	"github.com/ulvs/ulvs/forward"
	"github.com/ulvs/ulvs/forward/afpacket"
	"github.com/ulvs/ulvs/forward/neigh"
	"github.com/ulvs/ulvs/internal/alert"
	"github.com/ulvs/ulvs/internal/config"
	"github.com/ulvs/ulvs/internal/hostnet"
	"github.com/ulvs/ulvs/internal/preflight"
	"github.com/ulvs/ulvs/internal/status"
	"github.com/ulvs/ulvs/vrrp"
)

// Options are what `ulvs run` takes on its command line; they override the
// config file's ulvs block.
type Options struct {
	ConfigPath string
	Strict     bool
	// ClientIface, RealIface, Workers and IO override the ulvs block.
	ClientIface, RealIface string
	Workers                int
	IO                     string
	// NoKernelDrop leaves the kernel's stack alone instead of installing
	// nftables ingress rules that keep it off the traffic ulvs forwards.
	NoKernelDrop bool
	// Force starts even when preflight reports errors.
	Force bool
	// AdminSocket overrides the ulvs block's admin_socket; "none" turns
	// the admin API off.
	AdminSocket string
	// MetricsListen overrides the ulvs block's metrics_listen; "none"
	// turns the listener off.
	MetricsListen string
	Logger        *slog.Logger
}

// Daemon is a configured director process, ready to Run. Its fields are
// grouped by what guards them, as wireguard-go's device.Device does: what
// Load sets and nothing changes afterwards, atomics, and one struct per
// lock holding exactly the fields that lock guards.
type Daemon struct {
	// Set by Load; read-only afterwards.
	opts     Options
	log      *slog.Logger
	cfg      *config.Config
	conns    *conntrack.Tracker
	client   *forward.Port
	reals    *forward.Port
	setup    preflight.Setup
	findings []preflight.Finding
	io       afpacket.Mode
	workers  int
	nftTable string
	// bfdHub has the BFD sessions' verdicts, for the BFD_CHECK watchers.
	bfdHub *bfdHub
	// alerts sends smtp_alert mail (alerts.go); it has its own lock.
	alerts *alert.Mailer
	// kernel is what the kernel owns: VRRP addresses that back no
	// virtual_server, virtual_routes, virtual_rules, static_*
	// (kernelnet.go); set by Load, used by the VRRP callbacks.
	kernel *kernelNet

	// Safe for concurrent use on their own.
	table         atomic.Pointer[balancer.Table]
	vips          neigh.VIPSet
	dropInstalled atomic.Bool

	// running is what Run started, nil before: the packet loop, the
	// VRRP router and the BGP speaker.
	running struct {
		sync.Mutex
		loop *forward.Loop
		vrrp *vrrp.Router
		bgp  *bgpState // bgp.go; nil without a bgp block
	}

	// ctl serialises the control plane (reloads, admin changes, status)
	// and guards the fields below; the packet path never takes it.
	ctl struct {
		sync.Mutex
		desired  []balancer.ServiceConfig
		drains   []drain
		reloads  ReloadStats
		svcEst   map[balancer.ServiceID]*status.Estimator
		realEst  map[balancer.RealID]*status.Estimator
		svcBase  map[balancer.ServiceID]status.Stats
		realBase map[balancer.RealID]status.Stats
		// retired are the counters of services removed so far, so that
		// the global totals never shrink.
		retired status.Stats
		// health is the health checking of the current configuration;
		// healthCtx is set while Run runs its checkers.
		health    *healthState
		healthCtx context.Context
		// bfd runs the bfd_instances.
		bfd *bfdRun
	}

	// vrrpVIPs guards which VIPs the loop answers ARP for (publishVIPs):
	// managed are the addresses of vrrp_instances, held those whose
	// instance is MASTER.
	vrrpVIPs struct {
		sync.Mutex
		managed map[[4]byte]bool
		held    map[[4]byte]bool
	}

	// vrrpAlerts says which instances and groups mail their transitions
	// (alerts.go); it has its own lock.
	vrrpAlerts vrrpAlerts
}

// Load reads the configuration, builds the first Table, resolves the
// interfaces and runs the preflight checks. Warnings go to the logger.
func Load(opts Options) (*Daemon, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, warnings, err := config.Load(opts.ConfigPath, config.Options{Strict: opts.Strict})
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		log.Warn("config", "warning", w.String())
	}
	d := &Daemon{opts: opts, log: log, cfg: cfg, nftTable: "ulvs", bfdHub: newBFDHub()}
	d.ctl.svcEst, d.ctl.realEst = map[balancer.ServiceID]*status.Estimator{}, map[balancer.RealID]*status.Estimator{}
	d.ctl.svcBase, d.ctl.realBase = map[balancer.ServiceID]status.Stats{}, map[balancer.RealID]status.Stats{}
	addrServices, err := d.addressServices(cfg)
	if err != nil {
		return nil, err
	}
	if len(addrServices) == 0 && len(cfg.VRRP.Instances) == 0 {
		return nil, fmt.Errorf("%s: no virtual_server with an address to serve and no vrrp_instance to run", opts.ConfigPath)
	}
	conns, err := conntrack.New(conntrack.Config{MaxConns: cfg.ULVS.MaxConns, ExpireNodestConn: !cfg.ULVS.KeepNodestConn, SloppyTCP: cfg.ULVS.SloppyTCP})
	if err != nil {
		return nil, err
	}
	d.conns = conns
	d.setTimeouts(cfg.Global.LVSTimeouts)
	d.alerts = alert.New(alert.FromGlobal(&cfg.Global), log.With("part", "alerts"))
	d.vrrpAlerts.set(&cfg.Global, &cfg.VRRP)
	d.ctl.health = d.newHealth(cfg, nil)
	if err := d.apply(addrServices); err != nil {
		return nil, err
	}
	d.ctl.reloads.LastOK = time.Now()
	d.releaseVRRPAddrs()
	d.kernel = newKernelNet(cfg, serviceAddrs(addrServices), log)
	if len(addrServices) == 0 {
		return d, nil // VRRP only: no packet loop (runVRRPOnly)
	}
	if err := d.resolveInterfaces(); err != nil {
		return nil, err
	}
	d.workers = firstNonZero(opts.Workers, cfg.ULVS.Workers)
	mode := cfg.ULVS.IO.String()
	if opts.IO != "" {
		mode = opts.IO
	}
	if mode == "" {
		mode = "ring"
	}
	if d.io, err = afpacket.ParseMode(mode); err != nil {
		return nil, err
	}
	d.setup = preflight.Setup{
		ClientIface: d.client.Name, RealIface: d.reals.Name,
		Services: addrServices, KernelDrop: !opts.NoKernelDrop,
	}
	d.findings = preflight.Check(preflight.System{}, d.setup)
	return d, nil
}

// Findings returns the preflight results.
func (d *Daemon) Findings() []preflight.Finding { return d.findings }

// Setup returns what preflight checked.
func (d *Daemon) Setup() preflight.Setup { return d.setup }

// RealsAddr is the director's address on the real servers' network.
func (d *Daemon) RealsAddr() netip.Addr {
	if d.reals == nil {
		return netip.Addr{}
	}
	return netip.AddrFrom4(d.reals.Addr)
}

// Table returns the current snapshot.
func (d *Daemon) Table() *balancer.Table { return d.table.Load() }

// Conns returns the connection table.
func (d *Daemon) Conns() *conntrack.Tracker { return d.conns }

// Interfaces returns the client-side and real-side interface names.
// Both are empty when the file has VRRP only.
func (d *Daemon) Interfaces() (client, reals string) {
	if d.client == nil {
		return "", ""
	}
	return d.client.Name, d.reals.Name
}

// resolveInterfaces picks the interfaces: from the options or the ulvs
// block, else from the routing table (the route to the first VIP reaches
// its clients; the route to the first real server reaches the reals).
func (d *Daemon) resolveInterfaces() error {
	clientName := firstNonEmpty(d.opts.ClientIface, d.cfg.ULVS.InterfaceClients)
	realName := firstNonEmpty(d.opts.RealIface, d.cfg.ULVS.InterfaceReals)
	if clientName == "" {
		vip := d.ctl.desired[0].Key.Addr
		r, err := hostnet.RouteTo(vip)
		if err != nil {
			return fmt.Errorf("finding the client interface: %w; or name it with interface_clients in a ulvs block", err)
		}
		clientName = r.Iface
	}
	if realName == "" && d.cfg.ULVS.InterfaceClients != "" && d.cfg.ULVS.InterfaceReals == "" && d.opts.RealIface == "" {
		realName = clientName
	}
	if realName == "" {
		var first netip.Addr
		for _, s := range d.ctl.desired {
			if len(s.Reals) > 0 {
				first = s.Reals[0].Addr
				break
			}
		}
		if !first.IsValid() {
			realName = clientName
		} else {
			r, err := hostnet.RouteTo(first)
			if err != nil {
				return fmt.Errorf("finding the real-server interface: %w; or name it with interface_reals in a ulvs block", err)
			}
			realName = r.Iface
		}
	}
	var err error
	if d.client, err = d.port(clientName); err != nil {
		return err
	}
	if realName == clientName {
		d.reals = d.client
		return nil
	}
	d.reals, err = d.port(realName)
	return err
}

func (d *Daemon) port(name string) (*forward.Port, error) {
	ifc, err := hostnet.LookupInterface(name)
	if err != nil {
		return nil, err
	}
	if len(ifc.Addrs) == 0 {
		return nil, fmt.Errorf("interface %s has no IPv4 address: ulvs needs one as the source of ARP, TUN and ICMP (ip addr add ADDR/LEN dev %s)", name, name)
	}
	p := &forward.Port{Name: ifc.Name, Index: ifc.Index, MAC: ifc.MAC, MTU: ifc.MTU,
		Addr: ifc.FirstAddr().As4(), Prefixes: ifc.Addrs}
	if gw, err := hostnet.DefaultGateway(name); err == nil && gw.IsValid() {
		p.Gateway = gw.As4()
	}
	netIfc, err := net.InterfaceByName(name)
	if err != nil {
		return nil, err
	}
	p.Neigh = neigh.New(neigh.Config{Interface: netIfc, Logger: d.log.With("iface", name)})
	return p, nil
}

// Run forwards until ctx is done. It refuses to start when preflight found
// errors, unless Options.Force.
func (d *Daemon) Run(ctx context.Context) error {
	if w := preflight.Worst(d.findings); w == preflight.Error && !d.opts.Force {
		var b strings.Builder
		b.WriteString("preflight found problems that would break traffic:\n")
		for _, f := range d.findings {
			if f.Severity == preflight.Error {
				b.WriteString("  " + f.String() + "\n")
			}
		}
		b.WriteString("fix them, or start anyway with --force")
		return errors.New(b.String())
	}
	if d.client == nil {
		return d.runVRRPOnly(ctx)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	if !d.opts.NoKernelDrop {
		d.ctl.Lock()
		err := hostnet.InstallKernelDrop(d.nftTable, d.dropRules())
		if err == nil {
			d.dropInstalled.Store(true)
		}
		d.ctl.Unlock()
		if err != nil {
			d.log.Warn("kernel drop rules not installed; the kernel stack keeps seeing forwarded traffic", "err", err)
		} else {
			defer func() {
				d.ctl.Lock()
				d.dropInstalled.Store(false)
				hostnet.RemoveKernelDrop(d.nftTable)
				d.ctl.Unlock()
			}()
		}
	}
	stopHost, err := d.startHost()
	if err != nil {
		return err
	}
	defer stopHost()

	// The mailer stops after the other goroutines (deferred first, run
	// last), so that their last alerts (VRRP Stopping) still go out.
	defer d.startAlerts()()
	var bg sync.WaitGroup
	defer bg.Wait()
	ports := []*forward.Port{d.client}
	if d.reals != d.client {
		ports = append(ports, d.reals)
	}
	for _, p := range ports {
		bg.Add(1)
		go func() {
			defer bg.Done()
			if err := p.Neigh.Run(ctx); err != nil {
				d.log.Error("neighbour resolution stopped", "iface", p.Name, "err", err)
			}
		}()
	}
	d.wantNeighbours()

	loop, err := forward.NewLoop(forward.LoopConfig{
		Client: d.client, Reals: d.reals, Table: &d.table, Tracker: d.conns, VIPs: &d.vips,
		Workers: d.workers, IO: d.io, Logger: d.log,
		IOConfig: &afpacket.Config{TxFrames: d.cfg.ULVS.TxRingFrames, NoVnetHdr: d.cfg.ULVS.TxZeroCopy},
	})
	if err != nil {
		return err
	}
	d.running.Lock()
	d.running.loop = loop
	d.running.Unlock()
	// Each worker is locked to its own thread and spends its life between
	// syscalls (poll, sendto). Sharing Ps, a worker coming back from one
	// waits for a P another thread holds: on a director pinned to one CPU
	// (GOMAXPROCS 1) that cost 28 % of the throughput, measured with
	// `make figures` (docs/benchmarks.md). Give every worker a P, and one
	// to spare for the control plane, unless the operator set GOMAXPROCS.
	if want := loop.Workers() + 1; os.Getenv("GOMAXPROCS") == "" && runtime.GOMAXPROCS(0) < want {
		prev := runtime.GOMAXPROCS(want)
		d.log.Info("raised GOMAXPROCS so that every packet worker has a P", "from", prev, "to", want)
	}
	if err := d.startVRRP(ctx, &bg); err != nil {
		return err
	}
	if err := d.startBGP(ctx, &bg); err != nil {
		return err
	}

	bg.Add(1)
	go func() {
		defer bg.Done()
		d.housekeeping(ctx)
	}()
	d.ctl.Lock()
	d.ctl.healthCtx = ctx
	err = d.startBFD(ctx, d.cfg)
	d.startHealth(ctx, d.ctl.health)
	d.ctl.Unlock()
	defer func() {
		d.ctl.Lock()
		h, b := d.ctl.health, d.ctl.bfd
		d.ctl.healthCtx, d.ctl.bfd = nil, nil
		d.ctl.Unlock()
		stopHealth(h, true)
		b.stop()
		d.omegaScripts()
		d.shutdownAlerts()
	}()
	if err != nil {
		return err
	}

	for _, s := range d.table.Load().Services() {
		d.log.Info("service", "service", s.Key.String(), "scheduler", s.Scheduler, "reals", len(s.Reals),
			"persistence", s.Persistence)
	}
	d.log.Info("ulvs running", "clients", d.client.Name, "reals", d.reals.Name, "io", d.io.String(),
		"workers", loop.Workers())
	if f, ok := loop.IOFeatures(); ok {
		// What the kernel granted: an old kernel silently takes slower paths.
		d.log.Info("packet I/O", "tx_ring_version", f.TxVersion, "tx_copy", f.VnetHdr,
			"qdisc_bypass", f.QdiscBypass, "ignore_outgoing", f.IgnoreOutgoing)
	}
	err = loop.Run(ctx)
	cancel()
	return err
}

// The connection sweep visits the table once per sweepsPerPass ticks of
// 100 ms, and at least sweepMinBudget slots per tick.
const (
	sweepsPerPass  = 10
	sweepMinBudget = 1024
)

// sweepPacer sets how many slots each sweep tick visits: a tenth of the
// slots that were active at the start of the current second, so a pass
// takes a second. Lookups already treat an expired entry as gone, so the
// pass only returns memory and settles the connection counts; ten passes a
// second cost a busy table's worth of locked reads each time, on the
// forwarding CPUs' caches. The budget is fixed for a second because the
// sweep shrinks the shards it empties: a budget recomputed every tick
// would shrink with them and stretch a pass over an expiring burst to
// nearly two seconds.
type sweepPacer struct {
	tick, budget int
}

func (p *sweepPacer) next(conns *conntrack.Tracker) int {
	if p.tick%sweepsPerPass == 0 {
		p.budget = max((conns.ActiveSlots()+sweepsPerPass-1)/sweepsPerPass, sweepMinBudget)
	}
	p.tick++
	return p.budget
}

// housekeeping expires connections in bounded slices and keeps the real
// servers' next hops resolved.
func (d *Daemon) housekeeping(ctx context.Context) {
	sweep := time.NewTicker(100 * time.Millisecond)
	defer sweep.Stop()
	var pacer sweepPacer
	resolve := time.NewTicker(5 * time.Second)
	defer resolve.Stop()
	estimate := time.NewTicker(status.EstimatorInterval * time.Second)
	defer estimate.Stop()
	d.sampleRates()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-sweep.C:
			d.conns.Sweep(d.table.Load(), conntrack.Now(), pacer.next(d.conns))
			d.checkDrains(now)
		case <-resolve.C:
			d.wantNeighbours()
		case <-estimate.C:
			d.sampleRates()
		}
	}
}

func (d *Daemon) wantNeighbours() {
	for _, s := range d.table.Load().Services() {
		for _, r := range s.Reals {
			if !r.Addr.Is4() {
				continue
			}
			if hop, ok := d.reals.NextHop(r.Addr.As4()); ok {
				d.reals.Neigh.Want(hop)
			}
		}
	}
	if d.client.Gateway != [4]byte{} {
		d.client.Neigh.Want(d.client.Gateway)
	}
}

// dropRules keeps the kernel off VIP traffic on the client side and off NAT
// replies on the real-server side, for the current table.
func (d *Daemon) dropRules() []hostnet.DropRule {
	var rules []hostnet.DropRule
	seen := map[string]bool{}
	add := func(ifc, m string) {
		if !seen[ifc+m] {
			seen[ifc+m] = true
			rules = append(rules, hostnet.DropRule{Iface: ifc, Match: m})
		}
	}
	var locals []string
	for _, p := range d.reals.Prefixes {
		if p.Addr().Is4() {
			locals = append(locals, p.Addr().String())
		}
	}
	own := "{ " + strings.Join(locals, ", ") + " }"
	if len(locals) == 0 {
		own = netip.AddrFrom4(d.reals.Addr).String()
	}
	for _, s := range d.table.Load().Services() {
		add(d.client.Name, "ip daddr "+s.Key.Addr.String())
		for _, r := range s.Reals {
			if r.Method != balancer.NAT {
				continue
			}
			proto := strings.ToLower(s.Key.Proto.String())
			port := r.Port
			if port == 0 {
				port = s.Key.Port
			}
			// Replies to the director's own sockets (health checks) must
			// still reach the kernel: only NAT replies to clients drop.
			add(d.reals.Name, fmt.Sprintf("ip saddr %v %s sport %d ip daddr != %s", r.Addr, proto, port, own))
		}
	}
	return rules
}

// Stats returns the data plane's counters, or zero before Run.
func (d *Daemon) Stats() forward.LoopStats {
	d.running.Lock()
	defer d.running.Unlock()
	if d.running.loop == nil {
		return forward.LoopStats{}
	}
	return d.running.loop.Stats()
}

// NFTAvailable reports whether the nft binary is installed.
func NFTAvailable() bool {
	_, err := exec.LookPath("nft")
	return err == nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func firstNonZero(ns ...int) int {
	for _, n := range ns {
		if n != 0 {
			return n
		}
	}
	return 0
}
