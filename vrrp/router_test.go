package vrrp

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// wire is an in-memory Ethernet segment: multicast reaches every other
// port, unicast the port with the destination address. A port can be cut
// off (split brain) or silenced (killed process).
type wire struct {
	mu    sync.Mutex
	ports []*memPort
}

type memPort struct {
	w      *wire
	addr   [4]byte
	in     chan []byte
	cut    bool
	closed chan struct{}
	once   sync.Once
}

func (w *wire) port(addr [4]byte) *memPort {
	p := &memPort{w: w, addr: addr, in: make(chan []byte, 256), closed: make(chan struct{})}
	w.mu.Lock()
	w.ports = append(w.ports, p)
	w.mu.Unlock()
	return p
}

func (w *wire) setCut(p *memPort, cut bool) {
	w.mu.Lock()
	p.cut = cut
	w.mu.Unlock()
}

func (p *memPort) ReadPacket(b []byte) (int, error) {
	select {
	case pkt := <-p.in:
		return copy(b, pkt), nil
	case <-p.closed:
		return 0, errors.New("closed")
	}
}

func (p *memPort) WritePacket(b []byte) error {
	p.w.mu.Lock()
	defer p.w.mu.Unlock()
	if p.cut {
		return nil
	}
	dst := Packet(b).Dst()
	for _, o := range p.w.ports {
		if o == p || o.cut {
			continue
		}
		if dst[0]&0xf0 == 0xe0 || dst == o.addr {
			select {
			case o.in <- slices.Clone(b):
			default:
			}
		}
	}
	return nil
}

func (p *memPort) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

// owner records what a router did with its addresses.
type owner struct {
	mu      sync.Mutex
	claimed map[netip.Addr]bool
	garps   int
}

func (o *owner) Claim(v netip.Addr) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.claimed == nil {
		o.claimed = map[netip.Addr]bool{}
	}
	o.claimed[v] = true
}

func (o *owner) Release(v netip.Addr) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.claimed, v)
}

func (o *owner) Gratuitous(string, netip.Addr) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.garps++
	return nil
}

func (o *owner) owns(v netip.Addr) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.claimed[v]
}

func (o *owner) garpCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.garps
}

var vip = netip.MustParseAddr("10.0.0.100")

type node struct {
	r      *Router
	own    *owner
	port   *memPort
	cancel context.CancelFunc
	done   chan struct{}
}

