package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"time"

	"github.com/ulvs/ulvs/internal/netns"
)

// servicePort is the UDP port of the virtual service (and of the DNAT rule).
const servicePort = 5300

// sinkTable is the netdev table on every real server: it counts the IPv4
// frames addressed to the server's MAC and drops all IPv4 at ingress, so
// the real servers' stacks cost nothing while ARP keeps working.
const sinkTable = "ulvsbench_sink"

// startupTimeout bounds how long a subject may take to deliver its first
// frames.
const startupTimeout = 15 * time.Second

// harness is one RunPPS: the topology, the generator and the sinks.
type harness struct {
	ctx    context.Context
	o      Options
	log    *slog.Logger
	lvs    *netns.LVS
	gen    *generator
	dir    string
	pinned bool
	// tcp adds a TCP service next to the UDP one.
	tcp bool
}

// RunPPS builds the standard topology (client, director, real servers on a
// bridge), measures every subject's delivered packets per second of
// minimum-size UDP frames over o.Flows flows, and removes the topology. It
// needs root, nft, and (for ulvs subjects) o.Binary; taskset when pinning
// ulvs.
func RunPPS(ctx context.Context, o Options) (*Report, error) {
	o = o.withDefaults()
	if !netns.IsRoot() {
		return nil, errors.New("bench: the throughput run builds network namespaces and needs root")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		return nil, errors.New("bench: nft is missing; the sinks and the kernel subject need it (apt-get install nftables)")
	}
	pinned := !o.NoPin && runtime.NumCPU() >= 2
	if pinned && (o.GenCPU == o.SubjectCPU || max(o.GenCPU, o.SubjectCPU) >= runtime.NumCPU() || min(o.GenCPU, o.SubjectCPU) < 0) {
		return nil, fmt.Errorf("bench: GenCPU %d and SubjectCPU %d must be distinct CPUs below %d", o.GenCPU, o.SubjectCPU, runtime.NumCPU())
	}
	for _, s := range o.Subjects {
		if !s.IsULVS() {
			continue
		}
		if o.Binary == "" {
			return nil, fmt.Errorf("bench: subject %s needs the ulvs binary: build it (go build -o bin/ulvs ./cmd/ulvs) and set Options.Binary", s)
		}
		if _, err := os.Stat(o.Binary); err != nil {
			return nil, fmt.Errorf("bench: ulvs binary: %w", err)
		}
		if pinned {
			if _, err := exec.LookPath("taskset"); err != nil {
				return nil, errors.New("bench: taskset (util-linux) is missing; install it or set NoPin")
			}
		}
	}
	rep := &Report{Started: time.Now(), Host: hostInfo()}
	rep.Host.CPUs, rep.Host.Go = runtime.NumCPU(), runtime.Version()
	rep.Setup = Setup{Duration: o.Duration.String(), Warmup: o.Warmup.String(), Runs: o.Runs, Flows: o.Flows,
		Reals: o.Reals, FrameLen: FrameLen, Workers: o.Workers, GOMAXPROCS: o.GOMAXPROCS, GenCPU: o.GenCPU, SubjectCPU: o.SubjectCPU, Pinned: pinned}

	env, err := netns.NewEnv(o.Logger)
	if err != nil {
		return nil, err
	}
	defer env.Close()
	lvs, err := netns.NewLVS(env, netns.Options{Reals: o.Reals})
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ulvs-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	h := &harness{ctx: ctx, o: o, log: o.Logger, lvs: lvs, dir: dir, pinned: pinned}
	if err := h.setupSinks(); err != nil {
		return nil, err
	}
	frames, err := BuildFrames(FrameSpec{
		SrcMAC: [6]byte(lvs.Client.Dev.MAC), DstMAC: [6]byte(lvs.Front.MAC),
		SrcBase: lvs.Client.Dev.Addr.Addr(), Dst: lvs.VIP, DstPort: servicePort, Flows: o.Flows,
	})
	if err != nil {
		return nil, err
	}
	genCPU := -1
	if pinned {
		genCPU = o.GenCPU
	}
	if h.gen, err = newGenerator(lvs.Client.NS, lvs.Client.Dev.Name, frames, genCPU); err != nil {
		return nil, err
	}
	defer h.gen.Close()

	results := make([]Result, len(o.Subjects))
	for i, s := range o.Subjects {
		results[i] = Result{Subject: s, Description: s.Describe()}
	}
	for run := 1; run <= o.Runs; run++ {
		for i, s := range o.Subjects {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			smp, err := h.measure(s, run)
			if err != nil {
				return nil, fmt.Errorf("bench: %s run %d: %w", s, run, err)
			}
			h.log.Info("window", "subject", s, "run", run, "delivered_kpps", int(smp.DeliveredPPS/1e3),
				"offered_kpps", int(smp.OfferedPPS/1e3), "subject_ns_per_pkt", int(smp.SubjectNsPerPkt))
			results[i].Samples = append(results[i].Samples, smp)
		}
	}
	for i := range results {
		results[i].summarize()
		if r := &results[i]; r.DeliveryRatio > 1.01 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s delivered more than was offered (%.3f): a sink counted frames twice", r.Subject, r.DeliveryRatio))
		}
	}
	rep.Results = results
	rep.computeRatios()
	rep.Elapsed = time.Since(rep.Started).Round(time.Millisecond).String()
	return rep, nil
}

// nft loads an nftables script inside ns.
func (h *harness) nft(ns *netns.NS, script string) error {
	f, err := os.CreateTemp(h.dir, "nft-*.conf")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(script); err != nil {
		f.Close()
		return err
	}
	f.Close()
	_, err = ns.Exec(h.ctx, "nft", "-f", f.Name())
	return err
}

