package tunnel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Config says where IPIP packets arrive and how to name the TUN device.
type Config struct {
	// Interface receives the IPIP packets (the real server's NIC).
	Interface string
	// TunName names the TUN device inner packets go through
	// (default "ulvstun0"; at most 15 bytes).
	TunName string
	// Logger receives lifecycle events; nil discards.
	Logger *slog.Logger
}

// addrRefresh bounds how often a packet for an unknown outer destination
// re-reads the host's addresses.
const addrRefresh = time.Second

// Decapsulator is one running decapsulation path: an AF_PACKET socket in,
// a TUN device out.
type Decapsulator struct {
	cfg  Config
	log  *slog.Logger
	conn *packet.Conn
	tun  *os.File
	// guard is a raw IPPROTO_IPIP socket that drops everything. Its only
	// job is to exist: without an ipip module the kernel would answer each
	// IPIP packet with ICMP protocol-unreachable unless a raw socket
	// takes the protocol.
	guard int
	nl    int // NETLINK_ROUTE socket, bound to the namespace at New

	locals      atomic.Pointer[map[[4]byte]struct{}]
	lastRefresh time.Time

	received, delivered atomic.Uint64
	drops               [NumDropReasons]atomic.Uint64

	closeOnce sync.Once
}

// Run decapsulates until ctx is cancelled. It is New followed by
// Decapsulator.Run and Close.
func Run(ctx context.Context, cfg Config) error {
	d, err := New(cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Run(ctx)
}

// New opens the sockets and creates the TUN device in the network namespace
// of the calling thread. It sets rp_filter=0 on the TUN device and on `all`
// (the kernel uses the larger of the two), because decapsulated packets
// arrive on the TUN device while the route back to their source points
// elsewhere; and accept_local=1 so inner sources that are local addresses
// are accepted. Needs CAP_NET_ADMIN and CAP_NET_RAW.
func New(cfg Config) (_ *Decapsulator, err error) {
	// Everything below is namespace-bound: keep it on one thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	if cfg.TunName == "" {
		cfg.TunName = "ulvstun0"
	}
	if len(cfg.TunName) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("tunnel: TUN name %q is longer than %d bytes", cfg.TunName, unix.IFNAMSIZ-1)
	}
	d := &Decapsulator{cfg: cfg, log: cfg.Logger, guard: -1, nl: -1}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()

	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("tunnel: interface %q: %w (name the interface IPIP packets arrive on)", cfg.Interface, err)
	}
	if d.nl, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE); err != nil {
		return nil, fmt.Errorf("tunnel: netlink socket: %w", err)
	}
	if err := d.refreshLocals(); err != nil {
		return nil, err
	}
	if d.guard, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, protoIPIP); err != nil {
		return nil, fmt.Errorf("tunnel: raw IPIP socket: %w (needs CAP_NET_RAW)", err)
	}
	dropAll := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}
	if err := unix.SetsockoptSockFprog(d.guard, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
		&unix.SockFprog{Len: 1, Filter: &dropAll[0]}); err != nil {
		return nil, fmt.Errorf("tunnel: filter on raw IPIP socket: %w", err)
	}

	if d.tun, err = openTUN(cfg.TunName); err != nil {
		return nil, err
	}
	for _, kv := range [][2]string{
		{"net/ipv4/conf/" + cfg.TunName + "/rp_filter", "0"},
		{"net/ipv4/conf/" + cfg.TunName + "/accept_local", "1"},
	} {
		if err := os.WriteFile("/proc/sys/"+kv[0], []byte(kv[1]), 0o644); err != nil {
			return nil, fmt.Errorf("tunnel: sysctl %s: %w", kv[0], err)
		}
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/conf/all/rp_filter"); err == nil && len(b) > 0 && b[0] != '0' {
		d.log.Warn("setting net.ipv4.conf.all.rp_filter=0 so decapsulated packets pass; per-interface values still apply")
		if err := os.WriteFile("/proc/sys/net/ipv4/conf/all/rp_filter", []byte("0"), 0o644); err != nil {
			return nil, fmt.Errorf("tunnel: sysctl all/rp_filter: %w", err)
		}
	}

	if d.conn, err = packet.Listen(ifi, packet.Datagram, unix.ETH_P_IP, nil); err != nil {
		return nil, fmt.Errorf("tunnel: AF_PACKET socket on %s: %w (needs CAP_NET_RAW)", cfg.Interface, err)
	}
	// Only IPIP reaches userspace: IPv4 protocol byte (offset 9) == 4.
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 9, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoIPIP, SkipFalse: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		return nil, err
	}
	if err := d.conn.SetBPF(prog); err != nil {
		return nil, fmt.Errorf("tunnel: BPF filter: %w", err)
	}
	d.log.Info("tunnel decapsulator ready", "interface", cfg.Interface, "tun", cfg.TunName)
	return d, nil
}

