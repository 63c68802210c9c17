package forward

import (
	"testing"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/forward/afpacket"
)

// stopAfterConn hands out its queued frames on the first Receive, and on
// the second notes what the loop had transmitted by then and stops it.
type stopAfterConn struct {
	*memConn
	calls             int
	sentBy, flushedBy int // the real side's commits and flushes at the second Receive
	tx                *memConn
}

func (c *stopAfterConn) Receive(frames []afpacket.Frame) (int, error) {
	c.calls++
	if c.calls == 1 {
		return c.memConn.Receive(frames)
	}
	c.sentBy, c.flushedBy = c.tx.nsent, c.tx.flushes
	return 0, afpacket.ErrClosed
}

// TestLoneFrameFlushedWithItsBatch: a worker that receives a single frame
// transmits it before it waits for the next one; a frame is never held
// back for a fuller batch.
func TestLoneFrameFlushedWithItsBatch(t *testing.T) {
	f := newLoopFixture(t, balancer.NAT, 8080)
	rx := &stopAfterConn{memConn: f.client.rx.(*memConn), tx: f.rconn}
	rx.rx = append(rx.rx, tcpFrame(t, lpFrontMAC, lpClientMAC, lpClientIP, lpVIP, 40000, 80, true, false, nil))
	f.client.rx = rx
	if err := f.client.run(); err != nil {
		t.Fatal(err)
	}
	if rx.calls != 2 {
		t.Fatalf("%d Receive calls, want 2", rx.calls)
	}
	if rx.sentBy != 1 || rx.flushedBy == 0 {
		t.Errorf("when the worker asked for the next batch, %d frames were committed and %d flushes made on the real side; want the SYN committed and flushed",
			rx.sentBy, rx.flushedBy)
	}
}
