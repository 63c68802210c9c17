package afpacket

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The receive side of a RingPort. A TPACKET_V2 ring by default: every frame
// has its own status word and the kernel wakes a waiting reader for each
// frame it writes, so a frame reaches the worker as soon as it arrives on a
// quiet interface, while a busy worker, which is not waiting, finds every
// frame that arrived meanwhile and takes them as one batch. A TPACKET_V3
// ring (Config.RxVersion 3) hands frames over a block at a time, when the
// block is full or its retire timer fires: at any rate below a block per
// timeout, every frame waits for the timer (~1 ms). See docs/architecture.md,
// "A receive ring that does not wait for a timer".

// rxMacOff is the largest offset at which the kernel puts a frame in a V2
// RX slot: TPACKET_ALIGN(TPACKET2_HDRLEN + 16) - 14 (tpacket_rcv; a longer
// link-layer header starts earlier).
const rxMacOff = 80 - ethHeaderLen

// rxFrameSize is the V2 RX slot for an interface of this MTU: room for the
// largest frame with two in-band tags, in whole cache lines, an odd number
// of them: slots a power of two apart would all start on the same few
// cache sets (as DefaultFrameSize explains for TX). 1600 bytes at MTU 1500.
// A longer frame (one merged by GRO, which preflight asks to turn off) is
// truncated, and the loop drops it as truncated.
func rxFrameSize(mtu int) int {
	lines := (rxMacOff + ethHeaderLen + 2*vlanHeaderLen + mtu + 63) / 64
	if lines%2 == 0 {
		lines++
	}
	return lines * 64
}

// openRX sets up the RX socket in the order the kernel requires: version,
// ring, mmap, then bind (so the socket is hooked only once the ring
// exists), then fanout (which needs a bound socket).
func (p *RingPort) openRX(ifname string, ifindex, mtu int, c *Config) error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("afpacket: socket(AF_PACKET) for %q: %w (needs CAP_NET_RAW)", ifname, err)
	}
	p.rxFD = fd
	p.rxVersion = c.RxVersion
	p.features.RxVersion = c.RxVersion
	if c.RxVersion == 3 {
		err = p.ringV3(ifname, c)
	} else {
		err = p.ringV2(ifname, mtu, c)
	}
	if err != nil {
		return err
	}
	// Without this an ETH_P_ALL socket also sees what siblings (our TX
	// socket, other workers) send on the interface.
	if err := setsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err == nil {
		p.features.IgnoreOutgoing = true
	} else {
		p.filterOut = true
		c.Logger.Info("afpacket: PACKET_IGNORE_OUTGOING unavailable, filtering outgoing frames in userspace", "interface", ifname, "err", err)
	}
	sa := unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(fd, &sa); err != nil {
		return fmt.Errorf("afpacket: bind RX socket to %q: %w", ifname, err)
	}
	if c.FanoutGroup != 0 {
		arg := fanoutArg(c, p.features.IgnoreOutgoing)
		if err := setsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, arg); err != nil {
			if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EALREADY) {
				return fmt.Errorf("afpacket: join fanout group %d on %q: %w (the group exists with another mode or device, or fanout is unsupported)", c.FanoutGroup, ifname, err)
			}
			return setupError(ifname, "PACKET_FANOUT", err)
		}
	}
	if err := p.openIdleWait(ifname); err != nil {
		c.Logger.Info("afpacket: idle RX waits stay raw ppolls", "interface", ifname, "err", err)
	}
	p.pollFDs = [2]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(p.eventFD), Events: unix.POLLIN}}
	p.pollMS = int(c.PollTimeout.Milliseconds())
	if p.pollMS < 1 {
		p.pollMS = 1
	}
	return nil
}

// ringV2 maps a V2 RX ring of NumBlocks blocks of BlockSize bytes (larger
// if one slot would not fit), slots sized for the MTU.
func (p *RingPort) ringV2(ifname string, mtu int, c *Config) error {
	if err := setsockoptInt(p.rxFD, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return setupError(ifname, "TPACKET_V2 RX (PACKET_VERSION)", err)
	}
	frame := rxFrameSize(mtu)
	page := os.Getpagesize()
	block := max(c.BlockSize, (frame+page-1)/page*page)
	p.rx = newSlotRing(block, c.NumBlocks, frame)
	req := p.rx.req()
	if err := unix.SetsockoptTpacketReq(p.rxFD, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return setupError(ifname, "TPACKET_V2 RX ring (PACKET_RX_RING)", err)
	}
	return p.mapRX(ifname, p.rx.size())
}

