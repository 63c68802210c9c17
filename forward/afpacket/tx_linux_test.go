package afpacket

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLoneFrameLeavesWithItsFlush: a frame committed alone stays in the TX
// ring until Flush, and the Flush sends it: the kernel has taken the slot
// when Flush returns (its status is no longer SEND_REQUEST) and the peer
// receives it. Nothing waits for a batch to fill.
func TestLoneFrameLeavesWithItsFlush(t *testing.T) {
	for _, version := range []int{2, 3} {
		t.Run(map[int]string{2: "v2tx", 3: "v3tx"}[version], func(t *testing.T) {
			p := newPair(t)
			tx := openRing(t, p.ns1, "a0", &Config{NoRX: true, TxVersion: version})
			rx := openPlain(t, p.ns2, "b0", &Config{NoTX: true, PollTimeout: 20 * time.Millisecond})
			frames := make([]Frame, 8)
			for seq := range uint32(5) {
				buf := tx.TxSlot()
				if buf == nil {
					t.Fatal("no TX slot")
				}
				status := u32(tx.txBase, tx.txPos.off+tx.txStatusOff)
				tx.Commit(copy(buf, expFrame(p.macB, p.macA, seq, 64)))
				if st := atomic.LoadUint32(status); st != unix.TP_STATUS_SEND_REQUEST {
					t.Fatalf("frame %d: slot status %#x after Commit, want SEND_REQUEST", seq, st)
				}
				if n, _ := rx.Receive(frames); n != 0 { // one 20 ms poll
					t.Fatalf("frame %d: the peer received %d frames before Flush", seq, n)
				}
				if err := tx.Flush(); err != nil {
					t.Fatal(err)
				}
				if st := atomic.LoadUint32(status); st == unix.TP_STATUS_SEND_REQUEST {
					t.Fatalf("frame %d: slot still waiting to be sent after Flush", seq)
				}
				got := collect(t, rx, 1, isTestFrame)
				if len(got) != 1 || binary.BigEndian.Uint32(got[0].Data[14:]) != seq {
					t.Fatalf("frame %d: the peer received %d frames after Flush, want this one", seq, len(got))
				}
			}
			if st := tx.Stats(); st.TxFrames != 5 || st.TxFlushes != 5 {
				t.Errorf("TxFrames %d in %d flushes, want 5 in 5", st.TxFrames, st.TxFlushes)
			}
		})
	}
}
