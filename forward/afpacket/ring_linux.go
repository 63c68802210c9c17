package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Offsets into the kernel's ring structures (include/uapi/linux/if_packet.h).
// x/sys exposes tpacket_block_desc's header as [40]byte, so the block
// fields are addressed by offset.
const (
	// struct tpacket_block_desc: version, offset_to_priv, then tpacket_hdr_v1.
	blkStatusOff   = 8  // block_status
	blkNumPktsOff  = 12 // num_pkts
	blkFirstPktOff = 16 // offset_to_first_pkt

	// struct tpacket3_hdr.
	t3NextOff    = 0
	t3SnaplenOff = 12
	t3LenOff     = 16
	t3StatusOff  = 20
	t3MacOff     = 24
	t3VlanTCIOff = 32
	t3VlanTPID   = 36
	t3SllOff     = 48 // TPACKET_ALIGN(sizeof(tpacket3_hdr)): struct sockaddr_ll follows
	sllPkttype   = 10 // sockaddr_ll.sll_pkttype

	// struct tpacket2_hdr.
	t2StatusOff  = 0
	t2LenOff     = 4
	t2SnaplenOff = 8
	t2MacOff     = 12
	t2VlanTCIOff = 24
	t2VlanTPID   = 26
	t2SllOff     = 32 // TPACKET_ALIGN(sizeof(tpacket2_hdr))

	sizeofSockaddrLL = 20
	ethHeaderLen     = 14
	vlanHeaderLen    = 4
)

// Features says which optional kernel features a RingPort got.
type Features struct {
	// IgnoreOutgoing: PACKET_IGNORE_OUTGOING (4.20). Without it Receive
	// filters PACKET_OUTGOING frames itself.
	IgnoreOutgoing bool
	// QdiscBypass: PACKET_QDISC_BYPASS on the TX socket (3.14).
	QdiscBypass bool
	// RxVersion and TxVersion are the RX and TX rings' TPACKET versions.
	RxVersion, TxVersion int
	// VnetHdr: PACKET_VNET_HDR on the TX socket, which the TX ring honours
	// from Linux 4.14 (vnetTxMinKernel): each frame asks the kernel to copy
	// it into the skb whole rather than attach it as ring pages.
	VnetHdr bool
}

// vnetHdrLen is sizeof(struct virtio_net_hdr), which TX frames carry.
// Without one, the kernel copies only a frame's link-layer header into the
// skb and attaches the rest as pages of the ring (zero copy). Every later
// reader of the IP and transport headers (the flow dissector in sendto,
// the bridge, netfilter) then copies them out of the pages again, and a
// veth into another namespace copies the pages whole into freshly
// allocated ones (skb_copy_ubufs). The header's hdr_len asks for the whole
// frame to be copied into the skb instead: measured on veth, 7-12 % more
// frames per second at 64 bytes and 13 % at 1514 (docs/benchmarks.md). A
// physical NIC could DMA the pages without any copy; Config.NoVnetHdr
// keeps that path.
const vnetHdrLen = 10

// vnetTxMinKernel is the first kernel whose TX ring reads the
// virtio_net_hdr (tpacket_snd; earlier kernels accept PACKET_VNET_HDR but
// would send the header as part of the frame). 4.14 leaves a margin.
var vnetTxMinKernel = [2]int{4, 14}

// kernelAtLeast reports whether the running kernel's release is at least
// v (major, minor); false when it cannot tell.
func kernelAtLeast(v [2]int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	got, ok := parseKernelRelease(unix.ByteSliceToString(u.Release[:]))
	return ok && (got[0] > v[0] || got[0] == v[0] && got[1] >= v[1])
}

// parseKernelRelease reads "6.18.44-fc-v669" as {6, 18}.
func parseKernelRelease(r string) ([2]int, bool) {
	major, rest, ok := strings.Cut(r, ".")
	if !ok {
		return [2]int{}, false
	}
	digits := 0
	for digits < len(rest) && rest[digits] >= '0' && rest[digits] <= '9' {
		digits++
	}
	a, errA := strconv.Atoi(major)
	b, errB := strconv.Atoi(rest[:digits])
	if errA != nil || errB != nil {
		return [2]int{}, false
	}
	return [2]int{a, b}, true
}