func startNode(t *testing.T, w *wire, src string, mutate func(*Config)) *node {
	t.Helper()
	a := netip.MustParseAddr(src)
	n := &node{own: &owner{}, port: w.port(a.As4()), done: make(chan struct{})}
	cfg := Config{
		Instances: []InstanceConfig{{Name: "VI_1", Interface: "eth0", VRID: 7, Version: 3, Priority: 100,
			Interval: 100 * time.Millisecond, Preempt: true, VIPs: []netip.Addr{vip}, Src: a,
			GARPDelay: DefaultGARPDelay, GARPRepeat: DefaultGARPRepeat, GARPLowerPrioRepeat: 1}},
		Owner: n.own,
		Open:  func(string) (Transport, error) { return n.port, nil },
	}
	if mutate != nil {
		mutate(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.r = r
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	t.Cleanup(n.stop)
	go func() {
		defer close(n.done)
		r.Run(ctx)
	}()
	return n
}

func (n *node) state() State { return n.r.Status()[0].State }

func (n *node) stop() {
	n.cancel()
	<-n.done
}

func prio(p uint8) func(*Config) { return func(c *Config) { c.Instances[0].Priority = p } }

// masters checks the one-master invariant and returns the master's index.
func masters(t *testing.T, nodes ...*node) int {
	t.Helper()
	idx, count := -1, 0
	for i, n := range nodes {
		if n.state() == Master {
			idx, count = i, count+1
			if !n.own.owns(vip) {
				t.Errorf("node %d is master but does not answer for the VIP", i)
			}
		} else if n.own.owns(vip) {
			t.Errorf("node %d is %v but answers for the VIP", i, n.state())
		}
	}
	if count != 1 {
		t.Fatalf("%d masters", count)
	}
	return idx
}

func TestRouterElectionFailoverAndGARP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &wire{}
		a := startNode(t, w, "10.0.0.1", prio(150))
		b := startNode(t, w, "10.0.0.2", prio(100))
		time.Sleep(time.Second)
		synctest.Wait()
		if masters(t, a, b) != 0 {
			t.Fatal("the higher priority is not master")
		}
		// keepalived's schedule: 5 at once, 5 more after garp_master_delay.
		if g := a.own.garpCount(); g != 5 {
			t.Fatalf("%d gratuitous ARPs after becoming master, want 5", g)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if g := a.own.garpCount(); g != 10 {
			t.Fatalf("%d gratuitous ARPs after garp_master_delay, want 10", g)
		}
		if b.own.garpCount() != 0 || b.r.Status()[0].MasterAddr != netip.MustParseAddr("10.0.0.1") {
			t.Fatalf("backup: garps %d, master %v", b.own.garpCount(), b.r.Status()[0].MasterAddr)
		}

		// Graceful stop: priority 0, B takes over after its skew time.
		stopAt := time.Now()
		a.stop()
		for b.state() != Master {
			time.Sleep(time.Millisecond)
		}
		if took := time.Since(stopAt); took > 70*time.Millisecond {
			t.Fatalf("takeover after resign took %v, want the skew time (61ms)", took)
		}
		if a.own.owns(vip) {
			t.Fatal("stopped node still answers for the VIP")
		}
		b.stop()
	})
}

func TestRouterKilledMasterDetectedWithinMasterDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &wire{}
		a := startNode(t, w, "10.0.0.1", prio(150))
		b := startNode(t, w, "10.0.0.2", prio(100))
		time.Sleep(time.Second)
		synctest.Wait()
		masters(t, a, b)
		// kill -9: no resignation, the packets just stop.
		w.setCut(a.port, true)
		killedAt := time.Now()
		for b.state() != Master {
			time.Sleep(time.Millisecond)
		}
		// master-down: 3*100ms + 156/256*100ms = 360.9ms
		if took := time.Since(killedAt); took < 300*time.Millisecond || took > 362*time.Millisecond {
			t.Fatalf("takeover after %v, want within the master-down interval (361ms)", took)
		}
		a.stop()
		b.stop()
	})
}

func TestRouterSplitBrainHeals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &wire{}
		a := startNode(t, w, "10.0.0.1", prio(150))
		b := startNode(t, w, "10.0.0.2", prio(100))
		time.Sleep(time.Second)
		synctest.Wait()
		masters(t, a, b)
		w.setCut(b.port, true)
		time.Sleep(time.Second)
		synctest.Wait()
		if a.state() != Master || b.state() != Master {
			t.Fatalf("partitioned: %v %v, want both MASTER", a.state(), b.state())
		}
		before := a.own.garpCount()
		w.setCut(b.port, false)
		time.Sleep(time.Second)
		synctest.Wait()
		if masters(t, a, b) != 0 {
			t.Fatal("the higher priority lost after healing")
		}
		// A heard B's lower-priority advert and re-announced.
		if a.own.garpCount() <= before {
			t.Fatal("the surviving master sent no gratuitous ARP after the split healed")
		}
		a.stop()
		b.stop()
	})
}