// mapRX maps the RX ring of size bytes.
func (p *RingPort) mapRX(ifname string, size uintptr) error {
	base, err := unix.MmapPtr(p.rxFD, 0, nil, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("afpacket: mmap RX ring of %d bytes on %q: %w", size, ifname, err)
	}
	p.rxBase, p.rxSize = base, size
	return nil
}

// u32 and u16 address ring memory; status words go through atomics so the
// compiler cannot hoist them out of a wait loop.
func u32(base unsafe.Pointer, off uintptr) *uint32 { return (*uint32)(unsafe.Add(base, off)) }
func u16(base unsafe.Pointer, off uintptr) uint16  { return *(*uint16)(unsafe.Add(base, off)) }

// Receive implements Conn. It fills frames from the RX ring with every
// frame that is ready; if none is, it polls once for up to
// Config.PollTimeout and takes what the wakeup brought.
func (p *RingPort) Receive(frames []Frame) (int, error) {
	if p.closed.Load() {
		return 0, ErrClosed
	}
	if p.rxBase == nil {
		return 0, errNoRX
	}
	n := p.fill(frames)
	if n == 0 {
		n = p.spin(frames)
	}
	if n == 0 {
		if err := p.wait(); err != nil {
			return 0, fmt.Errorf("afpacket: poll: %w", err)
		}
		if p.closed.Load() {
			return 0, ErrClosed
		}
		n = p.fill(frames)
		p.emptyWaits++
	}
	if n > 0 {
		now := time.Now()
		if !p.lastRx.IsZero() {
			p.rxGap += (now.Sub(p.lastRx) - p.rxGap) / 8
		}
		p.lastRx = now
		p.emptyWaits = 0
		p.stats.rxFrames.Add(uint64(n))
		p.stats.rxBatches.Add(1)
	}
	return n, nil
}

// spinGap is the mean time between batches under which an empty ring is
// watched for up to spinGap before the worker sleeps. A V2 ring wakes a
// sleeping reader for every frame, and at high rates that wakeup (an IPI
// and a context switch, ~20 us here) cost the CPU that delivers the frames
// a third of its throughput (docs/benchmarks.md); a worker whose frames
// come closer together than a wakeup costs is cheaper watching the ring,
// as NAPI polls a busy NIC. Below ~50k batches a second the average gap
// is longer than spinGap and every empty ring sleeps at once, so a quiet
// or moderately loaded director spends nothing on it.
const spinGap = 20 * time.Microsecond

// spin watches the ring for up to spinGap when batches have been coming
// faster than that, and returns what arrived.
func (p *RingPort) spin(frames []Frame) int {
	// V3 hands frames over a block at a time on its retire timer; its
	// reader has no per-frame wakeups to save.
	if p.rxVersion != 2 || p.lastRx.IsZero() || p.rxGap > spinGap {
		return 0
	}
	deadline := time.Now().Add(spinGap)
	for {
		if n := p.fill(frames); n > 0 {
			return n
		}
		if p.closed.Load() || time.Now().After(deadline) {
			p.rxGap += spinGap // a miss: back off towards sleeping
			return 0
		}
	}
}

// idleAfter is how many waits in a row that brought no frame make a port
// idle (see wait): 20-200 ms without traffic. A variable so that tests can
// keep a port on the raw wait.
var idleAfter = 2

// idleTimeouts is how many poll timeouts an idle port waits at a time.
const idleTimeouts = 10

