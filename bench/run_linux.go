package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ulvs/ulvs/internal/netns"
)

// Run builds the namespace topology, measures every subject in turn with
// the configured traffic, verifying every packet at the real servers
// (unless Config.CountOnly, which only counts them), and removes the
// topology. It needs root, nft, and for the ulvs subjects the
// ulvs binary (and taskset when pinning).
func Run(ctx context.Context, c Config) (*BenchReport, error) {
	c = c.withDefaults()
	pinned, err := c.check()
	if err != nil {
		return nil, err
	}
	if c.Interleave > 0 && !c.CountOnly {
		return nil, errors.New("bench: the interleaved comparison counts delivered packets only; add --count-only")
	}
	if c.Interleave > 0 && c.Interleave < 40*time.Millisecond {
		return nil, fmt.Errorf("bench: interleave slices of %v are too short to sample; use 40ms or more", c.Interleave)
	}
	tr := c.Traffic
	rep := &BenchReport{Started: time.Now(), Host: hostInfo(), Warnings: []string{}}
	rep.Host.CPUs, rep.Host.Go = runtime.NumCPU(), runtime.Version()
	rep.Setup = c.setup(pinned)
	m, clk, genCPU, closeRun, err := openMeasurer(ctx, c, pinned)
	if err != nil {
		return nil, err
	}
	defer closeRun()

	results := make([]SubjectResult, len(c.Subjects))
	for i, s := range c.Subjects {
		results[i] = SubjectResult{Subject: s, Description: s.Describe(), Rewrite: rewriteOf(s).String(), FlowChecked: flowChecked(s, tr)}
		if c.CountOnly {
			results[i].Rewrite, results[i].FlowChecked = notChecked, false
		}
	}
	if c.CountOnly {
		rep.Warnings = append(rep.Warnings, "count only: delivered packets were counted at the real servers' ingress, not read; verification, loss, duplicates, reordering, wrong real and latency were not measured")
	}
	total := c.Runs * len(c.Subjects)
	for run := 1; run <= c.Runs; run++ {
		for i, s := range c.Subjects {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			m.index = (run-1)*len(c.Subjects) + i + 1
			m.of = total
			w, err := m.measure(s, run)
			if err != nil {
				return nil, fmt.Errorf("bench: %s run %d: %w", s, run, err)
			}
			c.Logger.Info("window", "subject", s, "run", run, "delivered_kpps", int(w.DeliveredPPS/1e3), "verified", w.Verified, "lost", w.Lost)
			results[i].Windows = append(results[i].Windows, w)
		}
	}
	for i := range results {
		r := &results[i]
		r.summarize()
		if r.Verified+sumFailures(r.Failures) < r.Received {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: %d received packets neither verified nor failed", r.Subject, r.Received-r.Verified))
		}
		if r.SinkDrops > 0 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: the sinks could not keep up and missed %d delivered packets (not verified); lower the rate to verify every packet", r.Subject, r.SinkDrops))
		}
		if (r.Subject == KernelDNAT || r.Subject == KernelDNATRPS) && tr.Paced && tr.TCP > 0 && r.Lost > 0 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: conntrack treats a replayed TCP flow's packets after its SYN as INVALID (it never sees the server's SYN-ACK) and does not translate them; part of the loss is that", r.Subject))
		}
	}
	rep.Results = results
	rep.computeRatios()
	if c.Interleave > 0 {
		if rep.Interleaved, err = runInterleaved(ctx, c, m, clk, genCPU); err != nil {
			return nil, err
		}
	}
	rep.Elapsed = time.Since(rep.Started).Round(time.Millisecond).String()
	return rep, nil
}

// check validates c (with its defaults) and the host: root, nft, the ulvs
// binaries, taskset; pinned says whether the generator and the subject get
// CPUs of their own.
func (c Config) check() (pinned bool, err error) {
	if c.Traffic == nil || len(c.Traffic.Packets) == 0 {
		return false, errors.New("bench: no traffic: give a capture or synthetic traffic")
	}
	if c.Pace.Mode == PaceRecorded && !c.Traffic.Paced {
		return false, errors.New("bench: the recorded pace needs a capture; synthetic traffic runs at a rate or as fast as possible")
	}
	if !netns.IsRoot() {
		return false, errors.New("bench: ulvs bench builds network namespaces and needs root")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		return false, errors.New("bench: nft is missing; the sinks and the kernel subjects need it (apt-get install nftables)")
	}
	pinned = !c.NoPin && runtime.NumCPU() >= 2
	if pinned && (c.GenCPU == c.SubjectCPU || max(c.GenCPU, c.SubjectCPU) >= runtime.NumCPU() || min(c.GenCPU, c.SubjectCPU) < 0) {
		return false, fmt.Errorf("bench: generator CPU %d and subject CPU %d must be distinct CPUs below %d", c.GenCPU, c.SubjectCPU, runtime.NumCPU())
	}
	return pinned, c.checkSubjects(pinned)
}

