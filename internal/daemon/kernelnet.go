package daemon

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"

	"github.com/ulvs/ulvs/internal/config"
	"github.com/ulvs/ulvs/internal/hostnet"
)

// kernelNet is what ulvs gives the kernel, as keepalived does: the
// addresses of vrrp_instances that back no virtual_server (a gateway for
// NAT real servers, a proxy's address), each instance's virtual_routes and
// virtual_rules while it is MASTER, and the static_* blocks while ulvs
// runs. Addresses that back a virtual_server stay in the packet loop's ARP
// responder: the kernel owning them would answer the forwarded traffic
// itself (docs/vrrp.md).
type kernelNet struct {
	log       *slog.Logger
	instances map[string]*kernelInstance
	// dev is the interface of each kernel address, where its gratuitous
	// ARPs go.
	dev    map[netip.Addr]string
	static config.StaticNet
}

// kernelInstance is one instance's kernel state, applied while MASTER.
type kernelInstance struct {
	addrs  []kernelAddr
	routes []config.IPRoute
	rules  []config.IPRule
}

type kernelAddr struct {
	config.VirtualAddress
	dev string
}

// newKernelNet sorts the instances' addresses: those in services (the
// addresses of the virtual_servers ulvs forwards) stay in ulvs.
func newKernelNet(cfg *config.Config, services map[netip.Addr]bool, log *slog.Logger) *kernelNet {
	k := &kernelNet{log: log, instances: map[string]*kernelInstance{}, dev: map[netip.Addr]string{}, static: cfg.Static}
	for _, in := range cfg.VRRP.Instances {
		ki := &kernelInstance{routes: in.VirtualRoutes, rules: in.VirtualRules}
		for _, a := range in.Addresses {
			if services[a.Prefix.Addr()] {
				continue
			}
			dev := a.Dev
			if dev == "" {
				dev = in.Interface
			}
			ki.addrs = append(ki.addrs, kernelAddr{VirtualAddress: a, dev: dev})
			if _, ok := k.dev[a.Prefix.Addr()]; !ok {
				k.dev[a.Prefix.Addr()] = dev
			}
		}
		k.instances[in.Name] = ki
	}
	return k
}

// inKernel reports whether v is an address the kernel owns while its
// instance is MASTER.
func (k *kernelNet) inKernel(v netip.Addr) bool {
	_, ok := k.devOf(v)
	return ok
}

// devOf is the interface of a kernel address; a Daemon built without
// Load (tests) has no kernel share.
func (k *kernelNet) devOf(v netip.Addr) (string, bool) {
	if k == nil {
		return "", false
	}
	dev, ok := k.dev[v]
	return dev, ok
}

// up gives the kernel an instance's addresses, then its routes and rules
// (a route's src or gateway may need the address).
func (k *kernelNet) up(name string) {
	ki := k.instances[name]
	if ki == nil {
		return
	}
	for _, a := range ki.addrs {
		k.report(hostnet.AddAddress(a.VirtualAddress, a.dev), "vrrp: adding a virtual address to the kernel", name)
	}
	for _, r := range ki.routes {
		k.report(hostnet.AddRoute(r), "vrrp: adding a virtual route", name)
	}
	for _, r := range ki.rules {
		k.report(hostnet.AddRule(r), "vrrp: adding a virtual rule", name)
	}
}

// down undoes up, in reverse order.
func (k *kernelNet) down(name string) {
	ki := k.instances[name]
	if ki == nil {
		return
	}
	for _, r := range ki.rules {
		k.report(hostnet.DelRule(r), "vrrp: removing a virtual rule", name)
	}
	for _, r := range ki.routes {
		k.report(hostnet.DelRoute(r), "vrrp: removing a virtual route", name)
	}
	for _, a := range ki.addrs {
		k.report(hostnet.DelAddress(a.VirtualAddress, a.dev), "vrrp: removing a virtual address from the kernel", name)
	}
}

// downAll removes every instance's kernel state: at start, what a killed
// ulvs left behind (every instance starts as BACKUP, which holds none), and
// at exit, whatever a failed transition left.
func (k *kernelNet) downAll() {
	for name := range k.instances {
		k.down(name)
	}
}

// applyStatic installs static_ipaddress, static_routes and static_rules;
// the returned function removes them, as keepalived does when it stops.
func (k *kernelNet) applyStatic() (remove func()) {
	s := k.static
	for _, a := range s.Addresses {
		k.report(hostnet.AddAddress(a, a.Dev), "adding a static_ipaddress", "")
	}
	for _, r := range s.Routes {
		k.report(hostnet.AddRoute(r), "adding a static route", "")
	}
	for _, r := range s.Rules {
		k.report(hostnet.AddRule(r), "adding a static rule", "")
	}
	return func() {
		for _, r := range s.Rules {
			k.report(hostnet.DelRule(r), "removing a static rule", "")
		}
		for _, r := range s.Routes {
			k.report(hostnet.DelRoute(r), "removing a static route", "")
		}
		for _, a := range s.Addresses {
			k.report(hostnet.DelAddress(a, a.Dev), "removing a static_ipaddress", "")
		}
	}
}

// report logs a failed kernel change; VRRP goes on, as keepalived's does,
// so one bad line (a missing interface, a gateway off every link) costs
// that line only.
func (k *kernelNet) report(err error, what, instance string) {
	if err == nil {
		return
	}
	if instance != "" {
		k.log.Error(what, "instance", instance, "err", err)
		return
	}
	k.log.Error(what, "err", err)
}

// startHost starts what both kinds of director run besides packets and
// VRRP: the admin API, /metrics and the static_* blocks.
func (d *Daemon) startHost() (stop func(), err error) {
	stopServers, err := d.startServers()
	if err != nil {
		return nil, err
	}
	removeStatic := d.kernel.applyStatic()
	return func() {
		removeStatic()
		stopServers()
	}, nil
}

// runVRRPOnly is Run for a file without a virtual_server ulvs forwards:
// no packet loop, no kernel drop rules, no neighbour resolution; the
// instances, the static_* blocks, the admin API and /metrics run until ctx
// is done.
func (d *Daemon) runVRRPOnly(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop, err := d.startHost()
	if err != nil {
		return err
	}
	defer stop()
	var bg sync.WaitGroup
	if err := d.startVRRP(ctx, &bg); err != nil {
		return err
	}
	d.log.Info("ulvs running VRRP only: no virtual_server to forward, so no packet loop",
		"instances", len(d.cfg.VRRP.Instances))
	<-ctx.Done()
	bg.Wait()
	return nil
}
