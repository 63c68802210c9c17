package afpacket

import "golang.org/x/sys/unix"

// slotRing is the layout of a ring of fixed-size frame slots: the TX ring,
// and the RX ring in TPACKET_V2. The kernel packs perBlock whole slots at
// the start of each block and finds slot i at block i/perBlock, offset
// (i%perBlock)*frameSize (packet_lookup_frame); a block whose size the slot
// size does not divide ends in a gap.
type slotRing struct {
	frameSize, perBlock, blockSize, blocks, frames int
}

// slotPos is a position in a slotRing: slot idx, the inBlock'th of its
// block, at byte offset off from the ring's start.
type slotPos struct {
	idx, inBlock int
	off          uintptr
}

func newSlotRing(blockSize, blocks, frameSize int) slotRing {
	per := blockSize / frameSize
	return slotRing{frameSize: frameSize, perBlock: per, blockSize: blockSize, blocks: blocks, frames: per * blocks}
}

// req is the ring's PACKET_RX_RING or PACKET_TX_RING request (V1/V2).
func (r *slotRing) req() unix.TpacketReq {
	return unix.TpacketReq{Block_size: uint32(r.blockSize), Block_nr: uint32(r.blocks),
		Frame_size: uint32(r.frameSize), Frame_nr: uint32(r.frames)}
}

// size is the ring's length in bytes, as mapped.
func (r *slotRing) size() uintptr { return uintptr(r.blockSize) * uintptr(r.blocks) }

// next moves p to the following slot, wrapping at the end of the ring.
func (r *slotRing) next(p *slotPos) {
	p.idx++
	p.inBlock++
	p.off += uintptr(r.frameSize)
	if p.inBlock == r.perBlock {
		p.inBlock = 0
		p.off = uintptr(p.idx/r.perBlock) * uintptr(r.blockSize)
	}
	if p.idx == r.frames {
		*p = slotPos{}
	}
}
