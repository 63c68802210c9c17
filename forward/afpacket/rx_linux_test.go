package afpacket

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

func TestRxFrameSize(t *testing.T) {
	for _, mtu := range []int{68, 576, 1500, 1504, 4000, 9000} {
		got := rxFrameSize(mtu)
		need := rxMacOff + ethHeaderLen + 2*vlanHeaderLen + mtu
		switch {
		case got < need:
			t.Errorf("MTU %d: slot of %d bytes, but a frame with two tags needs %d", mtu, got, need)
		case got%64 != 0 || got/64%2 != 1:
			t.Errorf("MTU %d: slot of %d bytes is not an odd number of cache lines", mtu, got)
		case got-128 >= need:
			t.Errorf("MTU %d: slot of %d bytes wastes more than two lines (%d needed)", mtu, got, need)
		}
	}
	if got := rxFrameSize(1500); got != 1600 {
		t.Errorf("rxFrameSize(1500) = %d, want 1600", got)
	}
}

// TestSlotRingWalk checks next against the kernel's packet_lookup_frame:
// slot i at block i/perBlock, offset (i%perBlock)*frameSize, wrapping
// after the last slot.
func TestSlotRingWalk(t *testing.T) {
	for _, r := range []slotRing{
		newSlotRing(8192, 3, 1600),   // 5 slots per block and a gap
		newSlotRing(4096, 4, 2048),   // no gap
		newSlotRing(4096, 1, 4096),   // one slot
		newSlotRing(131072, 2, 2112), // the TX default: 62 slots and a gap
	} {
		var p slotPos
		for step := 0; step < 2*r.frames+3; step++ {
			i := step % r.frames
			want := uintptr(i/r.perBlock*r.blockSize + i%r.perBlock*r.frameSize)
			if p.idx != i || p.off != want || p.inBlock != i%r.perBlock {
				t.Fatalf("%+v, step %d: at slot %d offset %d (%d in block), want slot %d offset %d", r, step, p.idx, p.off, p.inBlock, i, want)
			}
			if end := p.off + uintptr(r.frameSize); end > r.size() {
				t.Fatalf("%+v: slot %d ends at %d, past the ring's %d bytes", r, i, end, r.size())
			}
			r.next(&p)
		}
	}
}

// TestRxRingWrapsInOrder pushes 36 frames through a V2 RX ring of four
// slots, three at a time, and reads them back through a two-frame batch:
// every frame must come back whole and in order across the wraps.
func TestRxRingWrapsInOrder(t *testing.T) {
	p := newPair(t)
	tx := openRing(t, p.ns1, "a0", &Config{NoRX: true})
	rx := openRing(t, p.ns2, "b0", &Config{NoTX: true, BlockSize: 4096, NumBlocks: 2, PollTimeout: 50 * time.Millisecond})
	if rx.rx.frames != 4 {
		t.Fatalf("ring of %d slots, want 4 (two 4 KiB blocks of 1600-byte slots)", rx.rx.frames)
	}
	frames := make([]Frame, 2)
	next := uint32(0)
	for round := range 12 {
		var want [][]byte
		for i := range 3 {
			want = append(want, expFrame(p.macB, p.macA, uint32(3*round+i), 60+100*i))
		}
		send(t, tx, want)
		deadline := time.Now().Add(2 * time.Second)
		for got := 0; got < 3; {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d of 3 frames after 2 s; stats %+v", round, got, rx.Stats())
			}
			n, err := rx.Receive(frames)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range frames[:n] {
				if !isTestFrame(&f) {
					continue
				}
				if seq := binary.BigEndian.Uint32(f.Data[14:]); seq != next {
					t.Fatalf("round %d: frame %d, want %d", round, seq, next)
				}
				if !bytes.Equal(f.Data, want[got]) || f.Len != uint32(len(want[got])) {
					t.Fatalf("round %d: frame %d differs from what was sent (len %d/%d, want %d)", round, next, len(f.Data), f.Len, len(want[got]))
				}
				next++
				got++
			}
			rx.Release()
		}
	}
	if st := rx.Stats(); st.RingDrops != 0 {
		t.Errorf("%d frames dropped by the ring; want none", st.RingDrops)
	}
}

// TestRxRingHeldSlotsDrop: slots the reader holds are not the kernel's to
// fill. With all four held, new frames are dropped and counted; once they
// are released, frames arrive again.
func TestRxRingHeldSlotsDrop(t *testing.T) {
	p := newPair(t)
	tx := openRing(t, p.ns1, "a0", &Config{NoRX: true})
	rx := openRing(t, p.ns2, "b0", &Config{NoTX: true, BlockSize: 4096, NumBlocks: 2, PollTimeout: 50 * time.Millisecond})
	frames := make([]Frame, 8)
	var seqs []uint32
	first := make([][]byte, 4)
	for i := range first {
		first[i] = expFrame(p.macB, p.macA, uint32(i), 64)
	}
	send(t, tx, first)
	for deadline := time.Now().Add(2 * time.Second); len(seqs) < 4 && time.Now().Before(deadline); {
		n, err := rx.Receive(frames) // held: no Release
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range frames[:n] {
			seqs = append(seqs, binary.BigEndian.Uint32(f.Data[14:]))
		}
	}
	if len(seqs) != 4 {
		t.Fatalf("received %v before the ring was full, want 4 frames", seqs)
	}
	send(t, tx, [][]byte{expFrame(p.macB, p.macA, 4, 64), expFrame(p.macB, p.macA, 5, 64)})
	waitStats(t, rx, func(s Stats) bool { return s.KernelRxTotal >= 6 })
	if n, err := rx.Receive(frames); n != 0 || err != nil {
		t.Fatalf("Receive with every slot held = %d, %v; want 0, nil", n, err)
	}
	if st := rx.Stats(); st.RingDrops != 2 {
		t.Fatalf("%d ring drops with every slot held, want 2 (stats %+v)", st.RingDrops, st)
	}
	rx.Release()
	send(t, tx, [][]byte{expFrame(p.macB, p.macA, 6, 64)})
	got := collect(t, rx, 1, isTestFrame)
	if len(got) != 1 || binary.BigEndian.Uint32(got[0].Data[14:]) != 6 {
		t.Fatalf("after Release: received %d frames, want frame 6", len(got))
	}
}

// waitStats polls c's Stats until ok or 2 s pass.
func waitStats(t *testing.T, c Conn, ok func(Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !ok(c.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("stats never got there: %+v", c.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
