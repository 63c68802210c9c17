package bench

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/forward"
	"github.com/ulvs/ulvs/forward/afpacket"
	"github.com/ulvs/ulvs/internal/netns"
	"github.com/ulvs/ulvs/internal/report"
	"golang.org/x/sys/unix"
)

// subject is one forwarder under test, started and stopped once per window.
type subject interface {
	start() error
	// alive returns an error once the subject has died.
	alive() error
	// cpu returns the subject's on-CPU time so far; ok is false when its
	// work is not attributable to a thread (kernel forwarding).
	cpu() (d time.Duration, ok bool)
	// stop stops the subject and returns its own counters.
	stop() (map[string]uint64, error)
}

func (h *harness) newSubject(s Subject, run int) (subject, error) {
	bin := cmp.Or(s.Binary(), h.c.Binary)
	switch s.Kind() {
	case ULVSNAT:
		return &ulvsSubject{h: h, method: balancer.NAT, name: s, bin: bin, run: run}, nil
	case ULVSDR:
		return &ulvsSubject{h: h, method: balancer.DR, name: s, bin: bin, run: run}, nil
	case ULVSTUN:
		return &ulvsSubject{h: h, method: balancer.TUN, name: s, bin: bin, run: run}, nil
	case Null:
		return &nullSubject{h: h, name: Null, run: run}, nil
	case NullIPIP:
		return &nullSubject{h: h, name: NullIPIP, run: run}, nil
	case KernelDNAT:
		return &kernelSubject{h: h}, nil
	case KernelDNATRPS:
		return &kernelSubject{h: h, rps: true}, nil
	}
	return nil, fmt.Errorf("bench: unknown subject %q; use one of %v", s, AllSubjects())
}

// ulvsSubject is `ulvs run` in the director namespace.
type ulvsSubject struct {
	h      *harness
	method balancer.Method
	name   Subject
	bin    string // the ulvs binary
	run    int
	proc   *netns.Proc
}

func (u *ulvsSubject) config() string {
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n    router_id ulvs_bench\n}\n\nvirtual_server %v %d {\n    lb_algo rr\n    lb_kind %v\n    protocol UDP\n",
		u.h.lvs.VIP, servicePort, u.method)
	for i := range u.h.lvs.Reals {
		fmt.Fprintf(&b, "    real_server %v %d {\n        weight 1\n    }\n", netns.RealAddr(i).Addr(), servicePort)
	}
	b.WriteString("}\n")
	if u.h.tcp {
		// The same service for TCP (ulvs bench traffic with TCP flows).
		fmt.Fprintf(&b, "\nvirtual_server %v %d {\n    lb_algo rr\n    lb_kind %v\n    protocol TCP\n", u.h.lvs.VIP, servicePort, u.method)
		for i := range u.h.lvs.Reals {
			fmt.Fprintf(&b, "    real_server %v %d {\n        weight 1\n    }\n", netns.RealAddr(i).Addr(), servicePort)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

func (u *ulvsSubject) start() error {
	h := u.h
	if err := h.lvs.ConfigureReals(u.method); err != nil {
		return err
	}
	conf := filepath.Join(h.dir, fmt.Sprintf("keepalived-%v.conf", u.method))
	if err := os.WriteFile(conf, []byte(u.config()), 0o644); err != nil {
		return err
	}
	args := []string{u.bin, "run", "-f", conf, "--workers", strconv.Itoa(h.c.Workers), "--log-level", "warn"}
	if h.c.ProfileDir != "" {
		args = append(args, "--cpuprofile", filepath.Join(h.c.ProfileDir, fmt.Sprintf("%s-run%d.pprof", profileName(u.name), u.run)))
	}
	if h.pinned {
		args = append([]string{"taskset", "-c", strconv.Itoa(h.c.SubjectCPU)}, args...)
	}
	if h.c.GOMAXPROCS > 0 {
		args = append([]string{"env", fmt.Sprintf("GOMAXPROCS=%d", h.c.GOMAXPROCS)}, args...)
	}
	p, err := h.lvs.Director.Start(args[0], args[1:]...)
	if err != nil {
		return err
	}
	u.proc = p
	return nil
}

func (u *ulvsSubject) alive() error {
	select {
	case <-u.proc.Done():
		return fmt.Errorf("bench: ulvs exited:\n%s", u.proc.Output())
	default:
		return nil
	}
}

func (u *ulvsSubject) cpu() (time.Duration, bool) {
	d, err := processCPU(u.proc.Pid())
	return d, err == nil
}

func (u *ulvsSubject) stop() (map[string]uint64, error) {
	if err := u.alive(); err != nil {
		return nil, err
	}
	u.proc.Stop()
	r, err := report.Parse(u.proc.Output())
	if err != nil {
		return nil, err
	}
	l := r.Loop
	c := map[string]uint64{"rx_frames": l.RxFrames, "tx_frames": l.TxFrames, "inbound": l.Inbound,
		"ring_drops": l.RingDrops, "tx_ring_full": l.TxRingFull}
	for k, v := range l.Drops {
		c["drop:"+k] = v
	}
	for k, v := range l.BalancerDrops {
		c["balancer_drop:"+k] = v
	}
	return c, nil
}

// nullTable is the netdev table the null forwarder's kernel-drop rule
// lives in, as ulvs installs one for the VIP.
const nullTable = "ulvsbench_null"

// nullSubject is afpacket.Relay from front0 to back0 on a thread of this
// process, pinned like ulvs, with the destination MAC set to a real server
// (round robin) so the bridge delivers instead of flooding; as null-ipip it
// also puts each frame in an outer IPv4 header to that server.
type nullSubject struct {
	h       *harness
	name    Subject // Null or NullIPIP
	rx, tx  *afpacket.RingPort
	tid     atomic.Int32
	done    chan error
	exited  atomic.Bool
	run     int
	profile *os.File
}

func (n *nullSubject) stopProfile() {
	if n.profile != nil {
		pprof.StopCPUProfile()
		n.profile.Close()
		n.profile = nil
	}
}

func (n *nullSubject) startProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return err
	}
	n.profile = f
	return nil
}