// Run reads IPIP packets and delivers their inner packets until ctx is
// cancelled or the socket fails. It returns nil on cancellation.
func (d *Decapsulator) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { _ = d.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, 65536)
	for {
		n, _, err := d.conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("tunnel: read %s: %w", d.cfg.Interface, err)
		}
		d.received.Add(1)
		inner, reason, ok := decap(buf[:n], d.isLocal)
		if !ok {
			d.drops[reason].Add(1)
			continue
		}
		if _, err := d.tun.Write(inner); err != nil {
			d.drops[DropWrite].Add(1)
			continue
		}
		d.delivered.Add(1)
	}
}

// Stats returns a snapshot of the counters; safe while Run runs.
func (d *Decapsulator) Stats() Stats {
	s := Stats{Received: d.received.Load(), Delivered: d.delivered.Load()}
	for i := range d.drops {
		s.Drops[i] = d.drops[i].Load()
	}
	return s
}

// Close releases the sockets and removes the TUN device. Call it after Run
// has returned.
func (d *Decapsulator) Close() error {
	var errs []error
	d.closeOnce.Do(func() {
		if d.conn != nil {
			errs = append(errs, d.conn.Close())
		}
		if d.tun != nil {
			errs = append(errs, d.tun.Close())
		}
		for _, fd := range []int{d.guard, d.nl} {
			if fd >= 0 {
				errs = append(errs, unix.Close(fd))
			}
		}
	})
	return errors.Join(errs...)
}

// isLocal reports whether a is one of this host's addresses, re-reading
// them at most once per addrRefresh when a is unknown (addresses change
// rarely; Run is the only caller, so lastRefresh needs no lock).
func (d *Decapsulator) isLocal(a [4]byte) bool {
	if _, ok := (*d.locals.Load())[a]; ok {
		return true
	}
	if time.Since(d.lastRefresh) < addrRefresh {
		return false
	}
	if err := d.refreshLocals(); err != nil {
		d.log.Warn("tunnel: cannot re-read local addresses", "err", err)
		return false
	}
	_, ok := (*d.locals.Load())[a]
	return ok
}

// refreshLocals dumps the IPv4 addresses of the namespace through the
// netlink socket opened in New, so it works from any thread.
func (d *Decapsulator) refreshLocals() error {
	d.lastRefresh = time.Now()
	req := make([]byte, unix.NLMSG_HDRLEN+unix.SizeofRtGenmsg)
	hdr := (*unix.NlMsghdr)(unsafe.Pointer(&req[0]))
	hdr.Len = uint32(len(req))
	hdr.Type = unix.RTM_GETADDR
	hdr.Flags = unix.NLM_F_REQUEST | unix.NLM_F_DUMP
	hdr.Seq = uint32(time.Now().UnixNano())
	req[unix.NLMSG_HDRLEN] = unix.AF_INET
	if err := unix.Sendto(d.nl, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("tunnel: netlink address dump: %w", err)
	}
	locals := make(map[[4]byte]struct{})
	buf := make([]byte, 32768)
	for {
		n, _, err := unix.Recvfrom(d.nl, buf, 0)
		if err != nil {
			return fmt.Errorf("tunnel: netlink address dump: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("tunnel: netlink address dump: %w", err)
		}
		for i := range msgs {
			m := &msgs[i]
			if m.Header.Seq != hdr.Seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				d.locals.Store(&locals)
				return nil
			case unix.NLMSG_ERROR:
				return errors.New("tunnel: netlink address dump failed")
			case unix.RTM_NEWADDR:
				attrs, err := syscall.ParseNetlinkRouteAttr(m)
				if err != nil {
					continue
				}
				for _, a := range attrs {
					if (a.Attr.Type == unix.IFA_LOCAL || a.Attr.Type == unix.IFA_ADDRESS) && len(a.Value) == 4 {
						locals[[4]byte(a.Value)] = struct{}{}
					}
				}
			}
		}
	}
}

// openTUN creates a TUN device (IFF_TUN|IFF_NO_PI: the fd carries bare IP
// packets) and brings it up.
func openTUN(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("tunnel: open /dev/net/tun: %w (load the tun module or run in a container with the device)", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tunnel: create TUN device %s: %w (is the name taken?)", name, err)
	}
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	defer unix.Close(s)
	flags, _ := unix.NewIfreq(name)
	if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, flags); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tunnel: flags of %s: %w", name, err)
	}
	flags.SetUint16(flags.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, flags); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tunnel: bring %s up: %w", name, err)
	}
	// Non-blocking, so the runtime poller owns the fd and Close interrupts
	// a pending Read or Write.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun:"+name), nil
}