// RingPort is a Conn over an RX ring (TPACKET_V2 by default, V3 on
// request: Config.RxVersion) and a TPACKET_V2 or V3 TX ring on one
// interface. Its Receive, Release, TxSlot, Commit and Flush make no
// allocations; Flush is the only syscall on a busy path, once per batch.
// See Conn for the concurrency rules.
type RingPort struct {
	rxFD      int
	rxBase    unsafe.Pointer
	rxSize    uintptr
	rxVersion int
	filterOut bool // no PACKET_IGNORE_OUTGOING: drop PACKET_OUTGOING here
	pollFDs   [2]unix.PollFd
	pollMS    int
	// emptyWaits counts the waits in a row that brought no frame;
	// idleWaits, the idle waits since Open (for tests).
	emptyWaits, idleWaits int
	// lastRx is when Receive last returned frames, and rxGap the moving
	// average of the time between such returns (see spin).
	lastRx time.Time
	rxGap  time.Duration
	// rxFile is a second descriptor of the RX socket, in the runtime's
	// poller, for idleWait; rxConn its raw access, readyFn is rxReady.
	rxFile  *os.File
	rxConn  syscall.RawConn
	readyFn func(uintptr) bool

	// V2 RX: frames in order, each with its own status word. rxNext is the
	// next frame to read, rxRel the oldest one read but not yet released;
	// rxHeld frames from rxRel on are ours.
	rx     slotRing
	rxNext slotPos
	rxRel  slotPos
	rxHeld int

	// V3 RX: a ring of blocks, owned per block. Blocks relFrom..relFrom+held-1
	// (mod numBlocks) are ours; the last of them has left frames unread at
	// byte offset pktOff.
	blockSize int
	numBlocks int
	relFrom   int
	held      int
	left      uint32
	pktOff    uintptr

	// TX: fixed-size slots in order; txPos is the next slot to fill. The
	// kernel packs tx.perBlock whole slots into each block, so when the
	// slot size does not divide the block (DefaultFrameSize) a block ends
	// in a gap.
	txFD        int
	txBase      unsafe.Pointer
	txSize      uintptr
	tx          slotRing
	txPos       slotPos
	txStatusOff uintptr
	txLenOff    uintptr
	txDataOff   uintptr
	txMax       int  // largest frame: the slot or MTU + header + tag
	txVnet      bool // each slot starts with a virtio_net_hdr (PACKET_VNET_HDR)
	pending     uint64

	eventFD  int
	features Features
	closed   atomic.Bool
	stats    counters
	statMu   sync.Mutex // serialises PACKET_STATISTICS reads, which reset
}

// counters are written by the owner (once per batch) and read by Stats.
type counters struct {
	rxFrames, rxBatches, txFrames, txFlushes atomic.Uint64
	txRingFull, txBadLength, txErrors        atomic.Uint64
	ringDrops, ringFreezes, kernelRx         atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		RxFrames: c.rxFrames.Load(), RxBatches: c.rxBatches.Load(),
		TxFrames: c.txFrames.Load(), TxFlushes: c.txFlushes.Load(),
		TxRingFull: c.txRingFull.Load(), TxBadLength: c.txBadLength.Load(), TxErrors: c.txErrors.Load(),
		RingDrops: c.ringDrops.Load(), RingFreezes: c.ringFreezes.Load(), KernelRxTotal: c.kernelRx.Load(),
	}
}

// setupError wraps a failed setup step; notSupported marks errnos meaning
// the kernel lacks the feature.
func setupError(ifname, step string, err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) && (errno == unix.EINVAL || errno == unix.ENOPROTOOPT || errno == unix.EOPNOTSUPP) {
		return fmt.Errorf("afpacket: %s on %q: %w (%w): use io=plain", step, ifname, ErrNotSupported, err)
	}
	return fmt.Errorf("afpacket: %s on %q: %w", step, ifname, err)
}