// checkSubjects checks that every subject is known and that the ulvs ones
// have a binary (and taskset, when pinned).
func (c Config) checkSubjects(pinned bool) error {
	for _, s := range c.Subjects {
		if !s.valid() {
			return fmt.Errorf("bench: unknown subject %q; use one of %v, a ulvs one optionally as KIND@BINARY", s, AllSubjects())
		}
		if !s.IsULVS() {
			continue
		}
		bin := cmp.Or(s.Binary(), c.Binary)
		if bin == "" {
			return fmt.Errorf("bench: subject %s needs the ulvs binary", s)
		}
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("bench: ulvs binary of %s: %w", s, err)
		}
		if pinned {
			if _, err := exec.LookPath("taskset"); err != nil {
				return errors.New("bench: taskset (util-linux) is missing; install it or run unpinned")
			}
		}
	}
	return nil
}

// setup is what a report echoes of c.
func (c Config) setup(pinned bool) BenchSetup {
	tr := c.Traffic
	return BenchSetup{Source: tr.Name, Pace: c.Pace.String(), Window: c.Duration.String(), Warmup: c.Warmup.String(),
		Runs: c.Runs, Reals: c.Reals, Flows: tr.Flows, Packets: len(tr.Packets), TCPPackets: tr.TCP, UDPPackets: tr.UDP,
		SYNFlood: tr.SYNFlood, NewConnRate: tr.NewConnRate, Workers: c.Workers, GOMAXPROCS: c.GOMAXPROCS,
		GenCPU: c.GenCPU, SubjectCPU: c.SubjectCPU, Pinned: pinned, CountOnly: c.CountOnly}
}

// openMeasurer builds what every window of a run shares: the topology, the
// generator and (unless CountOnly) the sinks; closeRun removes them all.
func openMeasurer(ctx context.Context, c Config, pinned bool) (m *measurer, clk *clock, genCPU int, closeRun func(), err error) {
	tr := c.Traffic
	h, closeHarness, err := newHarness(ctx, c, pinned, tr.TCP > 0 || tr.NewConnRate > 0)
	if err != nil {
		return nil, nil, 0, nil, err
	}
	var closers []func()
	closeRun = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
		closeHarness()
	}
	defer func() {
		if err != nil {
			closeRun()
		}
	}()
	genCPU = -1
	if pinned {
		genCPU = c.GenCPU
	}
	// The generator and the null forwarder each hold a P on a locked,
	// busy thread; the sinks need Ps of their own or they starve. Their
	// threads are pinned, so extra Ps do not take CPU from the subject.
	procs := runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), c.Reals+3))
	closers = append(closers, func() { runtime.GOMAXPROCS(procs) })
	clk = &clock{base: time.Now()}
	g, err := newStreamGen(h, tr, clk, genCPU)
	if err != nil {
		return nil, nil, 0, nil, err
	}
	closers = append(closers, func() { g.conn.Close() })
	// In count-only mode no sink exists: the ingress counters that
	// setupSinks installed are all that sees the delivered frames.
	var sinks []*sink
	var seen []atomic.Uint64
	if !c.CountOnly {
		sinks = make([]*sink, len(h.lvs.Reals))
		for i, r := range h.lvs.Reals {
			if sinks[i], err = openSink(i, r, clk, genCPU); err != nil {
				return nil, nil, 0, nil, fmt.Errorf("bench: sink on %s: %w", r.NS.Name, err)
			}
			sk := sinks[i]
			closers = append(closers, func() { sk.close() })
		}
		seen = make([]atomic.Uint64, (c.MaxFrames+63)/64)
	}
	m = &measurer{h: h, c: c, g: g, sinks: sinks, seen: seen, owner: make([]atomic.Int32, tr.Flows)}
	return m, clk, genCPU, closeRun, nil
}

// newHarness builds a topology (namespaces, bridge, real servers), a
// scratch directory and the sinks' counters; cleanup removes them all.
func newHarness(ctx context.Context, c Config, pinned, tcp bool) (h *harness, cleanup func(), err error) {
	if h, cleanup, err = newTopology(ctx, c, pinned, tcp); err != nil {
		return nil, nil, err
	}
	if err = h.setupSinks(); err != nil {
		cleanup()
		return nil, nil, err
	}
	return h, cleanup, nil
}