func (n *nullSubject) start() error {
	h := n.h
	// The same kernel-drop rule ulvs installs: AF_PACKET sees the frame,
	// the director's stack does not.
	script := fmt.Sprintf("table netdev %s {\n\tchain ingress {\n\t\ttype filter hook ingress device %q priority 0; policy accept;\n\t\tip daddr %v drop\n\t}\n}\n",
		nullTable, h.lvs.Front.Name, h.lvs.VIP)
	if err := h.nft(h.lvs.Director, script); err != nil {
		return err
	}
	rw := &macRewriter{src: [6]byte(h.lvs.Back.MAC), ipip: n.name == NullIPIP, from: h.lvs.Back.Addr.Addr().As4()}
	for _, r := range h.lvs.Reals {
		rw.dst = append(rw.dst, [6]byte(r.Dev.MAC))
		rw.to = append(rw.to, r.Dev.Addr.Addr().As4())
	}
	n.done = make(chan error, 1)
	if h.c.ProfileDir != "" {
		// In-process profile: the relay's samples are under
		// afpacket.Relay, the generator's under generator.run.
		if err := n.startProfile(filepath.Join(h.c.ProfileDir, fmt.Sprintf("%s-run%d.pprof", n.name, n.run))); err != nil {
			n.closeAll()
			return err
		}
	}
	ready := make(chan error, 1)
	go func() {
		// The thread is never unlocked: it ends with the goroutine, so its
		// affinity never leaks into the runtime's thread pool.
		runtime.LockOSThread()
		if h.pinned {
			if _, err := pinThread(h.c.SubjectCPU); err != nil {
				ready <- err
				n.done <- nil
				return
			}
		}
		// The sockets are opened on the subject's CPU, as ulvs (pinned
		// there whole) opens its own: the kernel runs a V3 RX ring's
		// block-retire timer (an hrtimer on the 6.18 kernel measured) on
		// the CPU that set the ring up, so both subjects' timers fire on
		// the CPU they are measured on (~1,000 expiries a second per ring).
		err := h.lvs.Director.Do(func() error {
			var err error
			if n.rx, err = afpacket.Open(h.lvs.Front.Name, &afpacket.Config{NoTX: true}); err != nil {
				return err
			}
			n.tx, err = afpacket.Open(h.lvs.Back.Name, &afpacket.Config{NoRX: true})
			return err
		})
		if err != nil {
			ready <- fmt.Errorf("bench: null forwarder: %w", err)
			n.done <- nil
			return
		}
		rw.Conn = n.tx
		n.tid.Store(int32(unix.Gettid()))
		ready <- nil
		err = afpacket.Relay(n.rx, rw, make([]afpacket.Frame, forward.BatchSize))
		n.exited.Store(true)
		n.done <- err
	}()
	if err := <-ready; err != nil {
		n.closeAll()
		<-n.done
		n.stopProfile()
		return err
	}
	return nil
}

func (n *nullSubject) alive() error {
	if n.exited.Load() {
		return fmt.Errorf("bench: the %s stopped early", n.name)
	}
	return nil
}

func (n *nullSubject) cpu() (time.Duration, bool) {
	d, err := threadCPUOf(int(n.tid.Load()))
	return d, err == nil
}

