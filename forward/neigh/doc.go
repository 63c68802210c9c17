// Package neigh maps next-hop IPv4 addresses to MAC addresses for the data
// plane and answers ARP for the virtual addresses a director owns.
//
// Cache resolves neighbours with ARP on a control goroutine; packet workers
// only read it, without locks or allocations, and ask for missing entries
// with a non-blocking Want. Reply is the VIP ARP responder the packet loop
// calls on every ARP frame it receives: the kernel does not own the VIPs
// (see ARCHITECTURE.md), so nobody else answers for them. Gratuitous builds
// the announcement VRRP sends when it takes a VIP over.
package neigh