var errNoRX = errors.New("afpacket: Receive on a port opened with NoRX")

// setsockoptInt is unix.SetsockoptInt; tests replace it to play a kernel
// without some feature.
var setsockoptInt = unix.SetsockoptInt

// htons converts the EtherType for sockaddr_ll, which x/sys copies verbatim.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Open opens a RingPort on interface ifname (in the calling thread's network
// namespace). It needs CAP_NET_RAW, plus CAP_NET_ADMIN for the TX socket's
// send buffer. Errors wrap ErrNotSupported when the kernel lacks the RX or
// TX ring version or fanout.
func Open(ifname string, cfg *Config) (*RingPort, error) {
	c := cfg.withDefaults()
	if err := c.validate(os.Getpagesize()); err != nil {
		return nil, err
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("afpacket: interface %q: %w", ifname, err)
	}
	p := &RingPort{rxFD: -1, txFD: -1, eventFD: -1}
	ok := false
	defer func() {
		if !ok {
			p.teardown()
		}
	}()
	p.eventFD, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("afpacket: eventfd: %w", err)
	}
	if !c.NoRX {
		if err := p.openRX(ifname, ifi.Index, ifi.MTU, &c); err != nil {
			return nil, err
		}
	}
	if !c.NoTX {
		if err := p.openTX(ifname, ifi.Index, ifi.MTU, &c); err != nil {
			return nil, err
		}
	}
	ok = true
	return p, nil
}

// openTX sets up the TX socket: bound with protocol 0, so it is never on
// the receive path, and with PACKET_LOSS so a malformed frame is skipped
// instead of stalling the ring.
func (p *RingPort) openTX(ifname string, ifindex, mtu int, c *Config) error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("afpacket: socket(AF_PACKET) for %q: %w (needs CAP_NET_RAW)", ifname, err)
	}
	p.txFD = fd
	version, hdrLen := unix.TPACKET_V2, uintptr(32) // TPACKET2_HDRLEN - sizeof(sockaddr_ll)
	p.txStatusOff, p.txLenOff = 0, t2LenOff
	if c.TxVersion == 3 {
		version, hdrLen = unix.TPACKET_V3, t3SllOff
		p.txStatusOff, p.txLenOff = t3StatusOff, t3LenOff
	}
	p.txDataOff = hdrLen
	p.features.TxVersion = c.TxVersion
	if err := setsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, version); err != nil {
		return setupError(ifname, fmt.Sprintf("TPACKET_V%d TX (PACKET_VERSION)", c.TxVersion), err)
	}
	if err := setsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_LOSS, 1); err != nil {
		return setupError(ifname, "PACKET_LOSS", err)
	}
	if !c.NoVnetHdr && kernelAtLeast(vnetTxMinKernel) {
		// Before the ring: the kernel refuses it once a ring is mapped.
		if err := setsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err == nil {
			p.txVnet = true
			p.features.VnetHdr = true
			p.txDataOff += vnetHdrLen
		} else {
			c.Logger.Info("afpacket: PACKET_VNET_HDR unavailable", "interface", ifname, "err", err)
		}
	}
	if !c.NoQdiscBypass {
		if err := setsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err == nil {
			p.features.QdiscBypass = true
		} else {
			c.Logger.Info("afpacket: PACKET_QDISC_BYPASS unavailable", "interface", ifname, "err", err)
		}
	}
	// TX-ring skbs are charged to the send buffer until freed; let the
	// whole ring be in flight.
	sndbuf := c.TxFrames * c.FrameSize
	if err := setsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sndbuf); err != nil {
		_ = setsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sndbuf) // capped by wmem_max
	}
	perBlock := c.BlockSize / c.FrameSize
	blocks := (c.TxFrames + perBlock - 1) / perBlock
	p.tx = newSlotRing(c.BlockSize, blocks, c.FrameSize)
	if c.TxVersion == 3 {
		req := unix.TpacketReq3{Block_size: uint32(c.BlockSize), Block_nr: uint32(blocks), Frame_size: uint32(c.FrameSize), Frame_nr: uint32(p.tx.frames)}
		err = unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req)
	} else {
		req := p.tx.req()
		err = unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req)
	}
	if err != nil {
		return setupError(ifname, fmt.Sprintf("TPACKET_V%d TX ring (PACKET_TX_RING)", c.TxVersion), err)
	}
	p.txSize = p.tx.size()
	p.txBase, err = unix.MmapPtr(fd, 0, nil, p.txSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		p.txBase = nil
		return fmt.Errorf("afpacket: mmap TX ring of %d bytes on %q: %w", p.txSize, ifname, err)
	}
	sa := unix.SockaddrLinklayer{Protocol: 0, Ifindex: ifindex}
	if err := unix.Bind(fd, &sa); err != nil {
		return fmt.Errorf("afpacket: bind TX socket to %q: %w", ifname, err)
	}
	p.txMax = c.FrameSize - int(p.txDataOff)
	if m := mtu + ethHeaderLen + vlanHeaderLen; m < p.txMax {
		p.txMax = m
	}
	return nil
}

