package afpacket

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// withoutOption makes setsockoptInt fail with ENOPROTOOPT for one
// SOL_PACKET option (or for PACKET_VERSION with one value), as an older
// kernel would.
func withoutOption(t *testing.T, opt, value int) {
	t.Helper()
	orig := setsockoptInt
	setsockoptInt = func(fd, level, o, v int) error {
		if level == unix.SOL_PACKET && o == opt && (value < 0 || v == value) {
			return unix.ENOPROTOOPT
		}
		return orig(fd, level, o, v)
	}
	t.Cleanup(func() { setsockoptInt = orig })
}

// TestOpenWithoutRingVersion plays a kernel without the RX ring's TPACKET
// version: Open must say which and point at io=plain, and ModeAuto must
// fall back to the plain port.
func TestOpenWithoutRingVersion(t *testing.T) {
	for _, tt := range []struct {
		name    string
		version int
		cfg     *Config
	}{
		{name: "V2 (default)", version: unix.TPACKET_V2, cfg: nil},
		{name: "V3", version: unix.TPACKET_V3, cfg: &Config{RxVersion: 3}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t)
			withoutOption(t, unix.PACKET_VERSION, tt.version)
			want := fmt.Sprintf("TPACKET_V%d", tt.version+1) // the constants count from V1 = 0
			var err error
			inNetns(t, p.ns2, func() { _, err = Open("b0", tt.cfg) })
			if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "io=plain") {
				t.Fatalf("Open without %s: %v; want ErrNotSupported naming %s and io=plain", want, err, want)
			}
			var c Conn
			inNetns(t, p.ns2, func() { c, err = OpenConn("b0", ModeAuto, tt.cfg) })
			if err != nil {
				t.Fatalf("OpenConn(ModeAuto) did not fall back: %v", err)
			}
			defer c.Close()
			if _, ok := c.(*PlainPort); !ok {
				t.Fatalf("OpenConn(ModeAuto) = %T, want *PlainPort", c)
			}
			inNetns(t, p.ns2, func() { _, err = OpenConn("b0", ModeRing, tt.cfg) })
			if !errors.Is(err, ErrNotSupported) {
				t.Fatalf("OpenConn(ModeRing) = %v, want ErrNotSupported", err)
			}
		})
	}
}

func TestOpenConnAutoPrefersRing(t *testing.T) {
	p := newPair(t)
	var c Conn
	var err error
	inNetns(t, p.ns2, func() { c, err = OpenConn("b0", ModeAuto, nil) })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, ok := c.(*RingPort)
	if !ok {
		t.Fatalf("OpenConn(ModeAuto) = %T, want *RingPort on this kernel", c)
	}
	if f := r.Features(); !f.IgnoreOutgoing || !f.QdiscBypass || f.TxVersion != DefaultTxVersion || !f.VnetHdr {
		t.Errorf("features %+v: want ignore-outgoing, qdisc bypass, TX V%d and the vnet header on kernel 6.x", f, DefaultTxVersion)
	}
}

// TestOwnTransmissionsNotReceived checks that a port's RX never returns
// what its own TX socket sent on the same interface, with the kernel's
// PACKET_IGNORE_OUTGOING and with the userspace filter that replaces it.
// Qdisc bypass is off: frames sent with it skip the taps altogether
// (__dev_direct_xmit does not call dev_queue_xmit_nit), which would hide
// the problem.
func TestOwnTransmissionsNotReceived(t *testing.T) {
	for _, tc := range []struct {
		name           string
		kernel, fanout bool
	}{
		{"kernel", true, false},
		{"userspace-filter", false, false},
		// A fanout group has its own hook: the per-socket option does not
		// reach it, PACKET_FANOUT_FLAG_IGNORE_OUTGOING does.
		{"kernel-fanout", true, true},
		{"userspace-filter-fanout", false, true},
	} {
		kernel := tc.kernel
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t)
			if !kernel {
				withoutOption(t, unix.PACKET_IGNORE_OUTGOING, -1)
			}
			cfg := &Config{PollTimeout: 20 * time.Millisecond, NoQdiscBypass: true}
			if tc.fanout {
				cfg.FanoutGroup = 77
			}
			self := openRing(t, p.ns1, "a0", cfg)
			if got := self.Features().IgnoreOutgoing; got != kernel {
				t.Fatalf("IgnoreOutgoing = %v, want %v", got, kernel)
			}
			peer := openRing(t, p.ns2, "b0", &Config{NoTX: true})
			const count = 50
			frames := make([][]byte, count)
			for i := range frames {
				frames[i] = expFrame(p.macB, p.macA, uint32(i), 60)
			}
			send(t, self, frames)
			if got := collect(t, peer, count, isTestFrame); len(got) != count {
				t.Fatalf("peer received %d of %d frames", len(got), count)
			}
			// The peer has them all, so they have passed a0's taps.
			buf := make([]Frame, 64)
			for range 5 {
				n, err := self.Receive(buf)
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range buf[:n] {
					if isTestFrame(&f) {
						t.Fatalf("port received its own transmitted frame %x", f.Data)
					}
				}
				self.Release()
			}
		})
	}
}

