package afpacket

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRelayThroughput measures the null forwarder, the physical limit of
// this I/O path, when ULVS_BENCH_IO=1:
//
//	gen ns [g0] ──veth── [r0] relay ns [r1] ──veth── [s0] sink ns
//	  TX ring (CPU0)      Relay (CPU1)             RX ring count (CPU0)
//
// The generator sends 60-byte (64 on the wire) UDP frames over 10k flows
// as fast as its TX ring goes for ULVS_BENCH_IO_SECONDS (default 3); the
// sink counts delivered frames. Each variant runs ULVS_BENCH_IO_RUNS times
// (default 3); the table reports medians. Threads are pinned as drawn
// unless ULVS_BENCH_IO_PIN=0.
func TestRelayThroughput(t *testing.T) {
	if os.Getenv("ULVS_BENCH_IO") != "1" {
		t.Skip("set ULVS_BENCH_IO=1 to measure Relay throughput (takes ~1 minute, as root)")
	}
	requireRoot(t)
	secs := envInt("ULVS_BENCH_IO_SECONDS", 3)
	runs := envInt("ULVS_BENCH_IO_RUNS", 3)

	gen, relay, sink := newNetns(t), newNetns(t), newNetns(t)
	vethPair(t, gen, "g0", relay, "r0")
	vethPair(t, relay, "r1", sink, "s0")
	for _, l := range [][2]string{{gen, "g0"}, {relay, "r0"}, {relay, "r1"}, {sink, "s0"}} {
		run(t, "ip", "netns", "exec", l[0], "ethtool", "-K", l[1], "gro", "off", "gso", "off", "tso", "off")
	}
	sinkMAC, genMAC := ifaceMAC(t, sink, "s0"), ifaceMAC(t, gen, "g0")
	const flows = 10000
	templates := make([][]byte, flows)
	for i := range templates {
		src := [4]byte{10, 1, byte(i >> 8), byte(i)}
		templates[i] = udpFrame(sinkMAC, genMAC, src, [4]byte{10, 2, 0, 1}, uint16(1024+i%50000), 9, 60)
	}

	variants := []struct {
		name  string
		plain bool
		cfg   Config
	}{
		{name: "ring: V2 RX + V2 TX, qdisc bypass", cfg: Config{TxVersion: 2}},
		{name: "ring: V3 RX + V2 TX, qdisc bypass", cfg: Config{RxVersion: 3, TxVersion: 2}},
		{name: "ring: V2 RX + V3 TX, qdisc bypass", cfg: Config{TxVersion: 3}},
		{name: "ring: V2 RX + V2 TX, no bypass", cfg: Config{TxVersion: 2, NoQdiscBypass: true}},
		{name: "plain: recvmsg + write per frame", plain: true},
	}
	if only := os.Getenv("ULVS_BENCH_IO_ONLY"); only != "" {
		variants = slices.DeleteFunc(variants, func(v struct {
			name  string
			plain bool
			cfg   Config
		}) bool {
			return !strings.Contains(v.name, only)
		})
	}
	results := make([][]relayResult, len(variants))
	for r := range runs {
		for vi, v := range variants {
			res := relayRun(t, gen, relay, sink, templates, v.plain, v.cfg, time.Duration(secs)*time.Second)
			t.Logf("run %d %-36s offered %.3f Mpps delivered %.3f Mpps relay-ingress drops %.1f%% relay thread CPU %.0f%% waiting for a CPU %.0f%%",
				r, v.name, res.offered/1e6, res.delivered/1e6, 100*res.ringDrops, 100*res.relayCPU, 100*res.relayWait)
			results[vi] = append(results[vi], res)
		}
	}
	med := func(rs []relayResult, f func(relayResult) float64) (m, lo, hi float64) {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2], v[0], v[len(v)-1]
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "| relay I/O | offered Mpps | delivered Mpps (median, min–max) | vs first row | relay-ingress drops | relay thread CPU (waiting for a CPU) | relay ns/frame | Mpps per relay core |\n|---|---|---|---|---|---|---|---|\n")
	var base float64
	for vi, v := range variants {
		rs := results[vi]
		off, _, _ := med(rs, func(r relayResult) float64 { return r.offered })
		del, lo, hi := med(rs, func(r relayResult) float64 { return r.delivered })
		drop, _, _ := med(rs, func(r relayResult) float64 { return r.ringDrops })
		cpu, _, _ := med(rs, func(r relayResult) float64 { return r.relayCPU })
		wait, _, _ := med(rs, func(r relayResult) float64 { return r.relayWait })
		nsPer, _, _ := med(rs, func(r relayResult) float64 { return 1e9 * r.relayCPU / max(r.delivered, 1) })
		if vi == 0 {
			base = del
		}
		fmt.Fprintf(&sb, "| %s | %.3f | **%.3f** (%.3f–%.3f) | %.2f× | %.1f%% | %.0f%% (%.0f%%) | %.0f | %.2f |\n", v.name, off/1e6, del/1e6,
			lo/1e6, hi/1e6, del/base, 100*drop, 100*cpu, 100*wait, nsPer, 1e3/nsPer)
	}
	t.Logf("\n%s", sb.String())
	if out := os.Getenv("ULVS_BENCH_IO_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type relayResult struct{ offered, delivered, ringDrops, relayCPU, relayWait float64 }

// threadWait returns the seconds a thread has spent runnable but waiting
// for a CPU (/proc schedstat): how much other load took from it.
func threadWait(tid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/schedstat", tid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	w, _ := strconv.ParseFloat(f[1], 64)
	return w / 1e9
}

// threadCPU returns a thread's user+system time in seconds (clock ticks of
// 10 ms), including softirq work the kernel ran in its context.
func threadCPU(tid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", tid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}

// relayRun opens the relay and sink ports, drives the generator for d and
// returns rates over the window after a 0.5 s warm-up.
func relayRun(t *testing.T, genNS, relayNS, sinkNS string, templates [][]byte, plain bool, cfg Config, d time.Duration) relayResult {
	t.Helper()
	var in, out Conn
	inCfg, outCfg := cfg, cfg
	inCfg.NoTX, outCfg.NoRX = true, true
	if plain {
		in, out = openPlain(t, relayNS, "r0", &inCfg), openPlain(t, relayNS, "r1", &outCfg)
	} else {
		in, out = openRing(t, relayNS, "r0", &inCfg), openRing(t, relayNS, "r1", &outCfg)
	}
	// The sink keeps one RX ring version for every variant: a V3 ring wakes
	// it least on the generator's CPU.
	sinkPort := openRing(t, sinkNS, "s0", &Config{NoTX: true, RxVersion: 3, PollTimeout: 10 * time.Millisecond})
	genPort := openRing(t, genNS, "g0", &Config{NoRX: true})

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(3)
	go func() { // sink
		defer wg.Done()
		pin(0)
		frames := make([]Frame, 1024)
		for {
			if _, err := sinkPort.Receive(frames); err != nil {
				return
			}
			sinkPort.Release()
		}
	}()
	tidc := make(chan int, 1)
	go func() { // relay
		defer wg.Done()
		pin(1)
		tidc <- unix.Gettid()
		if err := Relay(in, out, make([]Frame, 256)); err != nil {
			t.Error(err)
		}
	}()
	go func() { // generator
		defer wg.Done()
		pin(0)
		i := 0
		for {
			select {
			case <-stop:
				return
			default:
			}
			for range 256 {
				buf := genPort.TxSlot()
				if buf == nil {
					break
				}
				genPort.Commit(copy(buf, templates[i]))
				if i++; i == len(templates) {
					i = 0
				}
			}
			if err := genPort.Flush(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	tid := <-tidc
	time.Sleep(500 * time.Millisecond)
	g0, s0, r0, c0, w0 := genPort.Stats(), sinkPort.Stats(), in.Stats(), threadCPU(tid), threadWait(tid)
	t0 := time.Now()
	time.Sleep(d)
	g1, s1, r1, c1, w1 := genPort.Stats(), sinkPort.Stats(), in.Stats(), threadCPU(tid), threadWait(tid)
	el := time.Since(t0).Seconds()
	close(stop)
	time.Sleep(50 * time.Millisecond)
	in.Close()
	sinkPort.Close()
	wg.Wait()
	out.Close()
	genPort.Close()
	seen := float64(r1.KernelRxTotal - r0.KernelRxTotal)
	res := relayResult{
		offered:   float64(g1.TxFrames-g0.TxFrames) / el,
		delivered: float64(s1.RxFrames-s0.RxFrames) / el,
		relayCPU:  (c1 - c0) / el,
		relayWait: (w1 - w0) / el,
	}
	if seen > 0 {
		res.ringDrops = float64(r1.RingDrops-r0.RingDrops) / seen
	}
	return res
}

// pin locks the goroutine to its thread and the thread to one CPU; the
// goroutine must exit without unlocking, which discards the thread.
func pin(cpu int) {
	runtime.LockOSThread()
	if os.Getenv("ULVS_BENCH_IO_PIN") == "0" {
		return
	}
	var set unix.CPUSet
	set.Set(cpu % runtime.NumCPU())
	_ = unix.SchedSetaffinity(0, &set)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
