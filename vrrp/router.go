package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Owner is what a master controls on the director: the addresses the
// packet loop answers ARP for, and gratuitous ARP. ulvs gives no VIP to the
// kernel; owning an address means answering ARP for it.
type Owner interface {
	// Claim starts answering ARP for vip; Release stops.
	Claim(vip netip.Addr)
	Release(vip netip.Addr)
	// Gratuitous sends one gratuitous ARP for vip out of iface.
	Gratuitous(iface string, vip netip.Addr) error
}

// Transport carries raw VRRP IPv4 packets (with their IP header) on one
// interface.
type Transport interface {
	// ReadPacket blocks for the next packet; it returns an error once
	// Close has been called.
	ReadPacket(b []byte) (int, error)
	// WritePacket sends one IPv4 packet; the destination is in its header.
	WritePacket(b []byte) error
	Close() error
}

// Track is a tracked interface or script with its weight: 0 puts the
// instance in FAULT while it is down; otherwise the weight is added to the
// priority while up (positive) or subtracted while down (negative).
type Track struct {
	Name   string
	Weight int
}

// Notify holds the commands run on transitions; Any gets four extra
// arguments: INSTANCE or GROUP, the name, the state and the priority.
type Notify struct {
	Master, Backup, Fault, Stop, Any string
}

// InstanceConfig is one vrrp_instance.
type InstanceConfig struct {
	Name      string
	Interface string
	VRID      uint8
	Version   uint8 // 2 or 3
	Priority  uint8 // 1..255
	Interval  time.Duration
	Preempt   bool
	// PreemptDelay holds preemption off for this long after startup.
	PreemptDelay time.Duration
	AuthType     uint8  // v2: AuthNone or AuthPass
	AuthPass     string // first 8 bytes used
	// VIPs are advertised and claimed; ExcludedVIPs are only claimed.
	VIPs, ExcludedVIPs []netip.Addr
	// Src is the advertisements' source (mcast_src_ip / unicast_src_ip, or
	// the interface's primary address).
	Src netip.Addr
	// Peers switches to unicast: one advertisement per peer.
	Peers           []netip.Addr
	CheckUnicastSrc bool
	// McastDst overrides 224.0.0.18.
	McastDst netip.Addr
	// ChecksumNoPseudo sends v3 checksums without the IPv4 pseudo-header
	// (RFC 9568, v3_checksum_as_v2). Receiving accepts both.
	ChecksumNoPseudo bool
	// Gratuitous ARP: Repeat at once on becoming master, Repeat again
	// after Delay (0: no second burst), RefreshRepeat every Refresh (0:
	// off), LowerPrioRepeat when a lower-priority master is heard.
	GARPDelay, GARPRefresh                             time.Duration
	GARPRepeat, GARPRefreshRepeat, GARPLowerPrioRepeat int
	LowerPrioNoAdvert, HigherPrioSendAdvert            bool
	DownTimerAdverts                                   int
	TrackInterfaces, TrackScripts                      []Track
	Notify                                             Notify
}

// keepalived's gratuitous ARP defaults (vrrp.h VRRP_GARP_*).
const (
	DefaultGARPDelay  = 5 * time.Second
	DefaultGARPRepeat = 5
)

// Script is a vrrp_script: a command run every Interval, failed when it
// exits non-zero or outlives Timeout; Rise successes make it up, Fall
// failures down.
type Script struct {
	Name              string
	Command           string
	Interval, Timeout time.Duration
	Weight            int // the default for track_script entries that give none
	Rise, Fall        int
}

// SyncGroup is a vrrp_sync_group: its members change state together.
type SyncGroup struct {
	Name    string
	Members []string
	Notify  Notify
}

// Config is everything a Router runs.
type Config struct {
	Instances  []InstanceConfig
	Scripts    []Script
	SyncGroups []SyncGroup
	Owner      Owner
	// Open returns the transport of an interface; called once per interface.
	Open func(iface string) (Transport, error)
	// LinkUp reports whether an interface is up (track_interface, and the
	// instance's own interface); nil means always up.
	LinkUp func(iface string) bool
	// Exec runs a script or notify command and reports its success; nil
	// runs it with /bin/sh -c.
	Exec   func(ctx context.Context, command string, args ...string) error
	Logger *slog.Logger
	// OnTransition, if set, is told of every state an instance (group
	// false) or sync group enters, with the notify commands; it must not
	// block (smtp_alert queues a mail).
	OnTransition func(group bool, name string, s State)
}

