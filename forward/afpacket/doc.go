// Package afpacket is the frame I/O of the packet loop: AF_PACKET sockets
// bound to one interface, read through a TPACKET_V2 RX ring (each frame as
// soon as the kernel has written it; batches form by themselves under load)
// and written through a TX ring that is flushed with one sendto per batch
// (see the kernel's Documentation/networking/packet_mmap.rst).
//
// A worker owns one [Conn] per interface. Conns of several workers on one
// interface join a PACKET_FANOUT group (hash mode), so one flow always lands
// on the same worker. Two implementations exist:
//
//   - [RingPort] (io=ring): mmap'ed rings, no syscall per frame, no
//     allocations on the RX/TX path.
//   - [PlainPort] (io=plain): one recvmsg/write per frame over
//     github.com/mdlayher/packet, for kernels without rings and for
//     debugging. About a third of the ring's throughput.
//
// # The loop's contract
//
// A batch is Receive, per frame TxSlot+Commit on the egress Conn, Release,
// then Flush:
//
//	n, err := in.Receive(frames)      // waits up to Config.PollTimeout (10x when idle)
//	if errors.Is(err, net.ErrClosed) { return }
//	for i := range frames[:n] {
//		buf := out.TxSlot()           // nil: TX ring full, already counted
//		if buf == nil { continue }
//		out.Commit(copy(buf, frames[i].Data))
//	}
//	in.Release()                      // frames[:n] are invalid from here
//	out.Flush()                       // one sendto for the whole batch
//
// A Conn is not safe for concurrent use, except Close and Stats, which any
// goroutine may call at any time. Run each worker on a locked OS thread
// (runtime.LockOSThread); the Conn itself does not require it, but the rings
// are tuned for one busy thread per socket.
//
// # What the kernel hands over
//
// Frame.Data is the frame as received, minus an 802.1Q tag that the kernel
// has already moved into Frame.VLANTCI (FlagVLAN set); [Frame.CopyTagged]
// puts it back for transmission. FlagCsumNotReady marks frames sent by a
// local socket with checksum offload: their L4 checksum field holds only the
// pseudo-header sum, and the loop must complete it before patching it
// incrementally or passing the frame on (ethtool -K <dev> tx off avoids it).
//
// The kernel also passes every frame to its own stack after the tap; see the
// ulvs architecture notes, "The kernel still sees every frame".
package afpacket