// wait blocks until the RX socket or the close event is readable, or for
// pollMS. A port with traffic waits in a raw ppoll: the worker keeps its P
// while it waits (every worker has one of its own; see forward.Loop).
// Through the runtime's
// syscall path, a worker idling on a quiet interface sat "in a syscall"
// with a schedtick that never moves, so the runtime's sysmon retook its P
// every 10 ms, and every retake sent sysmon back to waking every 20 us:
// on a director pinned to one CPU, ~1,300 sysmon wakeups and ~1,400
// preemptions of the forwarding worker a second, against ~150 and ~460
// with the raw wait (docs/benchmarks.md). A raw syscall is still
// interruptible: the runtime's preemption signal (stop-the-world, sysmon)
// ends it with EINTR, reported as an ordinary wakeup.
//
// But the runtime takes a goroutine that never leaves a raw syscall for
// one that runs without end, and sysmon preempts it every 10 ms: on an idle
// director each worker woke a hundred times a second, and every
// preemption handed the locked goroutine from thread to thread: 3.4 % of a
// core for four workers, measured. An idle port (idleAfter empty waits)
// parks in the runtime's poller instead (idleWait).
//
// A V2 socket is readable when the slot before the kernel's next one is
// not the kernel's (packet_poll), so a reader that still holds frames it
// has read would not sleep: Release before waiting again, as the loop does.
func (p *RingPort) wait() error {
	if p.emptyWaits >= idleAfter && p.rxConn != nil {
		return p.idleWait()
	}
	// A fresh timeout each call: ppoll writes the time left back into it,
	// so a kept one would wear down to zero and the wait to a busy loop.
	ts := unix.NsecToTimespec(int64(p.pollMS) * int64(time.Millisecond))
	_, _, errno := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&p.pollFDs[0])), uintptr(len(p.pollFDs)),
		uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	if errno != 0 && errno != unix.EINTR {
		return errno
	}
	return nil
}

// idleWait parks the goroutine in the runtime's network poller until the
// RX socket is readable, the port is closed or idleTimeouts poll timeouts
// pass (a frame held back by a full send buffer got two flushes during the
// raw waits before; it gets one per idle wait from then on). A parked
// goroutine gives its P back at once and draws no preemption, so an idle
// director's workers wake only for their poll timeout. Waiting in a plain
// syscall instead was measured at 1.7 % of a core, nearly all of it
// sysmon's: it takes back the P of a goroutine 10 ms into a syscall and
// then wakes every 20 us for a while. The price is one more thread
// handoff for the first frame after a quiet spell (the poller's thread
// wakes the worker's locked one): tens of microseconds.
func (p *RingPort) idleWait() error {
	if err := p.rxFile.SetReadDeadline(time.Now().Add(idleTimeouts * time.Duration(p.pollMS) * time.Millisecond)); err != nil {
		if p.closed.Load() {
			return nil
		}
		return err
	}
	p.idleWaits++
	err := p.rxConn.Read(p.readyFn)
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) || p.closed.Load() {
		return nil
	}
	return err
}

// rxReady reports whether a Receive would find a frame (or must stop
// waiting): the poller's readiness test.
func (p *RingPort) rxReady(uintptr) bool {
	if p.closed.Load() {
		return true
	}
	if p.rxVersion == 3 {
		if p.left > 0 || p.held == p.numBlocks {
			return true
		}
		blk := unsafe.Add(p.rxBase, uintptr((p.relFrom+p.held)%p.numBlocks*p.blockSize))
		return atomic.LoadUint32(u32(blk, blkStatusOff))&unix.TP_STATUS_USER != 0
	}
	return p.rxHeld == p.rx.frames ||
		atomic.LoadUint32(u32(p.rxBase, p.rxNext.off+t2StatusOff))&unix.TP_STATUS_USER != 0
}

// openIdleWait registers a second descriptor of the RX socket with the
// runtime's poller, for idleWait. Without it (an error), idle ports keep
// the raw wait.
func (p *RingPort) openIdleWait(ifname string) error {
	dfd, err := unix.FcntlInt(uintptr(p.rxFD), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return err
	}
	// The flag is the socket's, shared with rxFD, which only ppoll uses.
	if err := unix.SetNonblock(dfd, true); err != nil {
		unix.Close(dfd)
		return err
	}
	f := os.NewFile(uintptr(dfd), "afpacket-rx-"+ifname)
	rc, err := f.SyscallConn()
	if err == nil {
		err = f.SetReadDeadline(time.Time{}) // fails unless the poller took it
	}
	if err != nil {
		f.Close()
		return err
	}
	p.rxFile, p.rxConn, p.readyFn = f, rc, p.rxReady
	return nil
}