// InstanceStatus is a snapshot of one instance, for `ulvs list`, the admin
// API and /metrics.
type InstanceStatus struct {
	Name         string
	Interface    string
	VRID         uint8
	Version      uint8
	State        State
	Since        time.Time // when State was entered
	Priority     uint8     // effective (configured plus track weights)
	BasePriority uint8
	MasterAddr   netip.Addr // ours when MASTER, the heard master's when BACKUP
	VIPs         []netip.Addr
	// BecameMaster counts transitions to MASTER; AdvertsSent and
	// AdvertsReceived count advertisements (received: accepted only).
	BecameMaster, AdvertsSent, AdvertsReceived, GratuitousSent uint64
	// Drops counts discarded packets by reason (index: Drop).
	Drops [NumDrops]uint64
	// AddrMismatch counts accepted adverts whose address list differs.
	AddrMismatch uint64
}

// Router runs VRRP instances: it receives and sends advertisements, steps
// each instance's Machine, owns the addresses of the instances that are
// master, runs the tracked scripts and the notify commands.
type Router struct {
	cfg   Config
	log   *slog.Logger
	insts []*instance
	byKey map[instKey]*instance
	ifs   map[string]Transport
	// groupOf maps an instance to its sync group.
	groupOf map[*instance]*syncGroup
	scripts map[string]*scriptState
	// unrouted counts packets that no instance took (malformed, unknown VRID).
	unrouted [NumDrops]uint64

	notifying sync.WaitGroup // notify commands in flight

	mu sync.Mutex // guards the instances' status fields against Status
}

type instKey struct {
	iface string
	vrid  uint8
}

type syncGroup struct {
	cfg     SyncGroup
	members []*instance
}

type scriptState struct {
	cfg Script
	up  bool
	run int // consecutive results against the current state
}

type instance struct {
	cfg   InstanceConfig
	m     *Machine
	check check
	tx    Transport
	src   [4]byte
	dsts  [][4]byte
	adv   Fields
	ipID  uint16
	buf   []byte
	vips  []netip.Addr // advertised + excluded: what we claim
	// gratuitous ARP schedule
	garpSecond, garpRefresh time.Time
	linkDown                bool
	trackUp                 []bool // by TrackInterfaces index
	st                      InstanceStatus
}

