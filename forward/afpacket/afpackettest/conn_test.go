package afpackettest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ulvs/ulvs/forward/afpacket"
)

// TestConn: frames come out of Receive in order, committed frames are
// counted, kept and shown to OnCommit, the TX ring wraps, and Close ends
// Receive.
func TestConn(t *testing.T) {
	c := NewRing("eth0", 2, 64)
	c.RX = [][]byte{{1}, {2, 2}, {3, 3, 3}}
	frames := make([]afpacket.Frame, 2)
	if n, err := c.Receive(frames); n != 2 || err != nil || frames[1].Len != 2 || frames[1].Data[0] != 2 {
		t.Fatalf("Receive: %d %v %+v", n, err, frames)
	}
	if n, _ := c.Receive(frames); n != 1 || frames[0].Data[0] != 3 {
		t.Fatalf("second Receive: %d %+v", n, frames[0])
	}
	if n, err := c.Receive(frames); n != 0 || err != nil {
		t.Fatalf("empty Receive: %d %v", n, err)
	}

	c.Keep = true
	var seen [][]byte
	c.OnCommit = func(f []byte) { seen = append(seen, append([]byte(nil), f...)) }
	var slots [3][]byte
	for i := range slots {
		s := c.TxSlot()
		if len(s) != 64 {
			t.Fatalf("slot %d is %d bytes, want 64", i, len(s))
		}
		slots[i] = s
		s[0] = byte(10 + i)
		c.Commit(1 + i)
	}
	if &slots[0][0] != &slots[2][0] || &slots[0][0] == &slots[1][0] {
		t.Error("the TX ring of 2 slots does not wrap after 2")
	}
	want := [][]byte{{10}, {11, 0}, {12, 0, 0}}
	if c.NSent != 3 || len(c.Sent) != 3 || len(seen) != 3 {
		t.Fatalf("NSent %d, Sent %d, OnCommit %d: want 3 each", c.NSent, len(c.Sent), len(seen))
	}
	for i := range want {
		if !bytes.Equal(c.Sent[i], want[i]) || !bytes.Equal(seen[i], want[i]) {
			t.Errorf("frame %d: kept %v, OnCommit %v, want %v", i, c.Sent[i], seen[i], want[i])
		}
	}
	if err := c.Flush(); err != nil || c.Flushes != 1 {
		t.Errorf("Flush: %v, %d", err, c.Flushes)
	}
	c.Close()
	if _, err := c.Receive(frames); !errors.Is(err, afpacket.ErrClosed) {
		t.Errorf("Receive after Close: %v, want ErrClosed", err)
	}
}
