package bfd

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// listener is a socket on the BFD port of one family that reports each
// datagram's TTL (hop limit) and destination address.
type listener struct {
	conn     *net.UDPConn
	v6       bool
	multihop bool
}

// listen opens the receive socket of one family and port. IPv6 sockets
// are v6-only so that the IPv4 socket sees IPv4 packets with their TTL.
func listen(v6 bool, port int) (*listener, error) {
	network, addr := "udp4", fmt.Sprintf("0.0.0.0:%d", port)
	if v6 {
		network, addr = "udp6", fmt.Sprintf("[::]:%d", port)
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return sockopts(c, func(fd int) error {
			if v6 {
				if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
					return err
				}
				if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1); err != nil {
					return err
				}
				return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
			}
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVTTL, 1); err != nil {
				return err
			}
			return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		})
	}}
	pc, err := lc.ListenPacket(context.Background(), network, addr)
	if err != nil {
		return nil, fmt.Errorf("bfd: listening on %s %s: %w (is another BFD daemon, such as bfdd or keepalived, running here?)", network, addr, err)
	}
	return &listener{conn: pc.(*net.UDPConn), v6: v6, multihop: port == MultihopPort}, nil
}

// read reads one datagram into p.
func (l *listener) read(p *rxPacket) error {
	var oob [128]byte
	n, oobn, _, src, err := l.conn.ReadMsgUDPAddrPort(p.buf[:], oob[:])
	if err != nil {
		return err
	}
	p.n, p.src, p.srcPort, p.multihop = n, src.Addr().Unmap(), src.Port(), l.multihop
	p.ttl, p.dst = parseCmsgs(oob[:oobn])
	return nil
}

// parseCmsgs returns the TTL (-1 when absent) and destination address
// from a recvmsg control buffer, without allocating.
func parseCmsgs(b []byte) (ttl int, dst netip.Addr) {
	ttl = -1
	for len(b) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		if h.Len < unix.SizeofCmsghdr || int(h.Len) > len(b) {
			break
		}
		data := b[unix.CmsgLen(0):h.Len]
		switch {
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_TTL && len(data) >= 1,
			h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_HOPLIMIT && len(data) >= 4:
			ttl = int(data[0])
			if len(data) >= 4 {
				ttl = int(*(*int32)(unsafe.Pointer(&data[0])))
			}
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			info := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
			dst = netip.AddrFrom4(info.Addr)
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			info := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
			dst = netip.AddrFrom16(info.Addr)
		}
		b = b[min(unix.CmsgSpace(int(h.Len)-unix.CmsgLen(0)), len(b)):]
	}
	return ttl, dst
}

// sender is a session's transmit socket: bound to its source address and
// a port in 49152-65535, sending with the session's TTL.
type sender struct {
	conn *net.UDPConn
	dst  netip.AddrPort
}

// maxBindTries bounds the search for a free source port.
const maxBindTries = 64

func openSender(local, peer netip.Addr, port int, ttl uint8) (*sender, error) {
	v6 := peer.Is6()
	network := "udp4"
	if v6 {
		network = "udp6"
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return sockopts(c, func(fd int) error {
			if v6 {
				return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, int(ttl))
			}
			return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, int(ttl))
		})
	}}
	if !local.IsValid() {
		local = netip.IPv4Unspecified()
		if v6 {
			local = netip.IPv6Unspecified()
		}
	}
	var lastErr error
	for range maxBindTries {
		src := netip.AddrPortFrom(local, uint16(MinSrcPort+rand.IntN(MaxSrcPort-MinSrcPort+1)))
		pc, err := lc.ListenPacket(context.Background(), network, src.String())
		if err == nil {
			return &sender{conn: pc.(*net.UDPConn), dst: netip.AddrPortFrom(peer, uint16(port))}, nil
		}
		lastErr = err
		if !errors.Is(err, unix.EADDRINUSE) {
			break
		}
	}
	return nil, fmt.Errorf("bfd: no source port for %v: %w (check that source_ip is an address of this host)", peer, lastErr)
}

func (s *sender) send(b []byte) error {
	_, err := s.conn.WriteToUDPAddrPort(b, s.dst)
	return err
}

func sockopts(c syscall.RawConn, fn func(fd int) error) error {
	var serr error
	if err := c.Control(func(fd uintptr) { serr = fn(int(fd)) }); err != nil {
		return err
	}
	return serr
}