// New validates cfg and builds a Router.
func New(cfg Config) (*Router, error) {
	if cfg.Owner == nil || cfg.Open == nil {
		return nil, errors.New("vrrp: Config needs an Owner and an Open function")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Router{cfg: cfg, log: log, byKey: map[instKey]*instance{}, ifs: map[string]Transport{},
		groupOf: map[*instance]*syncGroup{}, scripts: map[string]*scriptState{}}
	for _, s := range cfg.Scripts {
		if s.Rise <= 0 {
			s.Rise = 1
		}
		if s.Fall <= 0 {
			s.Fall = 1
		}
		if s.Interval <= 0 {
			s.Interval = time.Second
		}
		if s.Timeout <= 0 {
			s.Timeout = s.Interval
		}
		r.scripts[s.Name] = &scriptState{cfg: s, up: true}
	}
	byName := map[string]*instance{}
	for _, ic := range cfg.Instances {
		in, err := r.newInstance(ic)
		if err != nil {
			return nil, err
		}
		k := instKey{ic.Interface, ic.VRID}
		if other := r.byKey[k]; other != nil {
			return nil, fmt.Errorf("vrrp_instance %s and %s both use virtual_router_id %d on %s; give each its own id",
				other.cfg.Name, ic.Name, ic.VRID, ic.Interface)
		}
		r.byKey[k] = in
		byName[ic.Name] = in
		r.insts = append(r.insts, in)
	}
	for _, g := range cfg.SyncGroups {
		sg := &syncGroup{cfg: g}
		for _, name := range g.Members {
			in := byName[name]
			if in == nil {
				return nil, fmt.Errorf("vrrp_sync_group %s: no vrrp_instance %s", g.Name, name)
			}
			sg.members = append(sg.members, in)
			r.groupOf[in] = sg
		}
	}
	return r, nil
}

func (r *Router) newInstance(ic InstanceConfig) (*instance, error) {
	if ic.Version != 2 && ic.Version != 3 {
		return nil, fmt.Errorf("vrrp_instance %s: version %d; use 2 or 3", ic.Name, ic.Version)
	}
	if !ic.Src.Is4() {
		return nil, fmt.Errorf("vrrp_instance %s: no IPv4 source address; give %s an address or set mcast_src_ip/unicast_src_ip", ic.Name, ic.Interface)
	}
	if len(ic.VIPs) > MaxAddrs {
		return nil, fmt.Errorf("vrrp_instance %s: %d virtual addresses, at most %d fit in an advertisement; move the rest to virtual_ipaddress_excluded", ic.Name, len(ic.VIPs), MaxAddrs)
	}
	for _, t := range ic.TrackScripts {
		if r.scripts[t.Name] == nil {
			return nil, fmt.Errorf("vrrp_instance %s: track_script %s is not defined; add a vrrp_script %s block", ic.Name, t.Name, t.Name)
		}
	}
	in := &instance{cfg: ic, src: ic.Src.As4(), trackUp: make([]bool, len(ic.TrackInterfaces))}
	for i := range in.trackUp {
		in.trackUp[i] = true // until LinkUp says otherwise
	}
	in.m = NewMachine(MachineConfig{Version: ic.Version, Priority: ic.Priority, Interval: ic.Interval,
		Preempt: ic.Preempt, PreemptDelay: ic.PreemptDelay, Src: in.src, DownTimerAdverts: ic.DownTimerAdverts,
		LowerPrioNoAdvert: ic.LowerPrioNoAdvert, HigherPrioSendAdvert: ic.HigherPrioSendAdvert})
	in.adv = Fields{Version: ic.Version, VRID: ic.VRID, Interval: in.m.Interval(), AuthType: ic.AuthType}
	if ic.Version == 2 && ic.AuthType == AuthPass {
		copy(in.adv.AuthData[:], ic.AuthPass)
	}
	for _, v := range ic.VIPs {
		if v.Is4() {
			in.adv.Addrs = append(in.adv.Addrs, v.As4())
		}
	}
	in.vips = append(slices.Clone(ic.VIPs), ic.ExcludedVIPs...)
	group := Group.As4()
	if ic.McastDst.Is4() {
		group = ic.McastDst.As4()
	}
	if len(ic.Peers) > 0 {
		for _, p := range ic.Peers {
			in.dsts = append(in.dsts, p.As4())
		}
	} else {
		in.dsts = [][4]byte{group}
	}
	in.check = check{version: ic.Version, authType: in.adv.AuthType, authPass: in.adv.AuthData,
		interval: in.m.Interval(), unicast: len(ic.Peers) > 0, checkSrc: ic.CheckUnicastSrc,
		ownSrc: in.src, vips: in.adv.Addrs, groupAddr: group}
	for _, p := range ic.Peers {
		in.check.peers = append(in.check.peers, p.As4())
	}
	in.buf = make([]byte, ipHeaderLen+in.adv.Len())
	in.st = InstanceStatus{Name: ic.Name, Interface: ic.Interface, VRID: ic.VRID, Version: ic.Version,
		BasePriority: ic.Priority, Priority: ic.Priority, VIPs: in.vips}
	return in, nil
}

// Status returns a snapshot of every instance, in configuration order. It
// is safe to call from any goroutine.
func (r *Router) Status() []InstanceStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]InstanceStatus, len(r.insts))
	for i, in := range r.insts {
		out[i] = in.st
		out[i].VIPs = slices.Clone(in.st.VIPs)
	}
	return out
}

// packet is a received packet handed from a reader to the loop.
type packet struct {
	iface string
	b     []byte
}