// setupSinks installs the counting drop on every real server and teaches
// the bridge every real server's MAC, so frames to them are never flooded.
func (h *harness) setupSinks() error {
	// FDB entries must outlive the run (ageing_time is in centiseconds).
	if err := h.lvs.LAN.IP("link", "set", "br0", "type", "bridge", "ageing_time", "100000000"); err != nil {
		return err
	}
	gw := h.lvs.Gateway.Dev.Addr.Addr()
	for _, r := range h.lvs.Reals {
		script := fmt.Sprintf("table netdev %s {\n\tcounter delivered { }\n\tchain sink {\n\t\ttype filter hook ingress device %q priority -500; policy accept;\n\t\tether daddr %s meta protocol ip counter name \"delivered\" drop\n\t\tmeta protocol ip drop\n\t}\n}\n",
			sinkTable, r.Dev.Name, r.Dev.MAC)
		if err := h.nft(r.NS, script); err != nil {
			return err
		}
		// One datagram to the gateway makes the real server ARP, which the
		// bridge learns its MAC from.
		err := r.NS.Do(func() error {
			c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(gw, 9)))
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write([]byte("hello"))
			return err
		})
		if err != nil {
			return fmt.Errorf("bench: priming the bridge from %s: %w", r.NS.Name, err)
		}
	}
	return nil
}

// delivered sums the sinks' counters.
func (h *harness) delivered() (uint64, error) {
	var sum uint64
	for _, r := range h.lvs.Reals {
		out, err := r.NS.Exec(h.ctx, "nft", "-j", "list", "counter", "netdev", sinkTable, "delivered")
		if err != nil {
			return 0, err
		}
		var doc struct {
			Nftables []struct {
				Counter *struct {
					Packets uint64 `json:"packets"`
				} `json:"counter"`
			} `json:"nftables"`
		}
		if err := json.Unmarshal(out, &doc); err != nil {
			return 0, fmt.Errorf("bench: sink counter of %s: %w", r.NS.Name, err)
		}
		found := false
		for _, o := range doc.Nftables {
			if o.Counter != nil {
				sum += o.Counter.Packets
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("bench: no sink counter in %s", r.NS.Name)
		}
	}
	return sum, nil
}

// measure starts subject s, warms it up until it delivers, measures one
// window and stops it.
func (h *harness) measure(s Subject, run int) (smp Sample, err error) {
	sub, err := h.newSubject(s, run)
	if err != nil {
		return smp, err
	}
	if err := sub.start(); err != nil {
		return smp, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_, _ = sub.stop()
		}
	}()
	if err := h.warm(sub); err != nil {
		return smp, err
	}

	d0, err := h.delivered()
	if err != nil {
		return smp, err
	}
	l0, err := readLinkStats(h.lvs.Client.NS, h.lvs.Client.Dev.Name)
	if err != nil {
		return smp, err
	}
	sc0, cpuOK := sub.cpu()
	c0, err := readCPUTimes()
	if err != nil {
		return smp, err
	}
	g, err := h.gen.run(h.o.Duration, h.o.MaxFrames)
	if err != nil {
		return smp, err
	}
	c1, _ := readCPUTimes()
	sc1, cpuOK1 := sub.cpu()
	time.Sleep(50 * time.Millisecond) // frames still in the rings reach the sinks
	l1, err := readLinkStats(h.lvs.Client.NS, h.lvs.Client.Dev.Name)
	if err != nil {
		return smp, err
	}
	d1, err := h.delivered()
	if err != nil {
		return smp, err
	}
	if err := sub.alive(); err != nil {
		return smp, err
	}
	stopped = true
	counters, err := sub.stop()
	if err != nil {
		return smp, err
	}

	secs := g.elapsed.Seconds()
	smp = Sample{Run: run, Seconds: secs, Sent: g.sent,
		Offered:   (l1.txPackets - l0.txPackets) + (l1.txDropped - l0.txDropped),
		Delivered: d1 - d0, Counters: counters}
	smp.OfferedPPS = float64(smp.Offered) / secs
	smp.DeliveredPPS = float64(smp.Delivered) / secs
	if smp.Offered > 0 {
		smp.GenNsPerPkt = float64(g.cpu.Nanoseconds()) / float64(smp.Offered)
	}
	if cpuOK && cpuOK1 {
		smp.SubjectCPUSeconds = (sc1 - sc0).Seconds()
		if smp.Delivered > 0 {
			smp.SubjectNsPerPkt = float64((sc1 - sc0).Nanoseconds()) / float64(smp.Delivered)
		}
	}
	smp.CPUBusy, smp.CPUSoftirq = cpuShares(c0, c1)
	return smp, nil
}

// warm sends warmup bursts until one is delivered, then one more so that
// every flow exists and every neighbour is resolved before the window.
func (h *harness) warm(sub subject) error {
	deadline := time.Now().Add(startupTimeout)
	for {
		if err := sub.alive(); err != nil {
			return err
		}
		before, err := h.delivered()
		if err != nil {
			return err
		}
		if _, err := h.gen.run(h.o.Warmup, h.o.MaxFrames); err != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
		after, err := h.delivered()
		if err != nil {
			return err
		}
		if after > before {
			_, err := h.gen.run(h.o.Warmup, h.o.MaxFrames)
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing delivered after %v of warmup", startupTimeout)
		}
		if err := h.ctx.Err(); err != nil {
			return err
		}
	}
}
