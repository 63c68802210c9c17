package bench

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/ulvs/ulvs/forward/afpacket"
	"github.com/ulvs/ulvs/forward/header"
	"golang.org/x/sys/unix"
)

// genBatch is how many frames the generator commits per flush.
const genBatch = 256

// streamGen sends a Traffic's templates from a TX ring, paced or not.
type streamGen struct {
	conn  *afpacket.RingPort
	tmpls []template
	syns  []template // opening SYN per TCP flow
	conns []template // single-SYN connection templates, one per client address
	clk   *clock
	cpu   int
	tr    *Traffic
	pass  time.Duration // recorded length of one pass
	// flowSeq is the next sequence number per flow.
	flowSeq []uint32
	sent    atomic.Uint64 // for the progress display
	// probe, when set, is taken on the generator's own thread while it
	// sends, and run goes on past its duration until the probe is done.
	probe *genProbe
}

// genProbe samples something while the generator is sending: take runs
// at elapsed time next (or as soon after as the thread gets the CPU) and
// returns when to run again, or done. Taking the samples on the
// generator's thread ties them to its traffic: a sampler on a timer of its
// own can wake, on a loaded box, after the generator has stopped, and then
// samples a subject with nothing to forward.
type genProbe struct {
	next time.Duration
	done bool
	take func(el time.Duration) (next time.Duration, done bool, err error)
}