// Features reports which optional kernel features the port uses.
func (p *RingPort) Features() Features { return p.features }

// TxSlot implements Conn. When the next slot is still owned by the kernel it
// kicks the pending frames out once and looks again before giving up.
func (p *RingPort) TxSlot() []byte {
	if p.txBase == nil || p.closed.Load() {
		return nil
	}
	slot := unsafe.Add(p.txBase, p.txPos.off)
	st := atomic.LoadUint32(u32(slot, p.txStatusOff))
	if st != unix.TP_STATUS_AVAILABLE && st&unix.TP_STATUS_WRONG_FORMAT == 0 {
		if p.pending > 0 {
			p.kick()
		}
		st = atomic.LoadUint32(u32(slot, p.txStatusOff))
	}
	if st&unix.TP_STATUS_WRONG_FORMAT != 0 {
		// Only without PACKET_LOSS; reset so the ring moves on.
		p.stats.txErrors.Add(1)
		atomic.StoreUint32(u32(slot, p.txStatusOff), unix.TP_STATUS_AVAILABLE)
		st = unix.TP_STATUS_AVAILABLE
	}
	if st != unix.TP_STATUS_AVAILABLE {
		p.stats.txRingFull.Add(1)
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Add(slot, p.txDataOff)), p.txMax)
}

// Commit implements Conn. It hands the slot over with a plain store: the
// kernel reads SEND_REQUEST slots only inside this port's own sendto (kick),
// on the owning thread, after this store in program order. An atomic store
// would be an XCHG on amd64, which stalls until the frame's stores into the
// ring, cache misses as a rule, have drained: tens of ns per frame.
func (p *RingPort) Commit(n int) {
	if n < ethHeaderLen || n > p.txMax {
		p.stats.txBadLength.Add(1)
		return
	}
	slot := unsafe.Add(p.txBase, p.txPos.off)
	if p.txVnet {
		// flags 0 and GSO_NONE: a plain frame; hdr_len, in the host's byte
		// order (a legacy virtio header), is the whole frame: copy it all.
		h := (*[vnetHdrLen]byte)(unsafe.Add(slot, p.txDataOff-vnetHdrLen))
		*h = [vnetHdrLen]byte{}
		binary.NativeEndian.PutUint16(h[2:], uint16(n))
		n += vnetHdrLen
	}
	*u32(slot, p.txLenOff) = uint32(n)
	*u32(slot, p.txStatusOff) = unix.TP_STATUS_SEND_REQUEST
	p.tx.next(&p.txPos)
	p.pending++
}