type scriptResult struct {
	name string
	ok   bool
}

// linkPoll is how often tracked interfaces are looked at.
const linkPoll = 100 * time.Millisecond

// Run opens the transports and runs the instances until ctx is done, then
// resigns: masters send priority-0 advertisements and release their
// addresses, and notify_stop runs.
func (r *Router) Run(ctx context.Context) error {
	pkts := make(chan packet, 64)
	results := make(chan scriptResult, 16)
	var wg sync.WaitGroup
	defer r.notifying.Wait()
	defer wg.Wait()
	for _, in := range r.insts {
		name := in.cfg.Interface
		if tx := r.ifs[name]; tx != nil {
			in.tx = tx
			continue
		}
		tx, err := r.cfg.Open(name)
		if err != nil {
			r.closeAll()
			return fmt.Errorf("vrrp: opening %s: %w", name, err)
		}
		r.ifs[name] = tx
		in.tx = tx
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.read(ctx, name, tx, pkts)
		}()
	}
	defer r.closeAll()

	scriptCtx, stopScripts := context.WithCancel(ctx)
	defer stopScripts()
	for _, s := range r.scripts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.runScript(scriptCtx, s.cfg, results)
		}()
	}

	now := time.Now()
	r.pollLinks(now)
	for _, in := range r.insts {
		r.applyTracking(now, in)
		if in.m.State() == Init {
			r.do(now, in, in.m.Start(now), true)
		}
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	nextPoll := now.Add(linkPoll)
	for {
		next := nextPoll
		for _, in := range r.insts {
			for _, d := range []time.Time{in.m.Deadline(), in.garpSecond, in.garpRefresh} {
				if !d.IsZero() && d.Before(next) {
					next = d
				}
			}
		}
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			r.shutdown(time.Now())
			return nil
		case p := <-pkts:
			r.receive(time.Now(), p)
		case res := <-results:
			r.scriptDone(time.Now(), res)
		case <-timer.C:
			now := time.Now()
			if !now.Before(nextPoll) {
				r.pollLinks(now)
				nextPoll = now.Add(linkPoll)
			}
			for _, in := range r.insts {
				r.do(now, in, in.m.Tick(now), true)
				r.garpTimers(now, in)
			}
		}
	}
}

func (r *Router) closeAll() {
	for _, tx := range r.ifs {
		tx.Close()
	}
}

// read copies each packet off the transport for the loop.
func (r *Router) read(ctx context.Context, iface string, tx Transport, out chan<- packet) {
	buf := make([]byte, 1500)
	for {
		n, err := tx.ReadPacket(buf)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Error("vrrp: receive stopped", "iface", iface, "err", err)
			}
			return
		}
		select {
		case out <- packet{iface: iface, b: slices.Clone(buf[:n])}:
		case <-ctx.Done():
			return
		}
	}
}

func (r *Router) receive(now time.Time, p packet) {
	pk := Packet(p.b)
	if !pk.ipSane() {
		r.count(nil, DropMalformed)
		return
	}
	in := r.byKey[instKey{p.iface, pk.Advert().VRID()}]
	if in == nil {
		r.count(nil, DropUnknownVRID)
		return
	}
	rcv, drop := in.check.verify(pk)
	if drop != DropNone {
		r.count(in, drop)
		if drop != DropOwn {
			r.log.Debug("vrrp: advertisement dropped", "instance", in.cfg.Name, "reason", drop.String(),
				"from", netip.AddrFrom4(pk.Src()))
		}
		return
	}
	r.mu.Lock()
	in.st.AdvertsReceived++
	if rcv.AddrMismatch {
		in.st.AddrMismatch++
	}
	r.mu.Unlock()
	if in.m.State() == Master && rcv.Priority < in.m.Priority() && rcv.Priority != PriorityStop {
		r.log.Info("vrrp: lower priority advertisement while master; answering and re-announcing",
			"instance", in.cfg.Name, "from", netip.AddrFrom4(rcv.Src), "priority", rcv.Priority)
	}
	r.do(now, in, in.m.Receive(now, rcv), true)
	r.mu.Lock()
	if m := in.m.MasterAddr(); m != [4]byte{} {
		in.st.MasterAddr = netip.AddrFrom4(m)
	}
	r.mu.Unlock()
}

