package daemon

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/forward/neigh"
	"github.com/ulvs/ulvs/internal/config"
	"github.com/ulvs/ulvs/internal/hostnet"
	"github.com/ulvs/ulvs/vrrp"
)

// releaseVRRPAddrs withdraws the VRRP-managed addresses Load claimed for
// the services; the router claims them when it becomes master.
func (d *Daemon) releaseVRRPAddrs() {
	d.vrrpVIPs.Lock()
	defer d.vrrpVIPs.Unlock()
	d.vrrpVIPs.managed = map[[4]byte]bool{}
	d.vrrpVIPs.held = map[[4]byte]bool{}
	for _, in := range d.cfg.VRRP.Instances {
		for _, p := range append(in.VIPs, in.ExcludedVIPs...) {
			if p.Addr().Is4() {
				d.vrrpVIPs.managed[p.Addr().As4()] = true
			}
		}
	}
	d.publishVIPsLocked()
}

// publishVIPs sets the addresses the packet loop answers ARP for: every
// service VIP that no vrrp_instance manages, plus the VRRP addresses whose
// instance is MASTER now. Reloads, admin changes and VRRP transitions all
// go through it, so none of them undoes another's ownership.
func (d *Daemon) publishVIPs() {
	d.vrrpVIPs.Lock()
	defer d.vrrpVIPs.Unlock()
	d.publishVIPsLocked()
}

func (d *Daemon) publishVIPsLocked() {
	var vips [][4]byte
	add := func(a [4]byte) {
		if !slices.Contains(vips, a) {
			vips = append(vips, a)
		}
	}
	if t := d.table.Load(); t != nil {
		for _, s := range t.Services() {
			if s.Key.Addr.Is4() && !d.vrrpVIPs.managed[s.Key.Addr.As4()] {
				add(s.Key.Addr.As4())
			}
		}
	}
	for a := range d.vrrpVIPs.held {
		add(a)
	}
	d.vips.SetVIPs(vips...)
}

// setVRRPHeld records that a VRRP instance claimed or released a VIP.
func (d *Daemon) setVRRPHeld(a [4]byte, held bool) {
	d.vrrpVIPs.Lock()
	defer d.vrrpVIPs.Unlock()
	if d.vrrpVIPs.held == nil {
		d.vrrpVIPs.held = map[[4]byte]bool{}
	}
	if held {
		d.vrrpVIPs.held[a] = true
	} else {
		delete(d.vrrpVIPs.held, a)
	}
	d.publishVIPsLocked()
}

// VRRP returns the state of each vrrp_instance; nil without VRRP or
// before Run.
func (d *Daemon) VRRP() []vrrp.InstanceStatus {
	d.running.Lock()
	r := d.running.vrrp
	d.running.Unlock()
	if r == nil {
		return nil
	}
	return r.Status()
}

// serviceAddrs are the addresses of the virtual_servers ulvs forwards:
// the VRRP addresses its packet loop answers for.
func serviceAddrs(services []balancer.ServiceConfig) map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	for _, s := range services {
		out[s.Key.Addr] = true
	}
	return out
}

// vrrpConfig turns the config's VRRP section into the router's.
func vrrpConfig(c *config.VRRP) (vrrp.Config, error) {
	var out vrrp.Config
	for _, s := range c.Scripts {
		out.Scripts = append(out.Scripts, vrrp.Script{Name: s.Name, Command: s.Script, Interval: s.Interval,
			Timeout: s.Timeout, Weight: s.Weight, Rise: s.Rise, Fall: s.Fall})
	}
	for _, g := range c.SyncGroups {
		out.SyncGroups = append(out.SyncGroups, vrrp.SyncGroup{Name: g.Name, Members: g.Group,
			Notify: vrrp.Notify(g.Notify)})
	}
	for _, in := range c.Instances {
		ic := vrrp.InstanceConfig{Name: in.Name, Interface: in.Interface, VRID: in.VRID, Version: in.Version,
			Priority: in.Priority, Interval: in.AdvertInt, Preempt: in.Preempt, PreemptDelay: in.PreemptDelay,
			AuthPass: in.AuthPass, Peers: in.UnicastPeers, CheckUnicastSrc: in.CheckUnicastSrc,
			McastDst: in.McastDst, ChecksumNoPseudo: in.V3ChecksumAsV2,
			GARPDelay: in.GARPMasterDelay, GARPRefresh: in.GARPMasterRefresh, GARPRepeat: in.GARPMasterRepeat,
			GARPRefreshRepeat: in.GARPMasterRefreshRepeat, GARPLowerPrioRepeat: in.GARPLowerPrioRepeat,
			LowerPrioNoAdvert: in.LowerPrioNoAdvert, HigherPrioSendAdvert: in.HigherPrioSendAdvert, DownTimerAdverts: in.DownTimerAdverts,
			Notify: vrrp.Notify(in.Notify)}
		if in.AuthType == "PASS" {
			ic.AuthType = vrrp.AuthPass
		}
		for _, p := range in.VIPs {
			ic.VIPs = append(ic.VIPs, p.Addr())
		}
		for _, p := range in.ExcludedVIPs {
			ic.ExcludedVIPs = append(ic.ExcludedVIPs, p.Addr())
		}
		for _, t := range in.TrackInterfaces {
			ic.TrackInterfaces = append(ic.TrackInterfaces, vrrp.Track{Name: t.Name, Weight: t.Weight})
		}
		for _, t := range in.TrackScripts {
			ic.TrackScripts = append(ic.TrackScripts, vrrp.Track{Name: t.Name, Weight: t.Weight})
		}
		switch {
		case len(in.UnicastPeers) > 0 && in.UnicastSrc.IsValid():
			ic.Src = in.UnicastSrc
		case in.McastSrc.IsValid():
			ic.Src = in.McastSrc
		default:
			ifc, err := hostnet.LookupInterface(in.Interface)
			if err != nil {
				return out, fmt.Errorf("vrrp_instance %s: %w", in.Name, err)
			}
			if len(ifc.Addrs) == 0 {
				return out, fmt.Errorf("vrrp_instance %s: interface %s has no IPv4 address to advertise from; add one or set mcast_src_ip/unicast_src_ip", in.Name, in.Interface)
			}
			ic.Src = ifc.FirstAddr()
		}
		out.Instances = append(out.Instances, ic)
	}
	return out, nil
}

