package afpacket

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"
)

// Topology for most tests:
//
//	ns1 [a] ──veth── [b] ns2
//	  TX port          RX port(s)

type pair struct {
	ns1, ns2 string
	macA     [6]byte
	macB     [6]byte
}

func newPair(t testing.TB) pair {
	t.Helper()
	requireRoot(t)
	p := pair{ns1: newNetns(t), ns2: newNetns(t)}
	vethPair(t, p.ns1, "a0", p.ns2, "b0")
	p.macA, p.macB = ifaceMAC(t, p.ns1, "a0"), ifaceMAC(t, p.ns2, "b0")
	return p
}

// send transmits frames through c in batches of 64.
func send(t testing.TB, c Conn, frames [][]byte) {
	t.Helper()
	for i, f := range frames {
		buf := c.TxSlot()
		for tries := 0; buf == nil && tries < 100; tries++ {
			time.Sleep(time.Millisecond)
			buf = c.TxSlot()
		}
		if buf == nil {
			t.Fatalf("frame %d: no TX slot", i)
		}
		c.Commit(copy(buf, f))
		if i%64 == 63 {
			if err := c.Flush(); err != nil {
				t.Fatal(err)
			}
			// veth queues to the receiving CPU's backlog (netdev_max_backlog,
			// 1000 frames); on a loaded machine ksoftirqd may lag, so give it
			// a moment between batches rather than overflow it. 100 us was
			// too little under `make test`'s parallel packages: a plain
			// port lost 17 of 1000 frames to ENOBUFS once.
			time.Sleep(time.Millisecond)
		}
	}
	// Frames the kernel could not take yet (send buffer full) stay queued;
	// flush again, as the packet loop does when idle.
	for range 20 {
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
}

// collect receives until keep has accepted want frames or 5 s pass, and
// returns copies of the kept frames.
func collect(t *testing.T, c Conn, want int, keep func(*Frame) bool) []Frame {
	t.Helper()
	var got []Frame
	frames := make([]Frame, 256)
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		n, err := c.Receive(frames)
		if err != nil {
			t.Fatal(err)
		}
		for i := range frames[:n] {
			if keep(&frames[i]) {
				f := frames[i]
				f.Data = bytes.Clone(f.Data)
				got = append(got, f)
			}
		}
		c.Release()
	}
	return got
}

func isTestFrame(f *Frame) bool {
	return len(f.Data) >= 18 && binary.BigEndian.Uint16(f.Data[12:14]) == testEtherType
}

func TestTransmitReceiveExactBytes(t *testing.T) {
	tests := []struct {
		name      string
		plainTX   bool
		plainRX   bool
		txVersion int
		rxVersion int
		noVnet    bool
	}{
		{name: "ring-v2-to-ring", txVersion: 2},
		{name: "ring-v2-to-ring-v3rx", txVersion: 2, rxVersion: 3},
		{name: "ring-v3-to-ring", txVersion: 3},
		{name: "ring-v2-zero-copy-to-ring", txVersion: 2, noVnet: true},
		{name: "plain-to-ring", plainTX: true},
		{name: "ring-v2-to-plain", txVersion: 2, plainRX: true},
		{name: "plain-to-plain", plainTX: true, plainRX: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t)
			var tx, rx Conn
			if tt.plainRX {
				rx = openPlain(t, p.ns2, "b0", nil)
			} else {
				rx = openRing(t, p.ns2, "b0", &Config{NoTX: true, RxVersion: tt.rxVersion})
			}
			if tt.plainTX {
				tx = openPlain(t, p.ns1, "a0", nil)
			} else {
				r := openRing(t, p.ns1, "a0", &Config{NoRX: true, TxVersion: tt.txVersion, TxFrames: 256, NoVnetHdr: tt.noVnet})
				if got := r.Features().VnetHdr; got == tt.noVnet {
					t.Fatalf("features %+v with NoVnetHdr %v: want VnetHdr %v on kernel 6.x", r.Features(), tt.noVnet, !tt.noVnet)
				}
				tx = r
			}
			// Lengths sweep the minimum, odd sizes and the full MTU frame;
			// 1000 frames wrap the 256-slot TX ring several times.
			const count = 1000
			sent := make([][]byte, count)
			for i := range sent {
				sent[i] = expFrame(p.macB, p.macA, uint32(i), 60+(i*37)%(1514-60+1))
			}
			sent[1] = expFrame(p.macB, p.macA, 1, 1514)
			send(t, tx, sent)
			got := collect(t, rx, count, isTestFrame)
			if len(got) != count {
				t.Fatalf("received %d of %d frames; rx stats %+v, tx stats %+v", len(got), count, rx.Stats(), tx.Stats())
			}
			for i := range got {
				if !bytes.Equal(got[i].Data, sent[i]) {
					t.Fatalf("frame %d differs:\n got %x\nwant %x", i, got[i].Data, sent[i])
				}
				if got[i].Len != uint32(len(sent[i])) {
					t.Fatalf("frame %d: Len %d, want %d", i, got[i].Len, len(sent[i]))
				}
			}
			if st := tx.Stats(); st.TxFrames != count || st.TxRingFull != 0 {
				t.Errorf("tx stats %+v: want TxFrames %d and no drops", st, count)
			}
			if st := rx.Stats(); st.RxFrames < count || st.RingDrops != 0 {
				t.Errorf("rx stats %+v: want RxFrames ≥ %d and no ring drops", st, count)
			}
		})
	}
}