func (r *Router) count(in *instance, d Drop) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if in == nil {
		r.unrouted[d]++
		return
	}
	in.st.Drops[d]++
}

// Unrouted returns the counts of packets no instance took, by reason.
func (r *Router) Unrouted() [NumDrops]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unrouted
}

// do performs a step's actions for in; sync propagates state changes to
// the instance's sync group.
func (r *Router) do(now time.Time, in *instance, a Action, sync bool) {
	if a == 0 {
		return
	}
	if a.Has(SendAdvert) {
		r.send(in, in.m.Priority())
	}
	if a.Has(SendStop) {
		r.send(in, PriorityStop)
	}
	if a.Has(Release) {
		r.instanceDown(in)
		for _, v := range in.vips {
			r.cfg.Owner.Release(v)
		}
		in.garpSecond, in.garpRefresh = time.Time{}, time.Time{}
	}
	if a.Has(Claim) {
		for _, v := range in.vips {
			r.cfg.Owner.Claim(v)
		}
		r.instanceUp(in)
		r.garp(in, in.cfg.GARPRepeat)
		if in.cfg.GARPDelay > 0 {
			in.garpSecond = now.Add(in.cfg.GARPDelay)
		}
		if in.cfg.GARPRefresh > 0 {
			in.garpRefresh = now.Add(in.cfg.GARPRefresh)
		}
	}
	if a.Has(Announce) {
		r.garp(in, in.cfg.GARPLowerPrioRepeat)
	}
	if a.Has(Changed) {
		s := in.m.State()
		r.mu.Lock()
		in.st.State, in.st.Since = s, now
		if s == Master {
			in.st.BecameMaster++
		}
		r.mu.Unlock()
		r.log.Info("vrrp: "+in.cfg.Name+" entering "+s.String()+" state", "instance", in.cfg.Name,
			"priority", in.m.Priority(), "vrid", in.cfg.VRID)
		r.notify(in.cfg.Notify, "INSTANCE", in.cfg.Name, s, in.m.Priority())
		if g := r.groupOf[in]; g != nil && sync && s != Stopped {
			r.syncGroup(now, g, in, s)
		}
	}
	r.mu.Lock()
	in.st.Priority = in.m.Priority()
	if m := in.m.MasterAddr(); m != [4]byte{} {
		in.st.MasterAddr = netip.AddrFrom4(m)
	}
	r.mu.Unlock()
}

// syncGroup moves the other members of g to s, once per group transition.
func (r *Router) syncGroup(now time.Time, g *syncGroup, from *instance, s State) {
	moved := false
	for _, other := range g.members {
		if other == from || other.m.State() == s {
			continue
		}
		if a := other.m.Force(now, s); a != 0 {
			moved = true
			r.do(now, other, a, false)
		}
	}
	all := true
	for _, m := range g.members {
		all = all && m.m.State() == s
	}
	if all && (moved || len(g.members) == 1 || from != nil) {
		r.notify(g.cfg.Notify, "GROUP", g.cfg.Name, s, 0)
	}
}

func (r *Router) send(in *instance, prio uint8) {
	in.adv.Priority = prio
	pseudo := in.cfg.Version == 3 && !in.cfg.ChecksumNoPseudo
	for _, dst := range in.dsts {
		in.ipID++
		n := EncodePacket(in.buf, &in.adv, in.src, dst, in.ipID, pseudo)
		if err := in.tx.WritePacket(in.buf[:n]); err != nil {
			r.log.Warn("vrrp: sending advertisement", "instance", in.cfg.Name, "to", netip.AddrFrom4(dst), "err", err)
			continue
		}
		r.mu.Lock()
		in.st.AdvertsSent++
		r.mu.Unlock()
	}
}