func TestRouterPreemptAndNopreempt(t *testing.T) {
	for _, preempt := range []bool{true, false} {
		synctest.Test(t, func(t *testing.T) {
			w := &wire{}
			b := startNode(t, w, "10.0.0.2", prio(100))
			time.Sleep(time.Second)
			synctest.Wait()
			a := startNode(t, w, "10.0.0.1", func(c *Config) {
				c.Instances[0].Priority = 150
				c.Instances[0].Preempt = preempt
			})
			time.Sleep(time.Second)
			synctest.Wait()
			want := 1 // B stays
			if preempt {
				want = 0
			}
			if got := masters(t, a, b); got != want {
				t.Fatalf("preempt %v: master is %d, want %d", preempt, got, want)
			}
			a.stop()
			b.stop()
		})
	}
}

func TestRouterUnicastAndV2Auth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &wire{}
		uni := func(self, peer string, p uint8) func(*Config) {
			return func(c *Config) {
				ic := &c.Instances[0]
				ic.Priority, ic.Version, ic.Interval = p, 2, time.Second
				ic.AuthType, ic.AuthPass = AuthPass, "pw"
				ic.Peers = []netip.Addr{netip.MustParseAddr(peer)}
				ic.CheckUnicastSrc = true
			}
		}
		a := startNode(t, w, "10.0.0.1", uni("10.0.0.1", "10.0.0.2", 150))
		b := startNode(t, w, "10.0.0.2", uni("10.0.0.2", "10.0.0.1", 100))
		// An intruder with the wrong password on the same wire is ignored.
		c := startNode(t, w, "10.0.0.3", func(c *Config) {
			uni("10.0.0.3", "10.0.0.2", 254)(c)
			c.Instances[0].AuthPass = "wrong"
		})
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if b.state() != Backup || a.state() != Master {
			t.Fatalf("states a %v b %v", a.state(), b.state())
		}
		if d := b.r.Status()[0].Drops[DropAuthPass]; d == 0 {
			t.Fatal("the intruder's adverts were not counted as auth_pass drops")
		}
		a.stop()
		b.stop()
		c.stop()
	})
}

// recorder is an Exec that records commands and fails scripts on demand.
type recorder struct {
	mu   sync.Mutex
	cmds []string
	fail map[string]bool
}

func (r *recorder) exec(_ context.Context, cmd string, args ...string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cmds = append(r.cmds, strings.TrimSpace(cmd+" "+strings.Join(args, " ")))
	if r.fail[cmd] {
		return errors.New("exit status 1")
	}
	return nil
}

func (r *recorder) setFail(cmd string, f bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail[cmd] = f
}

func (r *recorder) ran(cmd string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.cmds, cmd)
}

func TestRouterTrackScriptWeightAndNotify(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &wire{}
		rec := &recorder{fail: map[string]bool{}}
		a := startNode(t, w, "10.0.0.1", func(c *Config) {
			c.Exec = rec.exec
			c.Scripts = []Script{{Name: "chk", Command: "check-lb", Interval: 100 * time.Millisecond, Weight: -60, Rise: 2, Fall: 2}}
			ic := &c.Instances[0]
			ic.Priority = 150
			ic.TrackScripts = []Track{{Name: "chk", Weight: -60}}
			ic.Notify = Notify{Master: "/n/master", Backup: "/n/backup", Any: "/n/any"}
		})
		b := startNode(t, w, "10.0.0.2", prio(120))
		time.Sleep(time.Second)
		synctest.Wait()
		if masters(t, a, b) != 0 || !rec.ran("/n/master") || !rec.ran("/n/any INSTANCE VI_1 MASTER 150") {
			t.Fatalf("master %v; ran %q", a.state(), rec.cmds)
		}
		rec.setFail("check-lb", true)
		time.Sleep(150 * time.Millisecond) // one failure: fall 2 not reached
		synctest.Wait()
		if a.r.Status()[0].Priority != 150 {
			t.Fatalf("priority %d after one failure", a.r.Status()[0].Priority)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if st := a.r.Status()[0]; st.Priority != 90 || masters(t, a, b) != 1 {
			t.Fatalf("after the script failed: priority %d state %v", st.Priority, st.State)
		}
		if !rec.ran("/n/backup") || !rec.ran("/n/any INSTANCE VI_1 BACKUP 90") {
			t.Fatalf("ran %q", rec.cmds)
		}
		rec.setFail("check-lb", false)
		time.Sleep(time.Second)
		synctest.Wait()
		if masters(t, a, b) != 0 {
			t.Fatal("priority restored but no preemption")
		}
		a.stop()
		b.stop()
	})
}

