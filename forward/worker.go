package forward

import (
	"errors"
	"fmt"

	"github.com/ulvs/ulvs/balancer/conntrack"
	"github.com/ulvs/ulvs/forward/afpacket"
)

// worker is one goroutine's share of the data plane: its RX socket, a TX
// socket per egress interface and its scratch space. Nothing in it is
// shared with another worker.
//
// A received batch travels in three steps (handleBatch): classify parses
// each frame and deals with what needs no connection decision; one
// conntrack.Worker.DecideBatch call decides every frame that does; the
// egress step (egress.go) rewrites and queues the pending frames in
// arrival order.
type worker struct {
	loop   *Loop
	idx    int // the worker's index: its traffic counter shard
	in     *Port
	rx     afpacket.Conn
	oneArm bool
	// txClient and txReals are the sockets frames leave by; the one for the
	// worker's own interface is rx itself.
	txClient, txReals afpacket.Conn
	bw                *conntrack.Worker
	// ps holds a Parsed per frame of the batch, so that connection
	// decisions can be made for the whole batch at once between parsing
	// and rewriting; each step is handed its frame's Parsed.
	ps     []Parsed
	frames []afpacket.Frame
	// pend lists the frames classify left for the egress step, in arrival
	// order; pkts holds the balancer decisions those of them that need one
	// wait for, in the same order.
	pend []pendingFrame
	pkts []conntrack.BatchPacket
	ipid uint16
	icmp tokenBucket
	ctr  workerCounters
	// reals keeps per-real-server addresses, next-hop MACs and the batch's
	// traffic counts.
	reals realCache
	// tr is this worker's ring of the armed trace, read once per batch;
	// nil when no trace is armed. It is the trace's only hook into the
	// worker (trace.go).
	tr *traceRing
	// backHops remembers recent next-hop resolutions towards the client
	// side (those towards real servers live in reals).
	backHops hopMemo
	// svcMemo is isService's last answer.
	svcMemo serviceMemo
}

func (w *worker) setTx(p *Port, c afpacket.Conn) {
	if p == w.loop.cfg.Client {
		w.txClient = c
	}
	if p == w.loop.cfg.Reals {
		w.txReals = c
	}
}

func (w *worker) run() error {
	for {
		n, err := w.rx.Receive(w.frames)
		if err == nil && n > 0 {
			w.handleBatch(w.frames[:n])
			w.rx.Release()
			w.ctr.rx.Add(uint64(n))
		}
		// Flush after every batch, and when idle too: frames a full send
		// buffer held back leave then.
		if err == nil {
			err = w.flush()
		}
		if err != nil {
			if errors.Is(err, afpacket.ErrClosed) {
				return nil
			}
			return fmt.Errorf("forward: worker on %s: %w", w.in.Name, err)
		}
	}
}

// handleBatch runs one received batch against one table snapshot and one
// clock reading, as Run does for every Receive: it classifies every frame,
// asks the balancer about all service packets and NAT replies at once
// (so that the connection table's memory latency overlaps across the
// batch), then rewrites and queues the pending frames in arrival order.
// With a trace armed the same path runs, each frame bracketed by the
// trace's begin and end.
func (w *worker) handleBatch(frames []afpacket.Frame) {
	defer w.endBatch()
	tab := w.loop.cfg.Table.Load()
	now := w.loop.cfg.Clock()
	w.icmp.refill(now)
	tr := w.loop.traceRing(w.idx)
	w.tr = tr
	n, k := 0, 0 // pending frames, balancer decisions
	for i := range frames {
		pf := &w.pend[n]
		if tr != nil {
			w.traceBegin()
		}
		pf.kind = w.classify(&frames[i], &w.ps[i], pf, &w.pkts[k], tab, now)
		switch pf.kind {
		case handled:
			if tr == nil {
				continue
			}
			// Traced, a handled frame keeps its place so that samples
			// come out in arrival order; its drop reason goes with it.
			pf.kind, pf.reason = pendingTraced, w.ctr.last
		case pendingInbound, pendingOutbound:
			k++
		}
		pf.frame = int32(i)
		n++
	}
	if k > 0 {
		w.bw.DecideBatch(tab, w.pkts[:k], now)
	}
	k = 0
	for j := range w.pend[:n] {
		pf := &w.pend[j]
		f, p := &frames[pf.frame], &w.ps[pf.frame]
		if tr != nil {
			w.traceBegin()
		}
		switch pf.kind {
		case pendingInbound:
			w.afterInbound(f.Data, p, &w.pkts[k].In, now)
			k++
		case pendingOutbound:
			w.afterOutbound(f.Data, p, &w.pkts[k].Out, tab)
			k++
		case pendingToReal:
			w.toReal(f.Data, p, pf.real, now)
		case pendingTraced:
			w.ctr.last = pf.reason
		}
		if tr != nil {
			tr.end(f.Data, p, w.in == w.loop.cfg.Client, w.ctr.last)
		}
	}
}

// traceBegin starts tracing one frame.
func (w *worker) traceBegin() {
	w.tr.begin()
	w.ctr.last = 0
}

// endBatch publishes what handleBatch tallied in plain per-batch counts.
func (w *worker) endBatch() {
	w.reals.flush()
	w.ctr.settle()
}
