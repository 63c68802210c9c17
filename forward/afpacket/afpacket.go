package afpacket

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Conn is the seam between the packet loop and frame I/O: batches of
// received frames in, frames for transmission out. Implemented by
// [RingPort] and [PlainPort].
//
// Not safe for concurrent use: one worker goroutine owns a Conn. Close and
// Stats may be called from any goroutine.
type Conn interface {
	// Receive fills frames[:n] with received frames and returns n. When no
	// frame is ready it waits up to Config.PollTimeout and may return 0, nil;
	// a RingPort idle for two such waits waits up to ten times as long.
	// After Close it returns net.ErrClosed. Frames stay valid until Release.
	Receive(frames []Frame) (n int, err error)

	// Release hands the frames of every previous Receive back to the kernel.
	// Their Data slices must not be used afterwards.
	Release()

	// TxSlot returns a buffer for the next frame to transmit, with room for
	// the largest frame the Conn accepts. Write the frame from index 0, then
	// call Commit. It returns nil when the TX ring is full; the Conn has then
	// counted the frame in Stats.TxRingFull and the caller drops it.
	TxSlot() []byte

	// Commit queues the first n bytes of the buffer from the last TxSlot.
	// Frames shorter than an Ethernet header or longer than the interface
	// MTU allows are dropped and counted in Stats.TxBadLength.
	Commit(n int)

	// Flush transmits every committed frame, with one syscall on a ring.
	// A full socket send buffer is not an error: the frames stay queued and
	// leave with the next Flush, so callers flush again when idle (a Flush
	// with nothing queued costs no syscall).
	Flush() error

	// Stats returns the counters since Open. Safe from any goroutine.
	Stats() Stats

	// Close releases the sockets and wakes a Receive blocked in another
	// goroutine, which then returns net.ErrClosed. Safe from any goroutine
	// and idempotent.
	Close() error
}

// Compile-time checks that both ports implement the seam.
var (
	_ Conn = (*RingPort)(nil)
	_ Conn = (*PlainPort)(nil)
)

// Flags describe a received frame. The values are the kernel's TP_STATUS_*
// bits, so a ring header's status converts with one mask.
type Flags uint32

const (
	// FlagCsumNotReady (TP_STATUS_CSUMNOTREADY) marks a frame from a local
	// socket whose L4 checksum is partial (checksum offload): the field holds
	// the pseudo-header sum only. Complete it before forwarding.
	FlagCsumNotReady Flags = 0x8
	// FlagVLAN (TP_STATUS_VLAN_VALID): the kernel removed an 802.1Q/802.1ad
	// tag; its TCI is in Frame.VLANTCI and its TPID in Frame.VLANTPID.
	FlagVLAN Flags = 0x10
	// FlagCsumValid (TP_STATUS_CSUM_VALID): the L4 checksum was verified by
	// the receiving device.
	FlagCsumValid Flags = 0x80

	flagVLANTPIDValid Flags = 0x40 // TP_STATUS_VLAN_TPID_VALID, folded into VLANTPID
	frameFlagsMask          = FlagCsumNotReady | FlagVLAN | FlagCsumValid
)

// Frame is one received frame.
type Frame struct {
	// Data is the frame from the destination MAC on, pointing into the
	// ring (or the plain port's buffer). Valid until Release; the loop may
	// rewrite it in place before copying it to a TX slot.
	Data []byte
	// Len is the frame's length on the wire; larger than len(Data) only if
	// the frame was truncated to the ring's capacity.
	Len uint32
	// Flags holds FlagVLAN, FlagCsumNotReady and FlagCsumValid.
	Flags Flags
	// VLANTCI is the stripped 802.1Q tag control information if FlagVLAN.
	VLANTCI uint16
	// VLANTPID is the stripped tag's TPID (0x8100 or 0x88a8) if FlagVLAN.
	VLANTPID uint16
}

