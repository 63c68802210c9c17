package preflight

import (
	"net/netip"

	"github.com/ulvs/ulvs/internal/hostnet"
)

// System is the Host of the running machine (its current network namespace).
type System struct{}

// AddrOwner implements Host.
func (System) AddrOwner(a netip.Addr) (string, error) { return hostnet.AddrOwner(a) }

// Sysctl implements Host.
func (System) Sysctl(name string) (string, error) { return hostnet.Sysctl(name) }

// Offloads implements Host.
func (System) Offloads(ifname string) (bool, bool, error) {
	o, err := hostnet.ReadOffloads(ifname)
	return o.GRO, o.LRO, err
}

// Route implements Host.
func (System) Route(dst netip.Addr) (string, netip.Addr, error) {
	r, err := hostnet.RouteTo(dst)
	return r.Iface, r.Gateway, err
}

// InterfaceExists implements Host.
func (System) InterfaceExists(name string) bool {
	_, err := hostnet.LookupInterface(name)
	return err == nil
}