func TestCommitRejectsBadLengths(t *testing.T) {
	p := newPair(t)
	tx := openRing(t, p.ns1, "a0", &Config{NoRX: true})
	for _, n := range []int{0, 13, 1514 + 4 + 1} {
		if buf := tx.TxSlot(); buf == nil {
			t.Fatal("no TX slot")
		}
		tx.Commit(n)
	}
	if st := tx.Stats(); st.TxBadLength != 3 || st.TxFrames != 0 {
		t.Errorf("stats %+v: want 3 bad-length drops and nothing sent", st)
	}
}

func TestVLANTagStrippedAndRestored(t *testing.T) {
	for _, rxVersion := range []int{2, 3, 0} {
		name := map[int]string{2: "ring-v2rx", 3: "ring-v3rx", 0: "plain"}[rxVersion]
		t.Run(name, func(t *testing.T) {
			p := newPair(t)
			var rx Conn
			if rxVersion == 0 {
				rx = openPlain(t, p.ns2, "b0", nil)
			} else {
				rx = openRing(t, p.ns2, "b0", &Config{NoTX: true, RxVersion: rxVersion})
			}
			tx := openRing(t, p.ns1, "a0", &Config{NoRX: true})
			inner := expFrame(p.macB, p.macA, 7, 100)
			tagged := make([]byte, 0, len(inner)+4)
			tagged = append(tagged, inner[:12]...)
			tagged = append(tagged, 0x81, 0x00, 0x20, 0x2a) // PCP 1, VID 42
			tagged = append(tagged, inner[12:]...)
			send(t, tx, [][]byte{tagged})
			got := collect(t, rx, 1, isTestFrame)
			if len(got) != 1 {
				t.Fatalf("tagged frame not received")
			}
			f := got[0]
			if f.Flags&FlagVLAN == 0 || f.VLANTCI != 0x202a || f.VLANTPID != 0x8100 {
				t.Fatalf("flags %#x TCI %#x TPID %#x: want the tag reported (0x202a, 0x8100)", f.Flags, f.VLANTCI, f.VLANTPID)
			}
			if !bytes.Equal(f.Data, inner) {
				t.Fatalf("data %x, want the untagged frame %x", f.Data, inner)
			}
			out := make([]byte, 2048)
			n := f.CopyTagged(out)
			if !bytes.Equal(out[:n], tagged) {
				t.Fatalf("CopyTagged %x, want %x", out[:n], tagged)
			}
		})
	}
}