func (r *Router) garp(in *instance, repeat int) {
	for range repeat {
		for _, v := range in.vips {
			if !v.Is4() {
				continue
			}
			if err := r.cfg.Owner.Gratuitous(in.cfg.Interface, v); err != nil {
				r.log.Warn("vrrp: gratuitous ARP", "instance", in.cfg.Name, "vip", v, "err", err)
				continue
			}
			r.mu.Lock()
			in.st.GratuitousSent++
			r.mu.Unlock()
		}
	}
}

func (r *Router) garpTimers(now time.Time, in *instance) {
	if in.m.State() != Master {
		return
	}
	if !in.garpSecond.IsZero() && !now.Before(in.garpSecond) {
		in.garpSecond = time.Time{}
		r.garp(in, in.cfg.GARPRepeat)
	}
	if !in.garpRefresh.IsZero() && !now.Before(in.garpRefresh) {
		in.garpRefresh = now.Add(in.cfg.GARPRefresh)
		r.garp(in, max(in.cfg.GARPRefreshRepeat, 1))
	}
}

func (r *Router) shutdown(now time.Time) {
	for _, in := range r.insts {
		r.do(now, in, in.m.Shutdown(now), false)
	}
}

// pollLinks looks at each instance's interface and its tracked
// interfaces, and re-applies tracking where a link changed.
func (r *Router) pollLinks(now time.Time) {
	if r.cfg.LinkUp == nil {
		return
	}
	up := map[string]bool{}
	isUp := func(name string) bool {
		v, ok := up[name]
		if !ok {
			v = r.cfg.LinkUp(name)
			up[name] = v
		}
		return v
	}
	for _, in := range r.insts {
		changed := false
		if down := !isUp(in.cfg.Interface); down != in.linkDown {
			in.linkDown, changed = down, true
		}
		for i, t := range in.cfg.TrackInterfaces {
			if v := isUp(t.Name); v != in.trackUp[i] {
				in.trackUp[i], changed = v, true
			}
		}
		if changed {
			r.applyTracking(now, in)
		}
	}
}

// applyTracking recomputes in's priority and fault from its interface,
// tracked interfaces and tracked scripts (keepalived's weights: 0 means
// fault while down; positive adds while up; negative subtracts while down).
func (r *Router) applyTracking(now time.Time, in *instance) {
	fault := in.linkDown
	prio := int(in.cfg.Priority)
	for i, t := range in.cfg.TrackInterfaces {
		prio, fault = weigh(prio, fault, in.trackUp[i], t.Weight)
	}
	for _, t := range in.cfg.TrackScripts {
		s := r.scripts[t.Name]
		prio, fault = weigh(prio, fault, s.up, t.Weight)
	}
	if in.cfg.Priority != PriorityOwner {
		in.m.SetPriority(uint8(min(max(prio, 1), 254)))
	}
	if in.m.State() == Init {
		if fault {
			in.m.state, in.m.since = Fault, now
			r.do(now, in, Changed, true)
		}
		return
	}
	r.do(now, in, in.m.SetFault(now, fault), true)
	r.mu.Lock()
	in.st.Priority = in.m.Priority()
	r.mu.Unlock()
}

func weigh(prio int, fault, up bool, weight int) (int, bool) {
	switch {
	case weight == 0:
		return prio, fault || !up
	case weight > 0 && up:
		return prio + weight, fault
	case weight < 0 && !up:
		return prio + weight, fault
	}
	return prio, fault
}

// scriptDone counts a script result: Rise consecutive successes bring a
// failed script up, Fall consecutive failures bring it down. Scripts start
// up, as in keepalived without init_fail.
func (r *Router) scriptDone(now time.Time, res scriptResult) {
	s := r.scripts[res.name]
	if s == nil {
		return
	}
	if res.ok == s.up {
		s.run = 0
		return
	}
	s.run++
	need := s.cfg.Fall
	if res.ok {
		need = s.cfg.Rise
	}
	if s.run < need {
		return
	}
	s.up, s.run = res.ok, 0
	r.log.Info("vrrp: tracked script changed", "script", s.cfg.Name, "up", s.up)
	for _, in := range r.insts {
		for _, t := range in.cfg.TrackScripts {
			if t.Name == s.cfg.Name {
				r.applyTracking(now, in)
				break
			}
		}
	}
}
