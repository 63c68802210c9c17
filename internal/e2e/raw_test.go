package e2e

import (
	"encoding/binary"
	"net"

	"golang.org/x/sys/unix"

	"github.com/ulvs/ulvs/forward/header"
	"github.com/ulvs/ulvs/internal/netns"
)

// malformedFrames returns one frame per kind of damage, each aimed at the
// director's front MAC and the VIP's upload port.
func malformedFrames(tp *topo) [][]byte {
	dst := tp.lvs.Front.MAC
	src := tp.lvs.Client.Dev.MAC
	cip := tp.lvs.Client.Dev.Addr.Addr().As4()
	vip := tp.lvs.VIP.As4()
	base := func(sport uint16, opts []byte) []byte {
		return tcpSYN(dst, src, cip, vip, sport, portUpload, opts)
	}
	var out [][]byte
	// Truncated TCP header: total length covers only 10 bytes of it.
	f := base(40001, nil)
	ip := f[14:]
	binary.BigEndian.PutUint16(ip[2:], 30)
	fixIPChecksum(ip)
	out = append(out, f[:14+30])
	// IHL 4.
	f = base(40002, nil)
	f[14] = 0x44
	fixIPChecksum(f[14:])
	out = append(out, f)
	// Bad header checksum.
	f = base(40003, nil)
	f[14+10] ^= 0xff
	out = append(out, f)
	// Total length beyond the frame.
	f = base(40004, nil)
	binary.BigEndian.PutUint16(f[14+2:], 1400)
	fixIPChecksum(f[14:])
	out = append(out, f)
	// A first fragment (MF set).
	f = base(40005, nil)
	f[14+6] |= 0x20
	fixIPChecksum(f[14:])
	out = append(out, f)
	// TTL 1.
	f = base(40006, nil)
	f[14+8] = 1
	fixIPChecksum(f[14:])
	out = append(out, f)
	// Valid options (NOPs then end of list): forwarded, not dropped.
	out = append(out, base(40007, []byte{1, 1, 1, 0}))
	return out
}

// tcpSYN builds an Ethernet/IPv4/TCP SYN with correct checksums.
func tcpSYN(dst, src net.HardwareAddr, sip, dip [4]byte, sport, dport uint16, opts []byte) []byte {
	ihl := 20 + len(opts)
	f := make([]byte, 14+ihl+20)
	copy(f[0:6], dst)
	copy(f[6:12], src)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0] = 0x40 | byte(ihl/4)
	binary.BigEndian.PutUint16(ip[2:], uint16(ihl+20))
	binary.BigEndian.PutUint16(ip[4:], sport)
	ip[6] = 0x40 // DF
	ip[8] = 64
	ip[9] = 6
	copy(ip[12:16], sip[:])
	copy(ip[16:20], dip[:])
	copy(ip[20:], opts)
	fixIPChecksum(ip)
	tcp := ip[ihl:]
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	binary.BigEndian.PutUint32(tcp[4:], 1)
	tcp[12] = 5 << 4
	tcp[13] = 0x02 // SYN
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	binary.BigEndian.PutUint16(tcp[16:], ^header.Checksum(tcp[:20], header.PseudoHeaderChecksum(header.ProtoTCP, sip, dip, 20)))
	return f
}

// fixIPChecksum recomputes the header checksum over the IHL the header
// declares, or 20 bytes where that is less (the IHL 4 frame).
func fixIPChecksum(ip []byte) {
	ihl := max(int(ip[0]&0x0f)*4, 20)
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], ^header.Checksum(ip[:ihl], 0))
}

// sendRaw sends each frame rounds times from dev inside ns through a raw
// AF_PACKET socket.
func sendRaw(ns *netns.NS, dev string, frames [][]byte, rounds int) error {
	return ns.Do(func() error {
		ifc, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		to := &unix.SockaddrLinklayer{Ifindex: ifc.Index, Halen: 6}
		for range rounds {
			for _, f := range frames {
				if err := unix.Sendto(fd, f, 0, to); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