// TestChecksumStatus sends UDP from a local socket in ns1 and checks the
// checksum status the receiving port reports, with TX checksum offload on
// (partial checksum in the frame) and off (complete checksum).
func TestChecksumStatus(t *testing.T) {
	tests := []struct {
		name         string
		offload      string
		plain        bool
		rxVersion    int
		wantNotReady bool
	}{
		{name: "offload-on-ring", offload: "on", wantNotReady: true},
		{name: "offload-on-ring-v3rx", offload: "on", rxVersion: 3, wantNotReady: true},
		{name: "offload-off-ring", offload: "off"},
		{name: "offload-on-plain", offload: "on", plain: true, wantNotReady: true},
		{name: "offload-off-plain", offload: "off", plain: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t)
			run(t, "ip", "netns", "exec", p.ns1, "ethtool", "-K", "a0", "tx", tt.offload)
			run(t, "ip", "-n", p.ns1, "addr", "add", "10.99.0.1/24", "dev", "a0")
			run(t, "ip", "-n", p.ns1, "neigh", "add", "10.99.0.2", "lladdr", net.HardwareAddr(p.macB[:]).String(), "dev", "a0")
			var rx Conn
			if tt.plain {
				rx = openPlain(t, p.ns2, "b0", nil)
			} else {
				rx = openRing(t, p.ns2, "b0", &Config{NoTX: true, RxVersion: tt.rxVersion})
			}
			var sendErr error
			inNetns(t, p.ns1, func() {
				c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2), Port: 9999})
				if err != nil {
					sendErr = err
					return
				}
				defer c.Close()
				_, sendErr = c.Write([]byte("checksum me, please"))
			})
			if sendErr != nil {
				t.Fatal(sendErr)
			}
			got := collect(t, rx, 1, func(f *Frame) bool {
				return len(f.Data) >= 42 && binary.BigEndian.Uint16(f.Data[12:14]) == 0x0800 && f.Data[23] == 17 &&
					binary.BigEndian.Uint16(f.Data[36:38]) == 9999
			})
			if len(got) != 1 {
				t.Fatal("UDP frame not received")
			}
			f := got[0]
			notReady := f.Flags&FlagCsumNotReady != 0
			if notReady != tt.wantNotReady {
				t.Fatalf("FlagCsumNotReady = %v, want %v (flags %#x)", notReady, tt.wantNotReady, f.Flags)
			}
			// A partial checksum holds only the pseudo-header sum, so it
			// fails verification; a complete one passes.
			if ok := udpChecksumOK(f.Data); ok == notReady {
				t.Fatalf("UDP checksum verifies = %v with FlagCsumNotReady = %v", ok, notReady)
			}
		})
	}
}

// TestFanoutSpreadsFlows joins two RX rings in one fanout group and checks
// that flows spread over both while every flow stays on one socket.
func TestFanoutSpreadsFlows(t *testing.T) {
	for _, plain := range []bool{false, true} {
		name := map[bool]string{false: "ring", true: "plain"}[plain]
		t.Run(name, func(t *testing.T) { testFanoutSpreadsFlows(t, plain) })
	}
}

func testFanoutSpreadsFlows(t *testing.T, plain bool) {
	p := newPair(t)
	const group = 4242
	cfg := &Config{NoTX: true, FanoutGroup: group, PollTimeout: 10 * time.Millisecond}
	var rx []Conn
	for range 2 {
		if plain {
			rx = append(rx, openPlain(t, p.ns2, "b0", cfg))
		} else {
			rx = append(rx, openRing(t, p.ns2, "b0", cfg))
		}
	}
	tx := openRing(t, p.ns1, "a0", &Config{NoRX: true})
	const flows, perFlow = 64, 8
	var frames [][]byte
	for k := range perFlow {
		for fl := range flows {
			f := udpFrame(p.macB, p.macA, [4]byte{10, 1, 0, 1}, [4]byte{10, 2, 0, 1}, uint16(10000+fl), 80, 60)
			f[len(f)-1] = byte(k) // payload varies, the flow does not
			frames = append(frames, f)
		}
	}
	send(t, tx, frames)
	owner := map[uint16]int{} // source port -> socket
	count := 0
	buf := make([]Frame, 256)
	deadline := time.Now().Add(5 * time.Second)
	for count < flows*perFlow && time.Now().Before(deadline) {
		for s, c := range rx {
			n, err := c.Receive(buf)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range buf[:n] {
				if len(f.Data) < 42 || binary.BigEndian.Uint16(f.Data[12:14]) != 0x0800 {
					continue
				}
				sport := binary.BigEndian.Uint16(f.Data[34:36])
				if prev, ok := owner[sport]; ok && prev != s {
					t.Fatalf("flow with source port %d reached sockets %d and %d", sport, prev, s)
				}
				owner[sport] = s
				count++
			}
			c.Release()
		}
	}
	if count != flows*perFlow {
		t.Fatalf("received %d of %d frames", count, flows*perFlow)
	}
	perSocket := [2]int{}
	for _, s := range owner {
		perSocket[s]++
	}
	// Hash placement of 64 flows: each side gets at least 10 unless the
	// hash is badly broken (binomial tail ≈ 1e-7).
	if perSocket[0] < 10 || perSocket[1] < 10 {
		t.Fatalf("flows per socket %v: want both sockets used", perSocket)
	}
	t.Logf("flows per socket: %v", perSocket)
}