// newTopology builds a topology and a scratch directory, with no sinks:
// the real servers' stacks are theirs (closed-loop runs put servers there).
func newTopology(ctx context.Context, c Config, pinned, tcp bool) (h *harness, cleanup func(), err error) {
	env, err := netns.NewEnv(c.Logger)
	if err != nil {
		return nil, nil, err
	}
	dir := ""
	cleanup = func() {
		env.Close()
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	lvs, err := netns.NewLVS(env, netns.Options{Reals: c.Reals})
	if err != nil {
		return nil, nil, err
	}
	if dir, err = os.MkdirTemp("", "ulvs-bench-"); err != nil {
		return nil, nil, err
	}
	h = &harness{ctx: ctx, c: c, log: c.Logger, lvs: lvs, dir: dir, pinned: pinned, tcp: tcp}
	return h, cleanup, nil
}

// notChecked is SubjectResult.Rewrite when no frame was read.
const notChecked = "not checked (count only)"

// flowChecked reports whether the sinks check one real per flow for s:
// the null forwarder spreads packets round robin, and a SYN flood makes
// every packet a new connection.
func flowChecked(s Subject, tr *Traffic) bool {
	return s.Kind() != Null && s.Kind() != NullIPIP && !tr.SYNFlood
}

// measurer runs the windows of one Run.
type measurer struct {
	h         *harness
	c         Config
	g         *streamGen
	sinks     []*sink
	seen      []atomic.Uint64
	owner     []atomic.Int32
	epoch     uint8
	index, of int
}

func (m *measurer) nextEpoch() uint8 {
	m.epoch++
	if m.epoch == 0 {
		m.epoch = 1
	}
	return m.epoch
}

// warm sends warmup traffic until something is delivered, then once more.
// With syns, every TCP flow's opening SYN goes first each time, since the
// subject may not have been listening yet the time before.
func (m *measurer) warm(sub subject, syns bool) error {
	deadline := time.Now().Add(startupTimeout)
	for {
		if err := sub.alive(); err != nil {
			return err
		}
		if syns {
			if err := m.g.sendSYNs(); err != nil {
				return err
			}
		}
		before, err := m.h.delivered()
		if err != nil {
			return err
		}
		if _, err := m.g.run(m.c.Warmup, m.c.Pace, 0, m.c.MaxFrames); err != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
		after, err := m.h.delivered()
		if err != nil {
			return err
		}
		if after > before {
			if syns {
				if err := m.g.sendSYNs(); err != nil {
					return err
				}
			}
			_, err := m.g.run(m.c.Warmup, m.c.Pace, 0, m.c.MaxFrames)
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing delivered after %v of warmup", startupTimeout)
		}
		if err := m.h.ctx.Err(); err != nil {
			return err
		}
	}
}

func (m *measurer) measure(s Subject, run int) (w Window, err error) {
	h := m.h
	sub, err := h.newSubject(s, run)
	if err != nil {
		return w, err
	}
	if err := sub.start(); err != nil {
		return w, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_, _ = sub.stop()
		}
	}()
	// ulvs, like IPVS, schedules TCP only on a SYN; conntrack, by
	// contrast, picks up a flow from any packet but marks one that follows
	// an unanswered SYN invalid, so only the ulvs subjects get the SYNs.
	if err := m.warm(sub, s.IsULVS() && len(m.g.syns) > 0); err != nil {
		return w, err
	}
	time.Sleep(50 * time.Millisecond) // warmup frames drain before the window opens

	for i := range m.seen {
		m.seen[i].Store(0)
	}
	for i := range m.owner {
		m.owner[i].Store(0)
	}
	win := &window{epoch: m.nextEpoch(), seen: m.seen, owner: m.owner, checkFlow: flowChecked(s, m.c.Traffic)}
	exp := expectation{vip: h.lvs.VIP.As4(), port: servicePort, rewrite: rewriteOf(s), epoch: win.epoch}
	drops0 := make([]uint64, len(m.sinks))
	for i, sk := range m.sinks {
		drops0[i] = sk.conn.Stats().RingDrops
		sk.arm(win, exp, m.c.Traffic.Flows)
	}
	d0, err := h.delivered()
	if err != nil {
		return w, err
	}
	l0, err := readLinkStats(h.lvs.Client.NS, h.lvs.Client.Dev.Name)
	if err != nil {
		return w, err
	}
	sc0, cpuOK := sub.cpu()
	c0, err := readCPUTimes()
	if err != nil {
		return w, err
	}
	stopProgress := m.progress(s, run)
	g, err := m.g.run(m.c.Duration, m.c.Pace, win.epoch, m.c.MaxFrames)
	stopProgress()
	if err != nil {
		return w, err
	}
	c1, _ := readCPUTimes()
	sc1, cpuOK1 := sub.cpu()
	time.Sleep(100 * time.Millisecond) // frames still in the rings reach the sinks
	l1, err := readLinkStats(h.lvs.Client.NS, h.lvs.Client.Dev.Name)
	if err != nil {
		return w, err
	}
	d1, err := h.delivered()
	if err != nil {
		return w, err
	}
	var st sinkStats
	w.Failures = map[string]uint64{}
	for _, name := range failureNames {
		w.Failures[name] = 0
	}
	for i, sk := range m.sinks {
		ss := sk.disarm()
		st.received += ss.received
		st.verified += ss.verified
		st.dups += ss.dups
		st.reordered += ss.reordered
		st.stale += ss.stale
		st.latency.Merge(&ss.latency)
		for v, n := range ss.failures {
			if name, ok := failureNames[Verdict(v)]; ok {
				w.Failures[name] += n
			}
		}
		w.SinkDrops += sk.conn.Stats().RingDrops - drops0[i]
	}
	if u, ok := sub.(*ulvsSubject); ok {
		w.PeakMemoryBytes = vmHWM(u.proc.Pid())
	}
	if err := sub.alive(); err != nil {
		return w, err
	}
	stopped = true
	if w.Counters, err = sub.stop(); err != nil {
		return w, err
	}
	if w.Counters == nil {
		w.Counters = map[string]uint64{}
	}

	secs := g.elapsed.Seconds()
	w.Run, w.Seconds, w.Sent = run, secs, g.sent
	w.Offered = (l1.txPackets - l0.txPackets) + (l1.txDropped - l0.txDropped)
	w.Delivered = d1 - d0
	w.OfferedPPS, w.DeliveredPPS = float64(w.Offered)/secs, float64(w.Delivered)/secs
	if m.c.Pace.Mode == PaceRate {
		w.TargetPPS = m.c.Pace.Rate
	} else if m.c.Pace.Mode == PaceRecorded {
		w.TargetPPS = float64(len(m.c.Traffic.Packets)) / (m.g.pass.Seconds() / m.c.Pace.Speed)
	}
	w.WrongReal = win.wrongReal.Load()
	if !m.c.CountOnly {
		w.fromSinks(&st)
	}
	if w.Offered > 0 {
		w.GenNsPerPkt = float64(g.cpu.Nanoseconds()) / float64(w.Offered)
	}
	if cpuOK && cpuOK1 {
		w.SubjectCPUSeconds = (sc1 - sc0).Seconds()
		if w.Delivered > 0 {
			w.SubjectNsPerPkt = float64((sc1 - sc0).Nanoseconds()) / float64(w.Delivered)
		}
	}
	w.CPUBusy, w.CPUSoftirq = cpuShares(c0, c1)
	w.Limit = limitOf(&w)
	return w, nil
}

