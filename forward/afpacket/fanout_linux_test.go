package afpacket

import (
	"encoding/binary"
	"testing"
	"time"
)

// fragments splits one UDP datagram (8-byte header + payload bytes) from
// srcIP into IPv4 fragments carrying 8*chunk bytes of IP payload each.
func fragments(dst, src [6]byte, srcIP, dstIP [4]byte, id uint16, payload, chunk int) [][]byte {
	l4 := make([]byte, 8+payload)
	binary.BigEndian.PutUint16(l4[0:2], 5000)
	binary.BigEndian.PutUint16(l4[2:4], 7)
	binary.BigEndian.PutUint16(l4[4:6], uint16(len(l4)))
	var out [][]byte
	for off := 0; off < len(l4); off += 8 * chunk {
		end := min(off+8*chunk, len(l4))
		b := make([]byte, 14+20+end-off)
		copy(b[0:6], dst[:])
		copy(b[6:12], src[:])
		binary.BigEndian.PutUint16(b[12:14], 0x0800)
		ip := b[14:34]
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:4], uint16(20+end-off))
		binary.BigEndian.PutUint16(ip[4:6], id)
		frag := uint16(off / 8)
		if end < len(l4) {
			frag |= 0x2000 // more fragments
		}
		binary.BigEndian.PutUint16(ip[6:8], frag)
		ip[8], ip[9] = 64, 17
		copy(ip[12:16], srcIP[:])
		copy(ip[16:20], dstIP[:])
		binary.BigEndian.PutUint16(ip[10:12], ^fold(sum16(ip, 0)))
		copy(b[34:], l4[off:end])
		out = append(out, b)
	}
	return out
}

// TestFanoutFragments backs the FanoutDefrag documentation: without the
// flag every fragment of a datagram reaches the same socket; with it the
// sockets receive each datagram reassembled, as one frame.
func TestFanoutFragments(t *testing.T) {
	for _, defrag := range []bool{false, true} {
		name := map[bool]string{false: "no-defrag", true: "defrag"}[defrag]
		t.Run(name, func(t *testing.T) {
			p := newPair(t)
			const group = 4243
			cfg := &Config{NoTX: true, FanoutGroup: group, FanoutDefrag: defrag, PollTimeout: 10 * time.Millisecond}
			rx := []*RingPort{openRing(t, p.ns2, "b0", cfg), openRing(t, p.ns2, "b0", cfg)}
			tx := openRing(t, p.ns1, "a0", &Config{NoRX: true})
			const datagrams, payload = 64, 392 // 400-byte UDP datagram in 3 fragments of ≤ 160 bytes
			var frames [][]byte
			for d := range datagrams {
				src := [4]byte{10, 3, byte(d >> 8), byte(d)}
				frames = append(frames, fragments(p.macB, p.macA, src, [4]byte{10, 4, 0, 1}, uint16(100+d), payload, 20)...)
			}
			send(t, tx, frames)

			type seen struct{ sockets, frames, bytes int }
			per := map[[4]byte]*seen{}
			owner := map[[4]byte]int{}
			total, want := 0, len(frames)
			if defrag {
				want = datagrams
			}
			buf := make([]Frame, 256)
			deadline := time.Now().Add(5 * time.Second)
			for total < want && time.Now().Before(deadline) {
				for s, c := range rx {
					n, err := c.Receive(buf)
					if err != nil {
						t.Fatal(err)
					}
					for _, f := range buf[:n] {
						if len(f.Data) < 34 || binary.BigEndian.Uint16(f.Data[12:14]) != 0x0800 || f.Data[23] != 17 {
							continue
						}
						var src [4]byte
						copy(src[:], f.Data[26:30])
						if per[src] == nil {
							per[src] = &seen{}
						}
						if prev, ok := owner[src]; ok && prev != s {
							t.Fatalf("datagram from %v reached sockets %d and %d", src, prev, s)
						}
						owner[src] = s
						per[src].frames++
						per[src].bytes += len(f.Data) - 34
						total++
					}
					c.Release()
				}
			}
			if total != want {
				t.Fatalf("received %d frames, want %d", total, want)
			}
			used := map[int]bool{}
			for src, s := range per {
				used[owner[src]] = true
				if defrag && (s.frames != 1 || s.bytes != 8+payload) {
					t.Fatalf("datagram from %v: %d frames, %d bytes; want one reassembled frame of %d", src, s.frames, s.bytes, 8+payload)
				}
			}
			if len(used) != 2 {
				t.Fatalf("datagrams reached %d socket(s), want both", len(used))
			}
		})
	}
}
