package bench

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ulvs/ulvs/forward/afpacket"
	"github.com/ulvs/ulvs/internal/netns"
)

// clock is the run's time base: the generator stamps and the sinks read
// the same monotonic clock (one process, so one base).
type clock struct{ base time.Time }

func (c *clock) now32() uint32 { return uint32(time.Since(c.base).Nanoseconds()) }

// sinkStats are one sink's counts for one window.
type sinkStats struct {
	received  uint64 // frames of the current window read by the sink
	verified  uint64
	failures  [numVerdicts]uint64
	dups      uint64
	reordered uint64
	stale     uint64
	latency   Histogram
}

// window is the state the sinks share for one measured window.
type window struct {
	epoch uint8
	// seen has one bit per global sequence number (duplicate detection).
	seen []atomic.Uint64
	// owner is, per flow, 1 + the index of the first sink that saw it.
	owner []atomic.Int32
	// wrongReal counts packets of a flow seen at a second sink.
	wrongReal atomic.Uint64
	checkFlow bool
}

// sink reads every frame arriving at one real server and verifies it.
type sink struct {
	idx  int
	conn *afpacket.PlainPort
	exp  expectation
	clk  *clock
	cpu  int // -1: unpinned

	mu      sync.Mutex
	win     *window
	stats   sinkStats
	lastSeq []uint32 // per flow: last flow sequence seen + 0 (0 = none)
	done    chan error
}

// openSink opens a receive-only socket on the real server's interface.
func openSink(idx int, r netns.Host, clk *clock, cpu int) (*sink, error) {
	s := &sink{idx: idx, clk: clk, cpu: cpu, done: make(chan error, 1)}
	err := r.NS.Do(func() error {
		var err error
		s.conn, err = afpacket.OpenPlain(r.Dev.Name, &afpacket.Config{NoTX: true, PlainBatch: 64, PollTimeout: 50 * time.Millisecond})
		return err
	})
	if err != nil {
		return nil, err
	}
	s.exp.mac, s.exp.real = [6]byte(r.Dev.MAC), r.Dev.Addr.Addr().As4()
	go s.loop()
	return s, nil
}

// arm starts a window: packets with epoch w.epoch are verified from now on.
func (s *sink) arm(w *window, e expectation, flows int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.mac, e.real = s.exp.mac, s.exp.real
	s.exp, s.win, s.stats = e, w, sinkStats{}
	if cap(s.lastSeq) < flows {
		s.lastSeq = make([]uint32, flows)
	}
	s.lastSeq = s.lastSeq[:flows]
	clear(s.lastSeq)
}

// disarm ends the window and returns its counts.
func (s *sink) disarm() sinkStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.win = nil
	s.exp.epoch = 0
	return s.stats
}

func (s *sink) loop() {
	runtime.LockOSThread() // never unlocked: the pinned thread dies with the goroutine
	if s.cpu >= 0 {
		if _, err := pinThread(s.cpu); err != nil {
			s.done <- err
			return
		}
	}
	frames := make([]afpacket.Frame, 64)
	for {
		n, err := s.conn.Receive(frames)
		if err != nil {
			if errors.Is(err, afpacket.ErrClosed) {
				err = nil
			}
			s.done <- err
			return
		}
		if n == 0 {
			continue
		}
		now := s.clk.now32()
		s.mu.Lock()
		if s.win != nil {
			for i := range frames[:n] {
				s.account(frames[i].Data, now)
			}
		}
		s.mu.Unlock()
		s.conn.Release()
	}
}

// account verifies one frame and counts it; s.mu is held.
func (s *sink) account(frame []byte, now uint32) {
	v, st := s.exp.check(frame)
	switch v {
	case VerdictIgnore:
		return
	case VerdictStale:
		s.stats.stale++
		return
	}
	s.stats.received++
	if v != VerdictOK {
		s.stats.failures[v]++
		return
	}
	s.stats.verified++
	s.stats.latency.Add(now - st.TS)
	w := s.win
	if word := int(st.Seq / 64); word < len(w.seen) {
		bit := uint64(1) << (st.Seq % 64)
		if w.seen[word].Or(bit)&bit != 0 {
			s.stats.dups++
			return
		}
	}
	if st.Flow == NoFlow || int(st.Flow) >= len(s.lastSeq) {
		return
	}
	if w.checkFlow {
		me := int32(s.idx + 1)
		if !w.owner[st.Flow].CompareAndSwap(0, me) && w.owner[st.Flow].Load() != me {
			w.wrongReal.Add(1)
		}
	}
	if last := s.lastSeq[st.Flow]; st.FlowSeq < last {
		s.stats.reordered++
	} else {
		s.lastSeq[st.Flow] = st.FlowSeq
	}
}

// close stops the sink and returns its socket's kernel drop count.
func (s *sink) close() (drops uint64, err error) {
	drops = s.conn.Stats().RingDrops
	s.conn.Close()
	return drops, <-s.done
}