func TestCloseUnblocksReceive(t *testing.T) {
	for _, rxVersion := range []int{2, 3, 0} {
		plain := rxVersion == 0
		name := map[int]string{2: "ring-v2rx", 3: "ring-v3rx", 0: "plain"}[rxVersion]
		t.Run(name, func(t *testing.T) {
			p := newPair(t)
			cfg := &Config{PollTimeout: 30 * time.Second, RxVersion: rxVersion}
			var c Conn
			if plain {
				c = openPlain(t, p.ns2, "b0", cfg)
			} else {
				c = openRing(t, p.ns2, "b0", cfg)
			}
			errc := make(chan error, 1)
			go func() {
				frames := make([]Frame, 8)
				for {
					if _, err := c.Receive(frames); err != nil {
						errc <- err
						return
					}
					c.Release()
				}
			}()
			time.Sleep(50 * time.Millisecond)
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, errc, "Receive")
			if err := c.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if c.TxSlot() != nil && !plain {
				t.Fatal("TxSlot after Close returned a slot")
			}
		})
	}
}

// waitModes are the two ways a RingPort waits: the raw ppoll of a port with
// traffic, and the poller wait of an idle one (idleWait). "raw" keeps a
// port from ever going idle.
var waitModes = []struct {
	name      string
	idleAfter int
}{{name: "raw", idleAfter: 1 << 30}, {name: "idle", idleAfter: 2}}

// setIdleAfter sets idleAfter for one test; the test must have stopped
// every Receive before it ends.
func setIdleAfter(t *testing.T, n int) {
	old := idleAfter
	idleAfter = n
	t.Cleanup(func() { idleAfter = old })
}

// expectClosed waits for a Receive loop's error after Close: net.ErrClosed
// within 2 s.
func expectClosed(t *testing.T, errc <-chan error, what string) {
	t.Helper()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("%s after Close: %v, want net.ErrClosed", what, err)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("%s still blocked 2 s after Close", what)
	}
}

// TestIdleReceiveSleeps: on a quiet interface Receive sleeps until its
// poll timeout, or until the runtime's preemption signal (every 10-20 ms
// for a goroutine that never yields) ends the raw wait early; it must not
// spin. ppoll writes the time left back into its timeout, so a timeout
// kept across calls wore down to zero and turned an idle worker into a
// busy loop of hundreds of thousands of calls a second.
func TestIdleReceiveSleeps(t *testing.T) {
	for _, rxVersion := range []int{2, 3} {
		for _, mode := range waitModes {
			t.Run(fmt.Sprintf("v%drx-%s", rxVersion, mode.name), func(t *testing.T) {
				setIdleAfter(t, mode.idleAfter)
				p := newPair(t)
				c := openRing(t, p.ns2, "b0", &Config{PollTimeout: 40 * time.Millisecond, RxVersion: rxVersion})
				frames := make([]Frame, 8)
				const span = 400 * time.Millisecond
				calls, idle := 0, 0
				for start := time.Now(); time.Since(start) < span; calls++ {
					n, err := c.Receive(frames)
					if err != nil {
						t.Fatal(err)
					}
					if n > 0 {
						c.Release() // a stray frame (IPv6 neighbour discovery)
						continue
					}
					idle++
				}
				// 40 ms waits, or 10-20 ms ones when preempted: ~10-40
				// calls; idle waits are longer still.
				if idle == 0 || calls > 100 {
					t.Errorf("%d Receive calls (%d idle) in %v on a quiet interface: want a sleeping wait (10-40 calls)", calls, idle, span)
				}
				if mode.name == "idle" && c.idleWaits == 0 {
					t.Error("the port never went idle")
				}
			})
		}
	}
}

