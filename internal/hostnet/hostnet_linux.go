package hostnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Interface is what the data plane needs to know about a network interface.
type Interface struct {
	Name  string
	Index int
	MAC   [6]byte
	MTU   int
	Addrs []netip.Prefix // IPv4 addresses assigned to it
}

// LookupInterface returns the named interface with its IPv4 addresses.
func LookupInterface(name string) (Interface, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return Interface{}, fmt.Errorf("interface %q: %w (list them with `ip link`)", name, err)
	}
	a := link.Attrs()
	ifc := Interface{Name: a.Name, Index: a.Index, MTU: a.MTU}
	copy(ifc.MAC[:], a.HardwareAddr)
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return Interface{}, fmt.Errorf("interface %q: listing addresses: %w", name, err)
	}
	for _, ad := range addrs {
		ip, ok := netip.AddrFromSlice(ad.IP.To4())
		if !ok {
			continue
		}
		ones, _ := ad.Mask.Size()
		ifc.Addrs = append(ifc.Addrs, netip.PrefixFrom(ip, ones))
	}
	return ifc, nil
}

// FirstAddr returns the interface's first IPv4 address, or the zero Addr.
func (i Interface) FirstAddr() netip.Addr {
	if len(i.Addrs) == 0 {
		return netip.Addr{}
	}
	return i.Addrs[0].Addr()
}

// OnLink reports whether a is inside one of the interface's prefixes.
func (i Interface) OnLink(a netip.Addr) bool {
	for _, p := range i.Addrs {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Route is the kernel's answer to `ip route get DST`.
type Route struct {
	Dst     netip.Addr
	Iface   string
	IfIndex int
	Gateway netip.Addr // invalid when Dst is on-link
	Src     netip.Addr
	MTU     int // the route's MTU, 0 when the interface MTU applies
}

// NextHop returns the address whose MAC a frame to Dst must carry.
func (r Route) NextHop() netip.Addr {
	if r.Gateway.IsValid() {
		return r.Gateway
	}
	return r.Dst
}

// RouteTo asks the kernel how it would reach dst.
func RouteTo(dst netip.Addr) (Route, error) {
	routes, err := netlink.RouteGet(net.IP(dst.AsSlice()))
	if err != nil {
		return Route{}, fmt.Errorf("no route to %v: %w (add one with `ip route add`)", dst, err)
	}
	if len(routes) == 0 {
		return Route{}, fmt.Errorf("no route to %v (add one with `ip route add`)", dst)
	}
	r := routes[0]
	out := Route{Dst: dst, IfIndex: r.LinkIndex, MTU: r.MTU}
	if gw, ok := netip.AddrFromSlice(r.Gw.To4()); ok {
		out.Gateway = gw
	}
	if src, ok := netip.AddrFromSlice(r.Src.To4()); ok {
		out.Src = src
	}
	if link, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
		out.Iface = link.Attrs().Name
	}
	return out, nil
}

// AddrOwner returns the name of the interface that has a assigned, or "".
func AddrOwner(a netip.Addr) (string, error) {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return "", fmt.Errorf("listing addresses: %w", err)
	}
	for _, ad := range addrs {
		if ip, ok := netip.AddrFromSlice(ad.IP.To4()); ok && ip == a {
			if link, err := netlink.LinkByIndex(ad.LinkIndex); err == nil {
				return link.Attrs().Name, nil
			}
			return fmt.Sprintf("ifindex %d", ad.LinkIndex), nil
		}
	}
	return "", nil
}

// Sysctl reads a sysctl by its dotted or slashed name, e.g.
// "net.ipv4.ip_forward".
func Sysctl(name string) (string, error) {
	b, err := os.ReadFile(sysctlPath(name))
	if err != nil {
		return "", fmt.Errorf("sysctl %s: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// SetSysctl writes a sysctl.
func SetSysctl(name, value string) error {
	if err := os.WriteFile(sysctlPath(name), []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl -w %s=%s: %w", name, value, err)
	}
	return nil
}

func sysctlPath(name string) string {
	return filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/"))
}

// Offloads reports whether receive offloads that merge frames (GRO, LRO)
// are on for an interface. A tap on an interface with GRO sees merged
// super-frames larger than the MTU, which a forwarder cannot send on.
type Offloads struct {
	GRO, LRO bool
}

// ethtool legacy commands (linux/ethtool.h).
const (
	ethtoolGFLAGS = 0x25
	ethtoolGGRO   = 0x2b
	ethFlagLRO    = 1 << 15
)

type ethtoolValue struct {
	cmd  uint32
	data uint32
}

type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte
}

// ReadOffloads asks the driver for the interface's GRO and LRO state.
func ReadOffloads(ifname string) (Offloads, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return Offloads{}, err
	}
	defer unix.Close(fd)
	get := func(cmd uint32) (uint32, error) {
		v := ethtoolValue{cmd: cmd}
		var req ifreqData
		copy(req.name[:], ifname)
		req.data = unsafe.Pointer(&v)
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&req)))
		if errno != 0 {
			return 0, errno
		}
		return v.data, nil
	}
	var o Offloads
	gro, err := get(ethtoolGGRO)
	if err != nil && !errors.Is(err, unix.EOPNOTSUPP) {
		return o, fmt.Errorf("ethtool -k %s: %w", ifname, err)
	}
	o.GRO = gro != 0
	flags, err := get(ethtoolGFLAGS)
	if err == nil {
		o.LRO = flags&ethFlagLRO != 0
	}
	return o, nil
}

// DefaultGateway returns the gateway of the IPv4 default route through the
// named interface, or the zero Addr when there is none.
func DefaultGateway(ifname string) (netip.Addr, error) {
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("interface %q: %w", ifname, err)
	}
	routes, err := netlink.RouteList(link, netlink.FAMILY_V4)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("routes of %s: %w", ifname, err)
	}
	for _, r := range routes {
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				continue
			}
		}
		if gw, ok := netip.AddrFromSlice(r.Gw.To4()); ok {
			return gw, nil
		}
	}
	return netip.Addr{}, nil
}