// CopyTagged copies the frame into dst with its stripped VLAN tag
// re-inserted after the MAC addresses (dst[12:16] = TPID, TCI), and returns
// the number of bytes written; without FlagVLAN it is a plain copy. It
// returns 0 if dst is too small or the frame shorter than two MACs.
func (f *Frame) CopyTagged(dst []byte) int {
	if f.Flags&FlagVLAN == 0 {
		if len(dst) < len(f.Data) {
			return 0
		}
		return copy(dst, f.Data)
	}
	n := len(f.Data) + 4
	if len(f.Data) < 12 || len(dst) < n {
		return 0
	}
	copy(dst[:12], f.Data[:12])
	tpid := f.VLANTPID
	if tpid == 0 {
		tpid = 0x8100
	}
	dst[12], dst[13] = byte(tpid>>8), byte(tpid)
	dst[14], dst[15] = byte(f.VLANTCI>>8), byte(f.VLANTCI)
	copy(dst[16:n], f.Data[12:])
	return n
}

// Stats are a Conn's counters. Drops are split by reason.
type Stats struct {
	RxFrames  uint64 // frames returned by Receive
	RxBatches uint64 // Receive calls that returned frames
	TxFrames  uint64 // frames handed to the kernel by Flush
	TxFlushes uint64 // Flush calls that had frames to send

	TxRingFull    uint64 // frames dropped: no free TX slot
	TxBadLength   uint64 // frames dropped: shorter than 14 bytes or over MTU
	TxErrors      uint64 // frames the plain port's write refused, or failed flushes
	RingDrops     uint64 // frames the kernel dropped: RX ring or socket queue full (PACKET_STATISTICS tp_drops)
	RingFreezes   uint64 // times a V3 RX ring froze for lack of a free block (tp_freeze_q_cnt); 0 with V2
	KernelRxTotal uint64 // frames the socket saw, including RingDrops (tp_packets)
}

// Mode picks the Conn implementation: the io= setting.
type Mode int

const (
	// ModeAuto opens a ring and falls back to the plain port when the kernel
	// lacks a ring feature (ErrNotSupported).
	ModeAuto Mode = iota
	// ModeRing insists on RX/TX rings.
	ModeRing
	// ModePlain uses one syscall per frame.
	ModePlain
)

// ParseMode parses the io= setting: "auto", "ring" or "plain".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "auto", "":
		return ModeAuto, nil
	case "ring":
		return ModeRing, nil
	case "plain":
		return ModePlain, nil
	}
	return 0, fmt.Errorf("afpacket: unknown io mode %q: use auto, ring or plain", s)
}

// String returns the io= spelling of the mode.
func (m Mode) String() string {
	switch m {
	case ModeRing:
		return "ring"
	case ModePlain:
		return "plain"
	}
	return "auto"
}

// ErrNotSupported is wrapped by Open when the kernel lacks a feature the
// ring needs (the message names it). Use io=plain, or let ModeAuto fall
// back.
var ErrNotSupported = errors.New("not supported by this kernel")

// ErrClosed is returned by a Conn's methods after Close; it is net.ErrClosed
// so that loops can test for either.
var ErrClosed = net.ErrClosed

// Defaults used for zero Config fields.
const (
	DefaultBlockSize    = 128 << 10 // one RX block: 81 V2 slots at MTU 1500, ~900 minimum-size V3 frames
	DefaultNumBlocks    = 64        // 8 MiB of RX ring per socket
	DefaultBlockTimeout = time.Millisecond
	// DefaultRxVersion is the RX ring's TPACKET version: V2 hands every
	// frame over as it arrives (see RingPort).
	DefaultRxVersion = 2
	// DefaultFrameSize is the TX slot: a 1500-byte MTU frame plus tag and
	// header, and one cache line more than 2 KiB on purpose: slots a power
	// of two apart start on the same few cache sets, so the ring's slot
	// headers evicted each other from L1 and L2 and every frame's status
	// read and stores missed; 33 lines apart they spread over all sets.
	DefaultFrameSize = 2048 + 64
	// DefaultTxFrames is the TX ring's size: four full batches. On veth the
	// kernel frees a slot inside the sendto that sends it, and a ring of
	// 4096 slots was measured 2-4 % slower than this one for every
	// forwarder, since its slots no longer stayed in the CPU's caches; a
	// NIC that completes sends late may want more (ulvs: tx_ring_frames).
	DefaultTxFrames    = 1024
	DefaultPollTimeout = 100 * time.Millisecond
	DefaultPlainBatch  = 64
	DefaultTxVersion   = 2
)

