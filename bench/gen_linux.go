package bench

import (
	"fmt"
	"runtime"
	"time"

	"github.com/ulvs/ulvs/forward/afpacket"
	"github.com/ulvs/ulvs/internal/netns"
	"golang.org/x/sys/unix"
)

// genBatch is how many frames the generator commits per flush.
const genBatch = 256

// generator sends pre-built frames from a TX ring as fast as it can.
type generator struct {
	conn   *afpacket.RingPort
	frames []byte
	flows  int
	next   int
	cpu    int // -1: unpinned
}

// newGenerator opens a TX-only ring on dev inside ns. The socket stays in
// ns, so the sending thread itself needs no namespace switch.
func newGenerator(ns *netns.NS, dev string, frames []byte, cpu int) (*generator, error) {
	g := &generator{frames: frames, flows: len(frames) / FrameLen, cpu: cpu}
	err := ns.Do(func() error {
		var err error
		// Small slots keep the ring (8192 x 256 B) cache-friendly; every
		// frame is FrameLen bytes.
		g.conn, err = afpacket.Open(dev, &afpacket.Config{NoRX: true, FrameSize: 256, BlockSize: 64 << 10, TxFrames: 8192})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bench: generator on %s: %w", dev, err)
	}
	return g, nil
}

func (g *generator) Close() error { return g.conn.Close() }

// genResult is one generator window.
type genResult struct {
	sent    uint64
	elapsed time.Duration
	cpu     time.Duration // the generator thread's on-CPU time
}

// run sends for d or max frames, whichever comes first, on a locked thread
// pinned to g.cpu, and restores the thread's affinity afterwards.
func (g *generator) run(d time.Duration, max uint64) (genResult, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if g.cpu >= 0 {
		restore, err := pinThread(g.cpu)
		if err != nil {
			return genResult{}, err
		}
		defer restore()
	}
	cpu0 := threadCPU()
	var sent uint64
	start := time.Now()
	deadline := start.Add(d)
	for sent < max {
		for range genBatch {
			slot := g.conn.TxSlot()
			if slot == nil {
				break // ring full: flush and look again
			}
			off := g.next * FrameLen
			copy(slot, g.frames[off:off+FrameLen])
			g.conn.Commit(FrameLen)
			if g.next++; g.next == g.flows {
				g.next = 0
			}
			sent++
		}
		if err := g.conn.Flush(); err != nil {
			return genResult{}, err
		}
		if time.Now().After(deadline) {
			break
		}
	}
	return genResult{sent: sent, elapsed: time.Since(start), cpu: threadCPU() - cpu0}, nil
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
