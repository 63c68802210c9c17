package afpacket

import "errors"

// Relay is the null forwarder: it moves every frame received on src to
// dst's TX unchanged (re-inserting a stripped VLAN tag), one Flush per
// batch, until src is closed; then it returns nil. frames sets the batch
// size. Frames that do not fit dst's TX ring are counted by dst and dropped.
// Checksums are not touched, so frames marked FlagCsumNotReady leave with
// their partial checksum: Relay measures I/O, it is not a correct forwarder.
//
// Relay runs in the calling goroutine; lock it to an OS thread for
// benchmarks.
func Relay(src, dst Conn, frames []Frame) error {
	for {
		n, err := src.Receive(frames)
		if err != nil {
			if errors.Is(err, ErrClosed) {
				return nil
			}
			return err
		}
		for i := range frames[:n] {
			buf := dst.TxSlot()
			if buf == nil {
				continue
			}
			dst.Commit(frames[i].CopyTagged(buf))
		}
		src.Release()
		if err := dst.Flush(); err != nil {
			if errors.Is(err, ErrClosed) {
				return nil
			}
			return err
		}
	}
}