// Config tunes a Conn. The zero value (or nil) means defaults.
type Config struct {
	// FanoutGroup, if non-zero, joins the socket to this PACKET_FANOUT group
	// in hash mode; give every worker's Conn on one interface the same id.
	// Ids are per network namespace.
	FanoutGroup uint16
	// FanoutDefrag sets PACKET_FANOUT_FLAG_DEFRAG: the kernel reassembles IP
	// fragments before hashing and delivers the whole datagram. Off by
	// default: without it the kernel's flow hash of a fragment covers the
	// addresses only, so all fragments of one datagram already reach one
	// socket, and frames stay within the MTU the TX ring accepts.
	FanoutDefrag bool

	// RxVersion is the RX ring's TPACKET version: 2 (the default) hands
	// each frame over as soon as the kernel has written it; 3 packs frames
	// into blocks and hands a block over when it is full or after
	// BlockTimeout, which every frame then waits for at low rates.
	RxVersion int
	// BlockSize is the RX ring block size in bytes (a multiple of the page
	// size). A V2 block holds whole slots sized for the interface's MTU
	// (and grows to hold one if needed); a V3 block, frames back to back.
	BlockSize int
	// NumBlocks is the number of RX ring blocks.
	NumBlocks int
	// BlockTimeout is the V3 block retire timeout: the latency a V3 ring
	// adds at low rates. Rounded to milliseconds, at least 1 ms.
	BlockTimeout time.Duration
	// FrameSize is the TX slot size in bytes (a multiple of 16, at least
	// 256 and at most BlockSize; the kernel packs whole slots into each
	// block); it
	// bounds the largest frame, and the plain port's buffer size.
	FrameSize int
	// TxFrames is the number of TX ring slots.
	TxFrames int
	// TxVersion is the TX ring's TPACKET version, 2 or 3.
	TxVersion int
	// NoQdiscBypass keeps frames going through the interface's qdisc
	// (PACKET_QDISC_BYPASS is set by default). Bypassed frames also skip
	// the interface's packet taps: tcpdump on the egress interface does not
	// see them. Set this while debugging with tcpdump.
	NoQdiscBypass bool
	// NoRX and NoTX skip the RX or TX side (a generator or a sink).
	NoRX, NoTX bool
	// NoVnetHdr leaves PACKET_VNET_HDR off on TX sockets: every frame then
	// goes out as ring pages (zero copy) after its link-layer header, which
	// costs more on veth (see Features.VnetHdr) and may cost less on a
	// physical NIC.
	NoVnetHdr bool

	// PollTimeout bounds how long Receive waits for a frame (ten times as
	// long on a RingPort that has been idle for two waits).
	PollTimeout time.Duration
	// PlainBatch is the plain port's maximum frames per Receive and per
	// Flush.
	PlainBatch int

	// Logger receives setup events such as a fallback. Nil discards.
	Logger *slog.Logger
}