func (p *RingPort) fill(frames []Frame) int {
	if p.rxVersion == 3 {
		return p.fillV3(frames)
	}
	return p.fillV2(frames)
}

// fillV2 copies the descriptors of the ready frames, in ring order, from
// rxNext on. It stops at the first slot the kernel still owns.
func (p *RingPort) fillV2(frames []Frame) int {
	n := 0
	for n < len(frames) && p.rxHeld < p.rx.frames {
		hdr := unsafe.Add(p.rxBase, p.rxNext.off)
		status := atomic.LoadUint32(u32(hdr, t2StatusOff))
		if status&unix.TP_STATUS_USER == 0 {
			break
		}
		p.rx.next(&p.rxNext)
		p.rxHeld++
		if p.filterOut && *(*uint8)(unsafe.Add(hdr, t2SllOff+sllPkttype)) == unix.PACKET_OUTGOING {
			if p.rxHeld == 1 {
				p.Release() // nothing else held: hand it back now
			}
			continue
		}
		mac := uintptr(u16(hdr, t2MacOff))
		snap := uintptr(*u32(hdr, t2SnaplenOff))
		// The kernel keeps a frame inside its slot; the clamp keeps a
		// corrupt header inside the mapping too.
		if mac+snap > uintptr(p.rx.frameSize) {
			mac, snap = 0, 0
		}
		f := &frames[n]
		f.Data = unsafe.Slice((*byte)(unsafe.Add(hdr, mac)), snap)
		f.Len = *u32(hdr, t2LenOff)
		f.Flags = Flags(status) & frameFlagsMask
		f.VLANTCI, f.VLANTPID = 0, 0
		if Flags(status)&FlagVLAN != 0 {
			f.VLANTCI = u16(hdr, t2VlanTCIOff)
			f.VLANTPID = 0x8100
			if Flags(status)&flagVLANTPIDValid != 0 {
				f.VLANTPID = u16(hdr, t2VlanTPID)
			}
		}
		n++
	}
	return n
}

// Release implements Conn: it hands every frame read so far back to the
// kernel (V2), or every fully read block (V3: a block with frames still
// unread stays held for the next Receive).
func (p *RingPort) Release() {
	if p.rxVersion == 3 {
		p.releaseV3()
		return
	}
	for ; p.rxHeld > 0; p.rxHeld-- {
		storeRelease(u32(p.rxBase, p.rxRel.off+t2StatusOff), unix.TP_STATUS_KERNEL)
		p.rx.next(&p.rxRel)
	}
}

// storeRelease hands a slot back to the kernel, which may reuse it at once
// from another CPU: the store must not become visible before this thread's
// reads of the frame. On a CPU that keeps loads ordered before later stores
// (x86's TSO) a plain store does that, and the compiler keeps it after
// every earlier load of ring memory; an atomic store would be an XCHG per
// frame that waits for the store buffer to drain. Elsewhere the atomic
// store is a store-release.
func storeRelease(addr *uint32, v uint32) {
	if tsoCPU {
		*addr = v
		return
	}
	atomic.StoreUint32(addr, v)
}

const tsoCPU = runtime.GOARCH == "amd64" || runtime.GOARCH == "386" || runtime.GOARCH == "s390x"

// readKernelStats folds in PACKET_STATISTICS, which reset on every read.
func (p *RingPort) readKernelStats() {
	if p.rxFD < 0 {
		return
	}
	p.statMu.Lock()
	defer p.statMu.Unlock()
	if p.rxVersion == 3 {
		st, err := unix.GetsockoptTpacketStatsV3(p.rxFD, unix.SOL_PACKET, unix.PACKET_STATISTICS)
		if err != nil {
			return // closed concurrently: the last read happened in Close
		}
		p.stats.kernelRx.Add(uint64(st.Packets))
		p.stats.ringDrops.Add(uint64(st.Drops))
		p.stats.ringFreezes.Add(uint64(st.Freeze_q_cnt))
		return
	}
	st, err := unix.GetsockoptTpacketStats(p.rxFD, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return
	}
	p.stats.kernelRx.Add(uint64(st.Packets))
	p.stats.ringDrops.Add(uint64(st.Drops))
}
