package vrrp

import (
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// RawTransport is a raw IPv4 socket for protocol 112 bound to one
// interface, the way keepalived sends and receives: the kernel fills in
// the Ethernet header (the interface's own MAC, 01:00:5e:00:00:12 for the
// group), we write the IP header (IP_HDRINCL) so that TOS, TTL and id match
// keepalived's byte for byte, and reads return whole IPv4 packets, so the
// receive checks see the TTL. It joins 224.0.0.18 on the interface (IGMP
// snooping switches need the membership) and does not loop its own
// multicast back.
//
// The socket belongs to the network namespace of the thread that opens
// it, which is how a director in a namespace gets its own.
type RawTransport struct {
	f  *os.File
	rc interface {
		Read(func(uintptr) bool) error
		Write(func(uintptr) bool) error
	}
}

// OpenRaw opens the transport on iface. It needs CAP_NET_RAW.
func OpenRaw(iface string) (*RawTransport, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("vrrp interface %s: %w (check the instance's interface keyword)", iface, err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, Proto)
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("opening a raw VRRP socket: %w; run as root or give the binary CAP_NET_RAW", err)
		}
		return nil, fmt.Errorf("opening a raw VRRP socket: %w", err)
	}
	fail := func(what string, err error) (*RawTransport, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("vrrp socket on %s: %s: %w", iface, what, err)
	}
	if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, iface); err != nil {
		return fail("SO_BINDTODEVICE", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_HDRINCL, 1); err != nil {
		return fail("IP_HDRINCL", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0); err != nil {
		return fail("IP_MULTICAST_LOOP", err)
	}
	mreq := &unix.IPMreqn{Multiaddr: Group.As4(), Ifindex: int32(ifi.Index)}
	if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, mreq); err != nil {
		return fail("IP_MULTICAST_IF", err)
	}
	if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq); err != nil {
		return fail("joining 224.0.0.18", err)
	}
	f := os.NewFile(uintptr(fd), "vrrp:"+iface)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &RawTransport{f: f, rc: rc}, nil
}

// ReadPacket reads one IPv4 packet, header included.
func (t *RawTransport) ReadPacket(b []byte) (int, error) {
	var n int
	var rerr error
	err := t.rc.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), b, 0)
		return rerr != unix.EAGAIN
	})
	if err != nil {
		return 0, err
	}
	return n, rerr
}

// WritePacket sends one IPv4 packet built by EncodePacket.
func (t *RawTransport) WritePacket(b []byte) error {
	if len(b) < ipHeaderLen {
		return errors.New("vrrp: packet shorter than an IPv4 header")
	}
	to := &unix.SockaddrInet4{Addr: Packet(b).Dst()}
	var werr error
	err := t.rc.Write(func(fd uintptr) bool {
		werr = unix.Sendto(int(fd), b, 0, to)
		return werr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	return werr
}

// Close closes the socket; a blocked ReadPacket returns.
func (t *RawTransport) Close() error { return t.f.Close() }
