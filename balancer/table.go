package balancer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// MaxWeight is the highest real server weight, as in ipvsadm and keepalived.
const MaxWeight = 65535

// Table is an immutable snapshot of the virtual services and their real
// servers. The control plane builds a new Table with NewTable and publishes
// it through an atomic.Pointer; packet workers read it without locks. Only
// the live state hanging off it (RealStats, ServiceStats, scheduler
// positions) changes after NewTable returns.
type Table struct {
	services []*Service

	// v4 maps a packed (address, port, protocol) to its service; a packed
	// integer key keeps the lookup on the map's 64-bit fast path.
	v4     map[uint64]*Service
	v6     map[v6Key]*Service
	fwmark map[uint32]*Service
	// wild4 and wild6 say whether some persistent service has port 0 and
	// so catches every port of its address (IPVS's nullsvc_counter).
	wild4, wild6 bool

	// realSlots and serviceSlots are open-addressed by ID (linear
	// probing, at most half full): IDs are allocated sequentially, so the
	// first probe nearly always hits.
	realSlots    []*RealServer
	serviceSlots []*Service

	// Control-plane indexes, used by the next NewTable.
	byKey       map[ServiceKey]*Service
	realByKey   map[realKey]*RealServer
	nextService ServiceID
	nextReal    RealID
	realCount   int
	warnings    []string
}

// v6Key is the pointer-free lookup key of an IPv6 service.
type v6Key struct {
	addr  [16]byte
	port  uint16
	proto Protocol
}

// realKey identifies a real server across snapshots: its service and its
// address and port after normalisation (see NewTable).
type realKey struct {
	svc  ServiceKey
	addr netip.Addr
	port uint16
}

func v4Key(proto Protocol, addr [4]byte, port uint16) uint64 {
	return uint64(binary.BigEndian.Uint32(addr[:]))<<24 | uint64(port)<<8 | uint64(proto)
}