func TestRouterTrackInterfaceFaultAndSyncGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &wire{}
		var mu sync.Mutex
		linkUp := map[string]bool{"eth0": true, "eth1": true}
		vip2 := netip.MustParseAddr("10.0.1.100")
		rec := &recorder{fail: map[string]bool{}}
		a := startNode(t, w, "10.0.0.1", func(c *Config) {
			c.Exec = rec.exec
			c.LinkUp = func(n string) bool { mu.Lock(); defer mu.Unlock(); return linkUp[n] }
			ic := c.Instances[0]
			ic.Priority = 150
			ic.TrackInterfaces = []Track{{Name: "eth1"}}
			ic2 := ic
			ic2.Name, ic2.VRID, ic2.VIPs, ic2.TrackInterfaces = "VI_2", 8, []netip.Addr{vip2}, nil
			c.Instances = []InstanceConfig{ic, ic2}
			c.SyncGroups = []SyncGroup{{Name: "G", Members: []string{"VI_1", "VI_2"}, Notify: Notify{Fault: "/g/fault"}}}
		})
		time.Sleep(time.Second)
		synctest.Wait()
		st := a.r.Status()
		if st[0].State != Master || st[1].State != Master {
			t.Fatalf("states %v %v", st[0].State, st[1].State)
		}
		mu.Lock()
		linkUp["eth1"] = false
		mu.Unlock()
		time.Sleep(200 * time.Millisecond)
		synctest.Wait()
		st = a.r.Status()
		if st[0].State != Fault || st[1].State != Fault || a.own.owns(vip) || a.own.owns(vip2) {
			t.Fatalf("after eth1 went down: %v %v (VI_2 follows its sync group)", st[0].State, st[1].State)
		}
		if !rec.ran("/g/fault") {
			t.Fatalf("group notify_fault not run: %q", rec.cmds)
		}
		mu.Lock()
		linkUp["eth1"] = true
		mu.Unlock()
		time.Sleep(time.Second)
		synctest.Wait()
		st = a.r.Status()
		if st[0].State != Master || st[1].State != Master || !a.own.owns(vip2) {
			t.Fatalf("after eth1 came back: %v %v", st[0].State, st[1].State)
		}
		a.stop()
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	base := InstanceConfig{Name: "VI_1", Interface: "eth0", VRID: 1, Version: 3, Priority: 100,
		Interval: time.Second, Src: netip.MustParseAddr("10.0.0.1")}
	o := &owner{}
	open := func(string) (Transport, error) { return nil, errors.New("x") }
	cases := map[string]Config{
		"duplicate vrid": {Instances: []InstanceConfig{base, base}, Owner: o, Open: open},
		"unknown script": {Instances: []InstanceConfig{func() InstanceConfig { b := base; b.TrackScripts = []Track{{Name: "nope"}}; return b }()}, Owner: o, Open: open},
		"unknown member": {Instances: []InstanceConfig{base}, SyncGroups: []SyncGroup{{Name: "G", Members: []string{"VI_9"}}}, Owner: o, Open: open},
		"no source":      {Instances: []InstanceConfig{func() InstanceConfig { b := base; b.Src = netip.Addr{}; return b }()}, Owner: o, Open: open},
		"version 4":      {Instances: []InstanceConfig{func() InstanceConfig { b := base; b.Version = 4; return b }()}, Owner: o, Open: open},
		"no owner":       {Instances: []InstanceConfig{base}, Open: open},
	}
	for name, c := range cases {
		if _, err := New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
