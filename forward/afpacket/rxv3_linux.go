package afpacket

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The TPACKET_V3 RX ring (Config.RxVersion 3): blocks of frames packed
// back to back, handed over a block at a time. Kept for comparison
// (TestRelayThroughput, TestLoneDatagramLatency) and for capture-like uses
// that prefer fewer wakeups to latency.

// ringV3 maps a V3 RX ring of NumBlocks blocks of BlockSize bytes, retired
// after BlockTimeout.
func (p *RingPort) ringV3(ifname string, c *Config) error {
	if err := setsockoptInt(p.rxFD, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return setupError(ifname, "TPACKET_V3 RX (PACKET_VERSION)", err)
	}
	tovMS := int(c.BlockTimeout.Milliseconds())
	if tovMS < 1 {
		tovMS = 1
	}
	req := unix.TpacketReq3{
		Block_size:     uint32(c.BlockSize),
		Block_nr:       uint32(c.NumBlocks),
		Frame_size:     uint32(c.FrameSize),
		Frame_nr:       uint32(c.BlockSize / c.FrameSize * c.NumBlocks), // unused by V3, but checked
		Retire_blk_tov: uint32(tovMS),
	}
	if err := unix.SetsockoptTpacketReq3(p.rxFD, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return setupError(ifname, "TPACKET_V3 RX ring (PACKET_RX_RING)", err)
	}
	p.blockSize, p.numBlocks = c.BlockSize, c.NumBlocks
	return p.mapRX(ifname, uintptr(c.BlockSize)*uintptr(c.NumBlocks))
}

// fillV3 copies frame descriptors out of the held and newly ready blocks.
func (p *RingPort) fillV3(frames []Frame) int {
	n := 0
	for n < len(frames) {
		if p.left == 0 {
			if p.held == p.numBlocks {
				break
			}
			b := (p.relFrom + p.held) % p.numBlocks
			blk := unsafe.Add(p.rxBase, uintptr(b*p.blockSize))
			if atomic.LoadUint32(u32(blk, blkStatusOff))&unix.TP_STATUS_USER == 0 {
				break
			}
			p.held++
			p.left = *u32(blk, blkNumPktsOff)
			p.pktOff = uintptr(b*p.blockSize) + uintptr(*u32(blk, blkFirstPktOff))
			continue
		}
		hdr := unsafe.Add(p.rxBase, p.pktOff)
		p.left--
		if p.left > 0 {
			p.pktOff += uintptr(*u32(hdr, t3NextOff))
		}
		if p.filterOut && *(*uint8)(unsafe.Add(hdr, t3SllOff+sllPkttype)) == unix.PACKET_OUTGOING {
			continue
		}
		mac := uintptr(u16(hdr, t3MacOff))
		snap := uintptr(*u32(hdr, t3SnaplenOff))
		// The kernel keeps a frame inside its block; the clamp keeps a
		// corrupt or zeroed header (after Close) inside the mapping too.
		if room := p.rxSize - (uintptr(hdr) - uintptr(p.rxBase)); mac+snap > room {
			mac, snap = 0, 0
		}
		status := Flags(*u32(hdr, t3StatusOff))
		f := &frames[n]
		f.Data = unsafe.Slice((*byte)(unsafe.Add(hdr, mac)), snap)
		f.Len = *u32(hdr, t3LenOff)
		f.Flags = status & frameFlagsMask
		f.VLANTCI, f.VLANTPID = 0, 0
		if status&FlagVLAN != 0 {
			f.VLANTCI = uint16(*u32(hdr, t3VlanTCIOff))
			f.VLANTPID = 0x8100
			if status&flagVLANTPIDValid != 0 {
				f.VLANTPID = u16(hdr, t3VlanTPID)
			}
		}
		n++
	}
	return n
}

// releaseV3 returns every fully read block to the kernel.
// A block with frames still unread stays held for the next Receive.
func (p *RingPort) releaseV3() {
	done := p.held
	if p.left > 0 {
		done--
	}
	for ; done > 0; done-- {
		blk := unsafe.Add(p.rxBase, uintptr(p.relFrom*p.blockSize))
		atomic.StoreUint32(u32(blk, blkStatusOff), unix.TP_STATUS_KERNEL)
		p.relFrom = (p.relFrom + 1) % p.numBlocks
		p.held--
	}
}
