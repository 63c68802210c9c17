package lvssync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// mcastSender is a UDP socket bound to the interface's address that
// multicasts to the group, as the kernel's make_send_sock sets it up:
// the interface as multicast output, no loopback, the TTL, and
// fragmentation allowed (IP_PMTUDISC_DONT).
type mcastSender struct {
	c  *net.UDPConn
	to netip.AddrPort
}

func (m *mcastSender) Send(msg []byte) error {
	_, err := m.c.WriteToUDPAddrPort(msg, m.to)
	return err
}

func (m *mcastSender) Close() error { return m.c.Close() }

// ifaceAddr4 is the interface's first IPv4 address.
func ifaceAddr4(ifi *net.Interface) (netip.Addr, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
			return p.Addr(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("sync interface %s has no IPv4 address; give it one (the sync messages come from it)", ifi.Name)
}

func checkGroup(cfg Config) error {
	if !cfg.Group.Is4() || !cfg.Group.IsMulticast() {
		return fmt.Errorf("sync group %v: ulvs syncs over an IPv4 multicast group; use lvs_sync_daemon ... group 224.0.0.81", cfg.Group)
	}
	return nil
}

// NewSender opens the sending socket on cfg.Interface, with one Ring of
// ringSize per packet worker. It belongs to the network namespace of
// the calling thread.
//
// Without MaxLen, messages fill the interface MTU (less the IPv4 and UDP
// headers); the kernel's master keeps to 1472 whatever the MTU, which
// is what to configure (maxlen 1472) when an IPVS backup on the link
// has a smaller MTU than this director.
func NewSender(cfg Config, workers, ringSize int, log *slog.Logger) (*Sender, error) {
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("sync interface %s: %w (check lvs_sync_daemon's interface)", cfg.Interface, err)
	}
	if cfg.MaxLen == 0 && ifi.MTU > 0 {
		cfg.MaxLen = min(max(ifi.MTU-20-8, HeaderLen+maxEntryLen), MaxMaxLen)
	}
	cfg = cfg.withDefaults()
	if err := checkGroup(cfg); err != nil {
		return nil, err
	}
	src, err := ifaceAddr4(ifi)
	if err != nil {
		return nil, err
	}
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)))
	if err != nil {
		return nil, fmt.Errorf("sync send socket on %s: %w", cfg.Interface, err)
	}
	p := ipv4.NewPacketConn(c)
	err = errors.Join(p.SetMulticastInterface(ifi), p.SetMulticastTTL(int(cfg.TTL)), p.SetMulticastLoopback(false))
	if rc, e := c.SyscallConn(); e == nil {
		e2 := rc.Control(func(fd uintptr) {
			e = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT)
		})
		err = errors.Join(err, e, e2)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("sync send socket on %s: %w", cfg.Interface, err)
	}
	out := &mcastSender{c: c, to: netip.AddrPortFrom(cfg.Group, cfg.Port)}
	return newSender(cfg, out, workers, ringSize, log), nil
}

const rcvBuf = 8 << 20

// Listener is the receiving socket: it joins the group on the
// interface, as the kernel's make_receive_sock does.
type Listener struct {
	c   *net.UDPConn
	cfg Config
}

// Listen opens the receiving socket on cfg.Interface, in the network
// namespace of the calling thread.
func Listen(cfg Config) (*Listener, error) {
	cfg = cfg.withDefaults()
	if err := checkGroup(cfg); err != nil {
		return nil, err
	}
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("sync interface %s: %w (check lvs_sync_daemon's interface)", cfg.Interface, err)
	}
	c, err := net.ListenMulticastUDP("udp4", ifi, net.UDPAddrFromAddrPort(netip.AddrPortFrom(cfg.Group, cfg.Port)))
	if err != nil {
		return nil, fmt.Errorf("sync receive socket on %s: joining %v port %d: %w", cfg.Interface, cfg.Group, cfg.Port, err)
	}
	// A bulk resync arrives as a stream; a large buffer rides out
	// scheduling hiccups of the receiving goroutine. SO_RCVBUFFORCE
	// passes net.core.rmem_max when we have CAP_NET_ADMIN.
	if rc, err := c.SyscallConn(); err == nil {
		var e error
		rc.Control(func(fd uintptr) { e = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf) })
		if e != nil {
			c.SetReadBuffer(rcvBuf)
		}
	}
	return &Listener{c: c, cfg: cfg}, nil
}

// Serve reads datagrams into r until ctx ends. Datagrams longer than a
// maximal message are truncated by the read and dropped by size.
func (l *Listener) Serve(ctx context.Context, r *Receiver) error {
	stop := context.AfterFunc(ctx, func() { l.c.Close() })
	defer stop()
	buf := make([]byte, 65536)
	for {
		n, from, err := l.c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("sync receive on %s: %w", l.cfg.Interface, err)
		}
		r.Handle(buf[:n], from)
	}
}

// Close closes the socket.
func (l *Listener) Close() error { return l.c.Close() }