// TestTxRingFullKeepsFrames takes the interface down so the kernel cannot
// send: the ring fills, TxSlot reports full and counts it, and the queued
// frames leave once the interface is back up.
func TestTxRingFullKeepsFrames(t *testing.T) {
	p := newPair(t)
	tx := openRing(t, p.ns1, "a0", &Config{NoRX: true, TxFrames: 64})
	rx := openRing(t, p.ns2, "b0", &Config{NoTX: true})
	run(t, "ip", "-n", p.ns1, "link", "set", "dev", "a0", "down")
	slots := 0
	for ; slots < 1000; slots++ {
		buf := tx.TxSlot()
		if buf == nil {
			break
		}
		tx.Commit(copy(buf, expFrame(p.macB, p.macA, uint32(slots), 60)))
	}
	// 64 slots asked for, rounded up to whole blocks: with the default
	// slot size (not a divisor of the block) a block ends in a gap, which
	// the frames below cross.
	perBlock := DefaultBlockSize / DefaultFrameSize
	want := (64 + perBlock - 1) / perBlock * perBlock
	if slots != want {
		t.Fatalf("got %d slots from a %d-slot ring with the interface down", slots, want)
	}
	if err := tx.Flush(); err == nil || !errors.Is(err, unix.ENETDOWN) {
		t.Fatalf("Flush with the interface down = %v, want ENETDOWN", err)
	}
	if st := tx.Stats(); st.TxRingFull != 1 || st.TxErrors == 0 {
		t.Fatalf("stats %+v: want one ring-full drop and the failed flushes counted", st)
	}
	run(t, "ip", "-n", p.ns1, "link", "set", "dev", "a0", "up")
	// Right after "up" the device may still refuse frames for a moment
	// (its queue is activated from the kernel's link-watch work, which a
	// loaded machine runs late); such a kick returns ENOBUFS, which Flush
	// reports as "still queued" and keeps pending, exactly as the packet
	// loop's idle flush relies on. So kick until the ring has drained.
	deadline := time.Now().Add(5 * time.Second)
	for tx.Stats().TxFrames < uint64(want) && time.Now().Before(deadline) {
		if err := tx.Flush(); err != nil && !errors.Is(err, unix.ENETDOWN) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	got := collect(t, rx, want, isTestFrame)
	if len(got) != want {
		t.Fatalf("received %d of the %d queued frames after the link came up; tx stats %+v, rx stats %+v",
			len(got), want, tx.Stats(), rx.Stats())
	}
	for i, f := range got {
		if w := expFrame(p.macB, p.macA, uint32(i), 60); !bytes.Equal(f.Data[:60], w) {
			t.Fatalf("frame %d arrived as % x, want % x (slot order or layout wrong)", i, f.Data[:60], w)
		}
	}
}

// TestTxRingWrapsAcrossBlockGaps sends several ring-fulls through a TX ring
// whose slots do not divide its blocks (the default slot size), so the head
// crosses block gaps and wraps around: every frame must arrive, in order,
// byte for byte.
func TestTxRingWrapsAcrossBlockGaps(t *testing.T) {
	if DefaultBlockSize%DefaultFrameSize == 0 {
		t.Fatalf("DefaultFrameSize %d divides DefaultBlockSize %d: this test would not cross a gap", DefaultFrameSize, DefaultBlockSize)
	}
	for _, version := range []int{2, 3} {
		t.Run(fmt.Sprintf("TPACKET_V%d", version), func(t *testing.T) {
			p := newPair(t)
			tx := openRing(t, p.ns1, "a0", &Config{NoRX: true, TxFrames: 64, TxVersion: version})
			rx := openRing(t, p.ns2, "b0", &Config{NoTX: true})
			const n = 400 // over three rings of 124 slots
			frames := make([][]byte, n)
			for i := range frames {
				frames[i] = expFrame(p.macB, p.macA, uint32(i), 60+i%40)
			}
			send(t, tx, frames)
			if err := tx.Flush(); err != nil {
				t.Fatal(err)
			}
			got := collect(t, rx, n, isTestFrame)
			if len(got) != n {
				t.Fatalf("received %d of %d frames; tx stats %+v", len(got), n, tx.Stats())
			}
			for i, f := range got {
				if !bytes.Equal(f.Data[:len(frames[i])], frames[i]) {
					t.Fatalf("frame %d arrived as % x, want % x", i, f.Data, frames[i])
				}
			}
		})
	}
}

func TestParseKernelRelease(t *testing.T) {
	tests := []struct {
		in   string
		want [2]int
		ok   bool
	}{
		{"6.18.44-fc-v669", [2]int{6, 18}, true},
		{"4.14.0", [2]int{4, 14}, true},
		{"5.4", [2]int{5, 4}, true},
		{"3.10.0-1160.el7.x86_64", [2]int{3, 10}, true},
		{"6.1-rc1", [2]int{6, 1}, true},
		{"6", [2]int{}, false},
		{"6.", [2]int{}, false},
		{"x.y", [2]int{}, false},
		{"", [2]int{}, false},
	}
	for _, tc := range tests {
		got, ok := parseKernelRelease(tc.in)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("parseKernelRelease(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