// TestBlockedReceiveDoesNotStallGC: a worker waiting in Receive must not
// hold up a stop-the-world. In the raw wait it holds its P in a raw
// syscall and the runtime's preemption signal ends the wait; in the idle
// wait it is parked.
func TestBlockedReceiveDoesNotStallGC(t *testing.T) {
	for _, rxVersion := range []int{2, 3} {
		for _, mode := range waitModes {
			t.Run(fmt.Sprintf("v%drx-%s", rxVersion, mode.name), func(t *testing.T) {
				setIdleAfter(t, mode.idleAfter)
				p := newPair(t)
				c := openRing(t, p.ns2, "b0", &Config{PollTimeout: 10 * time.Second, RxVersion: rxVersion})
				done := make(chan struct{})
				go func() {
					defer close(done)
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					frames := make([]Frame, 8)
					for {
						if _, err := c.Receive(frames); err != nil {
							return
						}
						c.Release()
					}
				}()
				time.Sleep(100 * time.Millisecond) // let it block
				start := time.Now()
				runtime.GC()
				if took := time.Since(start); took > time.Second {
					t.Errorf("runtime.GC took %v with a worker blocked in Receive (poll timeout 10 s): the wait held up the stop-the-world", took)
				}
				c.Close()
				select {
				case <-done:
				case <-time.After(2 * time.Second):
					t.Fatal("Receive still blocked 2 s after Close")
				}
			})
		}
	}
}

// TestIdleWaitWakes: a port parked in its idle wait (poll timeout 10 s)
// wakes for a frame at once, and for Close.
func TestIdleWaitWakes(t *testing.T) {
	for _, rxVersion := range []int{2, 3} {
		t.Run(fmt.Sprintf("v%drx", rxVersion), func(t *testing.T) {
			p := newPair(t)
			tx := openRing(t, p.ns1, "a0", &Config{NoRX: true})
			rx := openRing(t, p.ns2, "b0", &Config{NoTX: true, PollTimeout: 10 * time.Second, RxVersion: rxVersion})
			got := make(chan uint32, 4)
			done := make(chan error, 1)
			go func() {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				frames := make([]Frame, 8)
				for {
					n, err := rx.Receive(frames)
					if err != nil {
						done <- err
						return
					}
					for _, f := range frames[:n] {
						if isTestFrame(&f) {
							got <- binary.BigEndian.Uint32(f.Data[14:])
						}
					}
					rx.Release()
				}
			}()
			time.Sleep(300 * time.Millisecond) // two raw waits end within 10-20 ms each (preemption)
			send(t, tx, [][]byte{expFrame(p.macB, p.macA, 42, 64)})
			select {
			case seq := <-got:
				if seq != 42 {
					t.Fatalf("received frame %d, want 42", seq)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("an idle port did not wake for a frame within 2 s (its poll timeout is 10 s)")
			}
			time.Sleep(300 * time.Millisecond)
			rx.Close()
			expectClosed(t, done, "an idle Receive")
			if rx.idleWaits < 2 {
				t.Errorf("%d idle waits: the port did not park before the frame and before Close", rx.idleWaits)
			}
		})
	}
}

func TestNoAllocs(t *testing.T) {
	tests := []struct {
		name      string
		plain     bool
		rxVersion int
	}{{name: "ring-v2rx", rxVersion: 2}, {name: "ring-v3rx", rxVersion: 3}, {name: "plain", plain: true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t)
			var tx, rx Conn
			if tt.plain {
				tx, rx = openPlain(t, p.ns1, "a0", nil), openPlain(t, p.ns2, "b0", nil)
			} else {
				tx, rx = openRing(t, p.ns1, "a0", nil), openRing(t, p.ns2, "b0", &Config{RxVersion: tt.rxVersion})
			}
			frame := expFrame(p.macB, p.macA, 1, 60)
			frames := make([]Frame, 64)
			received := 0
			allocs := testing.AllocsPerRun(200, func() {
				for range 8 {
					if buf := tx.TxSlot(); buf != nil {
						tx.Commit(copy(buf, frame))
					}
				}
				if err := tx.Flush(); err != nil {
					t.Fatal(err)
				}
				n, err := rx.Receive(frames)
				if err != nil {
					t.Fatal(err)
				}
				received += n
				rx.Release()
			})
			if allocs != 0 {
				t.Errorf("%v allocations per batch, want 0", allocs)
			}
			if received == 0 {
				t.Error("nothing received: the loop measured nothing")
			}
		})
	}
}
