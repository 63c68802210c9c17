package netns

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/ulvs/ulvs/forward/header"
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
	msg := make([]byte, header.ICMPHeaderLen+16)
	copy(msg[header.ICMPHeaderLen:], "ulvs-netns-ping!")
	header.ICMPv4(msg).EncodeEcho(header.ICMPEcho, id, seq)

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
		r := header.ICMPv4(buf[:m])
		if r.IsValid() && r.Type() == header.ICMPEchoReply && src.Unmap() == dst && r.EchoID() == id && r.EchoSeq() == seq {
			return nil
		}
	}
}