func (n *nullSubject) closeAll() {
	if n.rx != nil {
		n.rx.Close()
	}
	if n.tx != nil {
		n.tx.Close()
	}
	_, _ = n.h.lvs.Director.Exec(n.h.ctx, "nft", "delete", "table", "netdev", nullTable)
}

func (n *nullSubject) stop() (map[string]uint64, error) {
	rs, ts := n.rx.Stats(), n.tx.Stats()
	n.rx.Close()
	err := <-n.done
	n.stopProfile()
	n.closeAll()
	return map[string]uint64{"rx_frames": rs.RxFrames, "ring_drops": rs.RingDrops, "tx_frames": ts.TxFrames,
		"tx_ring_full": ts.TxRingFull}, err
}

// macRewriter is a Conn whose committed frames get a real server's MAC as
// destination (round robin) and the egress interface's as source: the
// only rewrite a frame needs to be delivered across the bridge. With ipip
// it hands out slots with room for an outer header in front and
// encapsulates each frame to the same real server (encapIPIP).
type macRewriter struct {
	afpacket.Conn
	src  [6]byte
	dst  [][6]byte
	ipip bool
	from [4]byte   // ipip: the outer source, the director's address
	to   [][4]byte // ipip: the outer destination, per dst
	next int
	slot []byte
}

func (m *macRewriter) TxSlot() []byte {
	m.slot = m.Conn.TxSlot()
	if m.ipip && m.slot != nil {
		return m.slot[ipipGap:]
	}
	return m.slot
}

func (m *macRewriter) Commit(n int) {
	if n >= 12 && m.slot != nil {
		if m.ipip {
			n = encapIPIP(m.slot, n, m.from, m.to[m.next])
		}
		copy(m.slot[0:6], m.dst[m.next][:])
		copy(m.slot[6:12], m.src[:])
		if m.next++; m.next == len(m.dst) {
			m.next = 0
		}
	}
	m.Conn.Commit(n)
}

// natTable is the nftables table of the kernel subjects.
const natTable = "ulvsbench_nat"

// kernelSubject is the director's kernel forwarding with nftables DNAT.
type kernelSubject struct {
	h   *harness
	rps bool
}

func (k *kernelSubject) start() error {
	h := k.h
	if err := h.lvs.ConfigureReals(balancer.NAT); err != nil {
		return err
	}
	var m []string
	for i := range h.lvs.Reals {
		m = append(m, fmt.Sprintf("%d : %v", i, netns.RealAddr(i).Addr()))
	}
	script := fmt.Sprintf("table ip %s {\n\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tip daddr %v meta l4proto { tcp, udp } th dport %d dnat to numgen inc mod %d map { %s }\n\t}\n}\n",
		natTable, h.lvs.VIP, servicePort, len(h.lvs.Reals), strings.Join(m, ", "))
	if err := h.nft(h.lvs.Director, script); err != nil {
		return err
	}
	if k.rps {
		if err := k.setRPS(1 << h.c.SubjectCPU); err != nil {
			k.cleanup()
			return err
		}
	}
	if err := h.lvs.Director.Sysctl("net.ipv4.ip_forward", "1"); err != nil {
		k.cleanup()
		return err
	}
	return nil
}

func (k *kernelSubject) setRPS(mask int) error {
	// sysfs shows the namespace of whoever mounted it: `ip netns exec`
	// mounts the director's.
	_, err := k.h.lvs.Director.Exec(k.h.ctx, "sh", "-c",
		fmt.Sprintf("echo %x > /sys/class/net/%s/queues/rx-0/rps_cpus", mask, k.h.lvs.Front.Name))
	return err
}

func (k *kernelSubject) alive() error               { return nil }
func (k *kernelSubject) cpu() (time.Duration, bool) { return 0, false }
func (k *kernelSubject) stop() (map[string]uint64, error) {
	c := map[string]uint64{}
	if v, err := k.h.lvs.Director.ReadSysctl("net.netfilter.nf_conntrack_count"); err == nil {
		n, _ := strconv.ParseUint(v, 10, 64)
		c["conntrack_entries"] = n
	}
	return c, k.cleanup()
}

func (k *kernelSubject) cleanup() error {
	h := k.h
	errs := []error{h.lvs.Director.Sysctl("net.ipv4.ip_forward", "0")}
	if k.rps {
		errs = append(errs, k.setRPS(0))
	}
	_, err := h.lvs.Director.Exec(h.ctx, "nft", "delete", "table", "ip", natTable)
	return errors.Join(append(errs, err)...)
}

// profileName is s as a file name: a binary's path has slashes.
func profileName(s Subject) string {
	return strings.ReplaceAll(string(s), "/", "_")
}