// fromSinks fills the fields only the sinks measure: what they read,
// verified, missed and timed of the window.
func (w *Window) fromSinks(st *sinkStats) {
	w.Received, w.Verified, w.Duplicates, w.Reordered, w.Stale = st.received, st.verified, st.dups, st.reordered, st.stale
	// Socket drop counts may be missing; the kernel's ingress counters
	// say how many delivered frames the sinks never read.
	if seen := st.received + st.stale + w.SinkDrops; w.Delivered > seen {
		w.SinkDrops += w.Delivered - seen
	}
	unique := st.received - st.dups
	if got := unique + w.SinkDrops; got < w.Sent {
		w.Lost = w.Sent - got
	}
	w.hist = st.latency
	w.LatencyP50, w.LatencyP99, w.LatencyP999 = st.latency.Quantile(0.5)/1e3, st.latency.Quantile(0.99)/1e3, st.latency.Quantile(0.999)/1e3
}

// progress reports the window's state to Config.Progress until stopped.
func (m *measurer) progress(s Subject, run int) func() {
	if m.c.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(finished)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				var d uint64
				for _, sk := range m.sinks {
					sk.mu.Lock()
					d += sk.stats.received
					sk.mu.Unlock()
				}
				m.c.Progress(Progress{Subject: s, Index: m.index, Of: m.of, Run: run, Elapsed: time.Since(start),
					Window: m.c.Duration, Sent: m.g.sent.Load(), Delivered: d})
			}
		}
	}()
	return func() { close(done); <-finished }
}

// vmHWM is a process's peak resident set size (VmHWM) in bytes.
func vmHWM(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) >= 1 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