// kick asks the kernel to send every SEND_REQUEST slot without waiting for
// their completion (a blocking sendto would wait for all of them).
func (p *RingPort) kick() error {
	// A raw syscall: the non-blocking kick never sleeps, but over veth it
	// runs the receiver's whole stack (~250 µs per batch). Through
	// Syscall6 the runtime would hand the worker's P to another thread
	// meanwhile, which then competes with the worker for its core.
	_, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(p.txFD), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	switch errno {
	case 0:
		p.stats.txFrames.Add(p.pending)
		p.stats.txFlushes.Add(1)
		p.pending = 0
		return nil
	case unix.EAGAIN, unix.ENOBUFS:
		// The send buffer is full: the rest stay queued in the ring.
		// pending stays set so that the next Flush, even one with
		// nothing new committed, kicks them out.
		p.stats.txFlushes.Add(1)
		return nil
	}
	p.stats.txErrors.Add(1)
	return errno
}

// Flush implements Conn with one sendto(2).
func (p *RingPort) Flush() error {
	if p.pending == 0 {
		return nil
	}
	if p.closed.Load() {
		return ErrClosed
	}
	if err := p.kick(); err != nil {
		return fmt.Errorf("afpacket: flush TX ring: %w", err)
	}
	return nil
}

// Stats implements Conn, folding in the kernel's PACKET_STATISTICS (which
// reset on every read).
func (p *RingPort) Stats() Stats {
	if !p.closed.Load() {
		p.readKernelStats()
	}
	return p.stats.snapshot()
}

// Close implements Conn. The owning worker may still be between Receive and
// Release, or writing a TX slot, in another goroutine; so instead of
// unmapping, Close replaces both rings with anonymous zero pages at the same
// addresses (a zero status word reads as "kernel owns it"), and turns the
// socket descriptors into duplicates of the event descriptor, which closes
// the sockets while keeping their numbers from being reused under a running
// syscall. The placeholders are freed once the port is garbage.
func (p *RingPort) Close() error {
	if !p.closed.CompareAndSwap(false, true) {
		return nil
	}
	p.readKernelStats()
	var one = [8]byte{1}
	_, _ = unix.Write(p.eventFD, one[:])
	var firstErr error
	if p.rxFile != nil {
		// Wakes an idleWait; the socket stays open until that returns.
		_ = p.rxFile.Close()
	}
	for _, r := range []struct {
		base unsafe.Pointer
		size uintptr
	}{{p.rxBase, p.rxSize}, {p.txBase, p.txSize}} {
		if r.base == nil {
			continue
		}
		if _, err := unix.MmapPtr(-1, 0, r.base, r.size, unix.PROT_READ|unix.PROT_WRITE,
			unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("afpacket: close: replace ring mapping: %w", err)
		}
	}
	for _, fd := range []int{p.rxFD, p.txFD} {
		if fd >= 0 {
			if err := unix.Dup3(p.eventFD, fd, unix.O_CLOEXEC); err != nil && firstErr == nil {
				firstErr = fmt.Errorf("afpacket: close socket: %w", err)
			}
		}
	}
	res := ringResources{rxBase: p.rxBase, rxSize: p.rxSize, txBase: p.txBase, txSize: p.txSize,
		fds: [3]int{p.rxFD, p.txFD, p.eventFD}}
	runtime.AddCleanup(p, func(r ringResources) { r.free() }, res)
	return firstErr
}

// ringResources are what a closed port still holds: placeholder mappings
// and descriptor numbers.
type ringResources struct {
	rxBase, txBase unsafe.Pointer // mmap'ed, not Go memory
	rxSize, txSize uintptr
	fds            [3]int
}

func (r ringResources) free() {
	if r.rxBase != nil {
		_ = unix.MunmapPtr(r.rxBase, r.rxSize)
	}
	if r.txBase != nil {
		_ = unix.MunmapPtr(r.txBase, r.txSize)
	}
	for _, fd := range r.fds {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
	}
}

// teardown frees a port that never reached its owner (failed Open).
func (p *RingPort) teardown() {
	if p.rxBase != nil {
		_ = unix.MunmapPtr(p.rxBase, p.rxSize)
	}
	if p.txBase != nil {
		_ = unix.MunmapPtr(p.txBase, p.txSize)
	}
	if p.rxFile != nil {
		_ = p.rxFile.Close()
	}
	for _, fd := range []int{p.rxFD, p.txFD, p.eventFD} {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
	}
}