// NewTable builds a snapshot from cfgs. Services and real servers that also
// exist in prev (same ServiceKey; same service, address and port) keep
// their ID and their Stats, so counters, connections and persistence
// survive a reload; new ones get new IDs, allocated upwards and never
// reused (a connection entry may still hold the ID of a removed server,
// and must not find a different server under it). prev may be nil.
//
// Normalisation, as ipvsadm does it:
//   - An empty scheduler name means wlc.
//   - PersistenceMaskBits 0 means one client address (32 or 128).
//   - A DR or TUN real server receives the packet unchanged, so it is
//     reached on the VIP port whatever port the configuration gives: its
//     Port is set to the service port, and a different non-zero port is
//     reported in Warnings (IPVS accepts and ignores it; we say so). Behind
//     a port-0 (any port) service it stays 0, meaning the client's port.
//   - A NAT real server with port 0 gets the service port.
//
// Counters: a kept real server whose upper threshold is now unset or above
// its connection count leaves the overloaded state, as in IPVS.
//
// All configuration errors are returned together; each names the service
// and real server and says what to change. prev is never modified.
func NewTable(prev *Table, cfgs []ServiceConfig) (*Table, error) {
	t := &Table{
		v4:          make(map[uint64]*Service),
		v6:          make(map[v6Key]*Service),
		fwmark:      make(map[uint32]*Service),
		byKey:       make(map[ServiceKey]*Service, len(cfgs)),
		realByKey:   make(map[realKey]*RealServer),
		nextService: 1,
		nextReal:    1,
	}
	if prev != nil {
		t.nextService, t.nextReal = prev.nextService, prev.nextReal
	}
	var errs []error
	keptServices := make(map[ServiceID]bool)
	keptReals := make(map[RealID]bool)
	for i := range cfgs {
		svc, err := t.buildService(prev, &cfgs[i])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if svc.ID != 0 {
			keptServices[svc.ID] = true
		}
		for _, r := range svc.Reals {
			if r.ID != 0 {
				keptReals[r.ID] = true
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	// Allocate IDs only now that every kept ID is known, so that even
	// after the counters wrap no live ID is handed out twice.
	for _, svc := range t.services {
		if svc.ID == 0 {
			svc.ID = allocID(&t.nextService, keptServices)
			svc.Stats = newServiceStats()
		}
		for i, r := range svc.Reals {
			r.index = int32(i)
			r.svcStats = svc.Stats
			if r.ID == 0 {
				r.ID = allocID(&t.nextReal, keptReals)
				r.Stats = newRealStats()
			}
		}
	}
	for _, svc := range t.services {
		sched, err := NewScheduler(svc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		svc.Sched = sched
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	t.index()
	for _, svc := range t.services {
		for _, r := range svc.Reals {
			if r.Stats.overloaded.Load() &&
				(r.UpperThreshold == 0 || int64(r.UpperThreshold) > r.Stats.totalConns()) {
				r.Stats.overloaded.Store(false)
				r.Stats.changed()
			}
		}
	}
	return t, nil
}

// allocID returns the next free ID, skipping 0 and IDs kept alive.
func allocID[ID ~uint32](next *ID, alive map[ID]bool) ID {
	for {
		id := *next
		*next++
		if id != 0 && !alive[id] {
			return id
		}
	}
}

// buildService validates one service configuration and adds its Service,
// carrying IDs and stats over from prev.
func (t *Table) buildService(prev *Table, c *ServiceConfig) (*Service, error) {
	key := c.Key
	key.Addr = key.Addr.Unmap()
	where := "balancer: service " + key.String()
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(where+": "+format, args...))
	}

	if key.FWMark == 0 {
		if !key.Addr.IsValid() {
			fail("no virtual address; set the VIP (or a firewall mark)")
		}
		switch key.Proto {
		case TCP, UDP, SCTP:
		default:
			fail("protocol %v is not supported; use TCP, UDP or SCTP", key.Proto)
		}
		if key.Port == 0 && c.Persistence <= 0 {
			fail("port 0 (every port) needs persistence, as in IPVS; set a persistence timeout or a port")
		}
	}
	if _, dup := t.byKey[key]; dup {
		fail("defined twice; merge the two definitions or change the address, port or protocol")
	}
	if c.Persistence < 0 {
		fail("negative persistence timeout %v; use 0 (off) or a positive duration", c.Persistence)
	}
	maxBits := 128
	if key.Addr.Is4() {
		maxBits = 32
	}
	maskBits := c.PersistenceMaskBits
	if maskBits < 0 || maskBits > maxBits {
		fail("persistence granularity /%d is out of range; use 1 to %d (0 means %d, one client address)",
			maskBits, maxBits, maxBits)
	}
	if maskBits == 0 && key.FWMark == 0 {
		maskBits = maxBits
	}
	sched := c.Scheduler
	if sched == "" {
		sched = DefaultScheduler
	}
	if _, ok := schedulerFactories[sched]; !ok {
		fail("unknown scheduler %q; use one of %v", sched, SchedulerNames())
	}

	svc := &Service{
		Key:                 key,
		Scheduler:           sched,
		Flags:               c.Flags,
		Persistence:         c.Persistence,
		PersistenceMaskBits: maskBits,
		MaglevTableSize:     c.MaglevTableSize,
	}
	var old *Service
	if prev != nil {
		old = prev.byKey[key]
	}
	if old != nil {
		svc.ID, svc.Stats = old.ID, old.Stats
	}

	seen := make(map[realKey]bool, len(c.Reals))
	for i := range c.Reals {
		rc := &c.Reals[i]
		addr := rc.Addr.Unmap()
		port := rc.Port
		rwhere := fmt.Sprintf("real server %v", netip.AddrPortFrom(addr, port))
		rfail := func(format string, args ...any) { fail(rwhere+": "+format, args...) }
		if !addr.IsValid() {
			rfail("no address; set the real server's IP address")
			continue
		}
		switch rc.Method {
		case NAT:
			if port == 0 {
				port = key.Port
			}
		case DR, TUN:
			if key.Port != 0 {
				if port != 0 && port != key.Port {
					t.warnings = append(t.warnings, fmt.Sprintf(
						"%s: %s: %v forwards to the VIP port %d, not %d; use NAT to change the port",
						where, rwhere, rc.Method, key.Port, port))
				}
				port = key.Port
			}
		default:
			rfail("unknown forwarding method %v; use NAT, DR or TUN", rc.Method)
		}
		if key.FWMark == 0 && rc.Method != TUN && addr.Is4() != key.Addr.Is4() {
			rfail("address family differs from the VIP's; only TUN may mix IPv4 and IPv6")
		}
		if rc.Weight > MaxWeight {
			rfail("weight %d is above %d; set a weight between 0 and %d", rc.Weight, MaxWeight, MaxWeight)
		}
		if rc.LowerThreshold > rc.UpperThreshold {
			rfail("lower threshold %d is above the upper threshold %d; lower it or raise the upper one (0 is unset)",
				rc.LowerThreshold, rc.UpperThreshold)
		}
		rk := realKey{svc: key, addr: addr, port: port}
		if seen[rk] {
			rfail("listed twice in this service; remove one")
			continue
		}
		seen[rk] = true
		r := &RealServer{
			Addr:           addr,
			Port:           port,
			Method:         rc.Method,
			Weight:         rc.Weight,
			UpperThreshold: rc.UpperThreshold,
			LowerThreshold: rc.LowerThreshold,
		}
		if old != nil && prev != nil {
			if or := prev.realByKey[rk]; or != nil {
				r.ID, r.Stats = or.ID, or.Stats
			}
		}
		svc.Reals = append(svc.Reals, r)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	t.byKey[key] = svc
	t.services = append(t.services, svc)
	return svc, nil
}

// index fills the lookup structures once every ID is known.
func (t *Table) index() {
	for _, svc := range t.services {
		k := svc.Key
		switch {
		case k.FWMark != 0:
			t.fwmark[k.FWMark] = svc
		case k.Addr.Is4():
			t.v4[v4Key(k.Proto, k.Addr.As4(), k.Port)] = svc
			t.wild4 = t.wild4 || k.Port == 0
		default:
			t.v6[v6Key{addr: k.Addr.As16(), port: k.Port, proto: k.Proto}] = svc
			t.wild6 = t.wild6 || k.Port == 0
		}
		for _, r := range svc.Reals {
			t.realByKey[realKey{svc: k, addr: r.Addr, port: r.Port}] = r
		}
		t.realCount += len(svc.Reals)
	}
	t.serviceSlots = make([]*Service, slotCount(len(t.services)))
	for _, svc := range t.services {
		m := uint32(len(t.serviceSlots) - 1)
		i := uint32(svc.ID) & m
		for t.serviceSlots[i] != nil {
			i = (i + 1) & m
		}
		t.serviceSlots[i] = svc
	}
	t.realSlots = make([]*RealServer, slotCount(t.realCount))
	for _, svc := range t.services {
		for _, r := range svc.Reals {
			m := uint32(len(t.realSlots) - 1)
			i := uint32(r.ID) & m
			for t.realSlots[i] != nil {
				i = (i + 1) & m
			}
			t.realSlots[i] = r
		}
	}
}

// slotCount is a power of two at least twice n, so probing always ends.
func slotCount(n int) int {
	s := 8
	for s < 2*n {
		s <<= 1
	}
	return s
}

// LookupV4 returns the service for a packet to addr:port over proto, or nil.
// A persistent service with port 0 catches every port of its address when
// no service matches the port exactly (IPVS's catch-all). It does not
// allocate.
func (t *Table) LookupV4(proto Protocol, addr [4]byte, port uint16) *Service {
	if svc := t.v4[v4Key(proto, addr, port)]; svc != nil {
		return svc
	}
	if t.wild4 && port != 0 {
		return t.v4[v4Key(proto, addr, 0)]
	}
	return nil
}

// LookupV6 is LookupV4 for IPv6 addresses.
func (t *Table) LookupV6(proto Protocol, addr [16]byte, port uint16) *Service {
	if svc := t.v6[v6Key{addr: addr, port: port, proto: proto}]; svc != nil {
		return svc
	}
	if t.wild6 && port != 0 {
		return t.v6[v6Key{addr: addr, proto: proto}]
	}
	return nil
}

// LookupFWMark returns the firewall-mark service for mark, or nil.
func (t *Table) LookupFWMark(mark uint32) *Service { return t.fwmark[mark] }

// Lookup returns the service for a packet to addr:port over proto, for
// either address family. Packet paths call LookupV4 or LookupV6 directly.
func (t *Table) Lookup(proto Protocol, addr netip.Addr, port uint16) *Service {
	addr = addr.Unmap()
	if addr.Is4() {
		return t.LookupV4(proto, addr.As4(), port)
	}
	if addr.Is6() {
		return t.LookupV6(proto, addr.As16(), port)
	}
	return nil
}

// Real returns the real server with the given ID in this snapshot, or nil
// when it is not (or no longer) configured. It does not allocate.
func (t *Table) Real(id RealID) *RealServer {
	m := uint32(len(t.realSlots) - 1)
	for i := uint32(id) & m; ; i = (i + 1) & m {
		if r := t.realSlots[i]; r == nil || r.ID == id {
			return r
		}
	}
}

// Service returns the service with the given ID in this snapshot, or nil.
func (t *Table) Service(id ServiceID) *Service {
	m := uint32(len(t.serviceSlots) - 1)
	for i := uint32(id) & m; ; i = (i + 1) & m {
		if s := t.serviceSlots[i]; s == nil || s.ID == id {
			return s
		}
	}
}

// ServiceByKey returns the service with the given key, or nil.
func (t *Table) ServiceByKey(k ServiceKey) *Service {
	k.Addr = k.Addr.Unmap()
	return t.byKey[k]
}

// Services returns the services in configuration order. The slice and the
// services are shared with every reader: do not modify them.
func (t *Table) Services() []*Service { return t.services }

// Warnings returns what NewTable accepted but changed, one line each, for
// the control plane to log once.
func (t *Table) Warnings() []string { return t.warnings }

// Pick returns the service flow f (addressed to f.Dst:f.DstPort) belongs
// to and the real server its scheduler gives it, without binding a
// connection. It is what a new connection would get, and it calls
// Schedule, so it changes scheduler state exactly as a real new connection
// does: rr, wrr and swrr advance their rotation, twos draws random
// numbers, lblc and lblcr may update their destination cache. lc, wlc, sed,
// nq, fo, ovf, sh, dh and mh are pure functions of the counters and the
// flow. Use Peek to ask without changing anything.
func (t *Table) Pick(f *Flow) (*Service, *RealServer) {
	svc := t.Lookup(f.Proto, f.Dst, f.DstPort)
	if svc == nil {
		return nil, nil
	}
	return svc, svc.Sched.Schedule(f)
}

// Peek is Pick without side effects: it returns what the next Schedule
// would pick for f. ok is false when the service exists but its scheduler
// cannot answer without changing state (it does not implement Peeker;
// twos, whose answer is random, is one).
func (t *Table) Peek(f *Flow) (svc *Service, r *RealServer, ok bool) {
	svc = t.Lookup(f.Proto, f.Dst, f.DstPort)
	if svc == nil {
		return nil, nil, true
	}
	p, isPeeker := svc.Sched.(Peeker)
	if !isPeeker {
		return svc, nil, false
	}
	return svc, p.Peek(f), true
}