// startVRRP runs the vrrp_instances until ctx is done. The router owns
// the VRRP addresses through the packet loop's ARP responder.
func (d *Daemon) startVRRP(ctx context.Context, bg *sync.WaitGroup) error {
	if len(d.cfg.VRRP.Instances) == 0 {
		return nil
	}
	rc, err := vrrpConfig(&d.cfg.VRRP)
	if err != nil {
		return err
	}
	own := &vipOwner{d: d, conns: map[string]*garpConn{}}
	rc.Owner = own
	rc.Open = func(iface string) (vrrp.Transport, error) { return vrrp.OpenRaw(iface) }
	rc.LinkUp = func(name string) bool {
		ifi, err := net.InterfaceByName(name)
		return err == nil && ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagRunning != 0
	}
	rc.Logger = d.log
	rc.OnTransition = d.vrrpAlert
	r, err := vrrp.New(rc)
	if err != nil {
		return err
	}
	d.running.Lock()
	d.running.vrrp = r
	d.running.Unlock()
	bg.Add(1)
	d.kernel.downAll()
	go func() {
		defer bg.Done()
		defer own.close()
		defer d.kernel.downAll()
		if err := r.Run(ctx); err != nil {
			d.log.Error("vrrp stopped", "err", err)
		}
	}()
	return nil
}

// vipOwner claims addresses in the packet loop's VIPSet and sends
// gratuitous ARPs on an AF_PACKET socket per interface.
type vipOwner struct {
	d     *Daemon
	mu    sync.Mutex
	conns map[string]*garpConn
}

type garpConn struct {
	c   *packet.Conn
	mac [6]byte
	buf [neigh.FrameLen]byte
}

// Claim starts answering ARP in the packet loop for an address that backs
// a virtual_server; the kernel's addresses come with Up.
func (o *vipOwner) Claim(v netip.Addr) {
	if v.Is4() && !o.d.kernel.inKernel(v) {
		o.d.setVRRPHeld(v.As4(), true)
	}
}

func (o *vipOwner) Release(v netip.Addr) {
	if v.Is4() && !o.d.kernel.inKernel(v) {
		o.d.setVRRPHeld(v.As4(), false)
	}
}

// Up and Down give an instance's kernel addresses, routes and rules to
// the kernel and take them back.
func (o *vipOwner) Up(instance string)   { o.d.kernel.up(instance) }
func (o *vipOwner) Down(instance string) { o.d.kernel.down(instance) }

// Gratuitous announces v on iface, or for a kernel address on its dev, as
// keepalived announces an address on the interface that carries it.
func (o *vipOwner) Gratuitous(iface string, v netip.Addr) error {
	if dev, ok := o.d.kernel.devOf(v); ok {
		iface = dev
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	g := o.conns[iface]
	if g == nil {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		c, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, nil)
		if err != nil {
			return fmt.Errorf("opening an ARP socket on %s: %w", iface, err)
		}
		g = &garpConn{c: c}
		copy(g.mac[:], ifi.HardwareAddr)
		o.conns[iface] = g
	}
	n := neigh.Gratuitous(g.buf[:], g.mac, v.As4())
	_, err := g.c.WriteTo(g.buf[:n], &packet.Addr{HardwareAddr: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}})
	return err
}

func (o *vipOwner) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, g := range o.conns {
		g.c.Close()
	}
}
