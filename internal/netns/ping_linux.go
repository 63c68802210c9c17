package netns

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"
)

// Ping sends one ICMP echo request from inside the namespace to dst and
// waits up to timeout for the matching reply. The host needs no ping binary.
func (n *NS) Ping(dst netip.Addr, timeout time.Duration) error {
	var conn net.PacketConn
	err := n.Do(func() error {
		var err error
		conn, err = net.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	})
	if err != nil {
		return fmt.Errorf("netns %s: icmp socket: %w", n.Name, err)
	}
	defer conn.Close()

	id := uint16(os.Getpid())
	seq := uint16(time.Now().UnixNano())
	msg := make([]byte, 8+16)
	msg[0] = 8 // echo request
	binary.BigEndian.PutUint16(msg[4:], id)
	binary.BigEndian.PutUint16(msg[6:], seq)
	copy(msg[8:], "ulvs-netns-ping!")
	binary.BigEndian.PutUint16(msg[2:], icmpChecksum(msg))

	deadline := time.Now().Add(timeout)
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	if _, err := conn.WriteTo(msg, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		return fmt.Errorf("netns %s: ping %v: %w", n.Name, dst, err)
	}
	buf := make([]byte, 1500)
	for {
		m, from, err := conn.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("netns %s: ping %v: no reply within %v: %w", n.Name, dst, timeout, err)
		}
		src, _ := netip.AddrFromSlice(from.(*net.IPAddr).IP)
		if m >= 8 && buf[0] == 0 && src.Unmap() == dst &&
			binary.BigEndian.Uint16(buf[4:]) == id && binary.BigEndian.Uint16(buf[6:]) == seq {
			return nil
		}
	}
}

func icmpChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