// withDefaults returns a copy of c with zero fields set to defaults.
func (c *Config) withDefaults() Config {
	var d Config
	if c != nil {
		d = *c
	}
	if d.BlockSize <= 0 {
		d.BlockSize = DefaultBlockSize
	}
	if d.NumBlocks <= 0 {
		d.NumBlocks = DefaultNumBlocks
	}
	if d.BlockTimeout <= 0 {
		d.BlockTimeout = DefaultBlockTimeout
	}
	if d.FrameSize <= 0 {
		d.FrameSize = DefaultFrameSize
	}
	if d.TxFrames <= 0 {
		d.TxFrames = DefaultTxFrames
	}
	if d.TxVersion == 0 {
		d.TxVersion = DefaultTxVersion
	}
	if d.RxVersion == 0 {
		d.RxVersion = DefaultRxVersion
	}
	if d.PollTimeout <= 0 {
		d.PollTimeout = DefaultPollTimeout
	}
	if d.PlainBatch <= 0 {
		d.PlainBatch = DefaultPlainBatch
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return d
}

// tpacketAlignment is TPACKET_ALIGNMENT: ring frames start at multiples of it.
const tpacketAlignment = 16

// validate reports settings the kernel would reject with a bare EINVAL.
func (c *Config) validate(pageSize int) error {
	switch {
	case c.BlockSize%pageSize != 0:
		return fmt.Errorf("afpacket: BlockSize %d is not a multiple of the page size %d", c.BlockSize, pageSize)
	case c.FrameSize < 256 || c.FrameSize%tpacketAlignment != 0:
		return fmt.Errorf("afpacket: FrameSize %d must be a multiple of %d and at least 256", c.FrameSize, tpacketAlignment)
	case c.FrameSize > c.BlockSize:
		return fmt.Errorf("afpacket: FrameSize %d is larger than BlockSize %d", c.FrameSize, c.BlockSize)
	case c.TxVersion != 2 && c.TxVersion != 3:
		return fmt.Errorf("afpacket: TxVersion %d: use 2 or 3", c.TxVersion)
	case c.RxVersion != 2 && c.RxVersion != 3:
		return fmt.Errorf("afpacket: RxVersion %d: use 2 or 3", c.RxVersion)
	case c.NoRX && c.NoTX:
		return errors.New("afpacket: NoRX and NoTX both set: the Conn would do nothing")
	}
	return nil
}

// OpenConn opens the Conn that mode selects on interface ifname. ModeAuto
// tries a ring and falls back to the plain port if the kernel lacks a ring
// feature, logging why.
func OpenConn(ifname string, mode Mode, cfg *Config) (Conn, error) {
	switch mode {
	case ModeRing:
		return Open(ifname, cfg)
	case ModePlain:
		return OpenPlain(ifname, cfg)
	}
	p, err := Open(ifname, cfg)
	if err == nil {
		return p, nil
	}
	if !errors.Is(err, ErrNotSupported) {
		return nil, err
	}
	c := cfg.withDefaults()
	c.Logger.Warn("afpacket: falling back to the plain port", "interface", ifname, "reason", err)
	return OpenPlain(ifname, cfg)
}

// Interface reports the hardware address and MTU of interface ifname in the
// calling thread's network namespace.
func Interface(ifname string) (mac [6]byte, mtu int, err error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return mac, 0, fmt.Errorf("afpacket: interface %q: %w", ifname, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return mac, 0, fmt.Errorf("afpacket: interface %q has no Ethernet address (%d bytes)", ifname, len(ifi.HardwareAddr))
	}
	copy(mac[:], ifi.HardwareAddr)
	return mac, ifi.MTU, nil
}

// fanoutArg is the PACKET_FANOUT argument for c: hash mode, defragmentation
// if asked, and PACKET_FANOUT_FLAG_IGNORE_OUTGOING when the kernel supports
// ignoring outgoing frames. A fanout group receives through its own hook,
// which the per-socket PACKET_IGNORE_OUTGOING does not reach: without the
// group flag every worker would see what the director itself sends.
func fanoutArg(c *Config, ignoreOutgoing bool) int {
	flags := packetFanoutHash
	if c.FanoutDefrag {
		flags |= packetFanoutFlagDefrag
	}
	if ignoreOutgoing {
		flags |= packetFanoutFlagIgnoreOutgoing
	}
	return int(c.FanoutGroup) | flags<<16
}

// The PACKET_FANOUT mode and flags (linux/if_packet.h), here so that the
// portable file needs no x/sys/unix.
const (
	packetFanoutHash               = 0x0
	packetFanoutFlagDefrag         = 0x8000
	packetFanoutFlagIgnoreOutgoing = 0x4000
)