func newStreamGen(h *harness, tr *Traffic, clk *clock, cpu int) (*streamGen, error) {
	pl := placement{srcMAC: [6]byte(h.lvs.Client.Dev.MAC), dstMAC: [6]byte(h.lvs.Front.MAC), vip: h.lvs.VIP.As4(), port: servicePort}
	g := &streamGen{clk: clk, cpu: cpu, tr: tr, flowSeq: make([]uint32, tr.Flows)}
	openedSYN := map[uint32]bool{}
	for i := range tr.Packets {
		p := &tr.Packets[i]
		t, err := buildTemplate(p, pl)
		if err != nil {
			return nil, fmt.Errorf("bench: %s packet %d: %w", tr.Name, i+1, err)
		}
		g.tmpls = append(g.tmpls, t)
		if p.Proto == protoTCP && p.Flow != NoFlow && !openedSYN[p.Flow] {
			openedSYN[p.Flow] = true
			syn := Packet{Proto: protoTCP, Client: p.Client, SrcPort: p.SrcPort, TCPFlags: header.TCPFlagSYN,
				TCPSeq: p.TCPSeq - 1, FrameLen: minFrameLen(protoTCP), Flow: p.Flow}
			st, err := buildTemplate(&syn, pl)
			if err != nil {
				return nil, err
			}
			g.syns = append(g.syns, st)
		}
	}
	if tr.NewConnRate > 0 {
		for c := range ClientAddrs {
			syn := Packet{Proto: protoTCP, Client: c, TCPFlags: header.TCPFlagSYN, TCPSeq: 1, FrameLen: minFrameLen(protoTCP), Flow: NoFlow}
			st, err := buildTemplate(&syn, pl)
			if err != nil {
				return nil, err
			}
			g.conns = append(g.conns, st)
		}
	}
	if n := len(tr.Packets); tr.Paced && n > 0 {
		g.pass = tr.Duration + tr.Duration/time.Duration(max(1, n-1))
		if g.pass <= 0 {
			g.pass = time.Millisecond
		}
	}
	err := h.lvs.Client.NS.Do(func() error {
		var err error
		g.conn, err = afpacket.Open(h.lvs.Client.Dev.Name, &afpacket.Config{NoRX: true, FrameSize: 2048, TxFrames: 4096})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bench: generator on %s: %w", h.lvs.Client.Dev.Name, err)
	}
	return g, nil
}

// sendSYNs sends every TCP flow's opening SYN once (epoch 0).
func (g *streamGen) sendSYNs() error {
	for i := range g.syns {
		slot := g.conn.TxSlot()
		for slot == nil {
			if err := g.conn.Flush(); err != nil {
				return err
			}
			time.Sleep(100 * time.Microsecond)
			slot = g.conn.TxSlot()
		}
		t := &g.syns[i]
		g.conn.Commit(t.write(slot, stampFields{sport: t.sport, flow: t.flow, ts: g.clk.now32()}))
		if i%256 == 255 {
			if err := g.conn.Flush(); err != nil {
				return err
			}
		}
	}
	return g.conn.Flush()
}

// run sends for d (or maxFrames), and on until g.probe is done, at pace
// with the given epoch and returns what it sent. Epoch 0 is warmup traffic
// the sinks ignore.
func (g *streamGen) run(d time.Duration, pace Pace, epoch uint8, maxFrames uint64) (genResult, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if g.cpu >= 0 {
		restore, err := pinThread(g.cpu)
		if err != nil {
			return genResult{}, err
		}
		defer restore()
	}
	clear(g.flowSeq)
	g.sent.Store(0)
	cpu0 := threadCPU()
	start := time.Now()
	var sent, next, loops, conns uint64
	n := uint64(len(g.tmpls))
	connEvery := time.Duration(0)
	if g.tr.NewConnRate > 0 {
		connEvery = time.Duration(float64(time.Second) / g.tr.NewConnRate)
	}
	for sent < maxFrames {
		el := time.Since(start)
		if p := g.probe; p != nil && !p.done && el >= p.next {
			var err error
			if p.next, p.done, err = p.take(el); err != nil {
				return genResult{}, err
			}
			continue
		}
		if el >= d && (g.probe == nil || g.probe.done) {
			break
		}
		budget := uint64(genBatch)
		switch pace.Mode {
		case PaceRate:
			due := uint64(pace.Rate * el.Seconds())
			budget = min(budget, due+1-min(due+1, sent))
		case PaceRecorded:
			budget = 0
			for budget < genBatch {
				i := (next + budget) % n
				l := (next + budget) / n
				at := time.Duration(float64(time.Duration(l)*g.pass+g.tmpls[i].at) / pace.Speed)
				if at > el {
					break
				}
				budget++
			}
		}
		if budget == 0 {
			if wait := 50 * time.Microsecond; pace.Mode != PaceMax {
				time.Sleep(wait)
			}
			continue
		}
		ts := g.clk.now32()
		for range budget {
			slot := g.conn.TxSlot()
			if slot == nil {
				break
			}
			var t *template
			sport := uint16(0)
			if connEvery > 0 && el >= time.Duration(conns)*connEvery {
				t = &g.conns[conns%uint64(len(g.conns))]
				sport = uint16(40000 + (conns/uint64(len(g.conns)))%25000)
				conns++
			} else {
				i := next % n
				loops = next / n
				t = &g.tmpls[i]
				sport = t.sport
				if g.tr.SYNFlood {
					sport = uint16(1024 + (uint64(t.sport)+loops*n)%64000)
				}
				next++
			}
			fs := stampFields{sport: sport, epoch: epoch, flow: t.flow, seq: uint32(sent), ts: ts}
			if t.flow != NoFlow && int(t.flow) < len(g.flowSeq) {
				g.flowSeq[t.flow]++
				fs.flowSeq = g.flowSeq[t.flow]
			}
			g.conn.Commit(t.write(slot, fs))
			sent++
		}
		if err := g.conn.Flush(); err != nil {
			return genResult{}, err
		}
		g.sent.Store(sent)
	}
	return genResult{sent: sent, elapsed: time.Since(start), cpu: threadCPU() - cpu0}, nil
}

// genResult is one generator window.
type genResult struct {
	sent    uint64
	elapsed time.Duration
	cpu     time.Duration // the generator thread's on-CPU time
}

// pinThread pins the calling (locked) thread to cpu and returns a function
// that restores its previous affinity.
func pinThread(cpu int) (func(), error) {
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, fmt.Errorf("bench: sched_getaffinity: %w", err)
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("bench: pin to CPU%d: %w", cpu, err)
	}
	return func() { _ = unix.SchedSetaffinity(0, &old) }, nil
}

// threadCPU is the calling thread's CPU time so far.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
