package forward

import "sync/atomic"

//go:generate go tool stringer -type DropReason -linecomment

// DropReason says why a frame was not forwarded. The zero value, DropNone,
// means it was not dropped. Every reason has a counter (see Counters); no
// reason is ever logged per packet.
//
// AF_PACKET hands ulvs a copy of each frame while the kernel keeps its own,
// so "drop" means "ulvs does not transmit it"; DropNotOurs is the ordinary
// fate of every frame that is not IPv4 or ARP, not an error.
type DropReason uint8

// The drop reasons. New reasons go before NumDropReasons, each with its
// metric label (snake_case) as the line comment: `go generate` turns those
// into String (dropreason_string.go; make test checks it is current).
const (
	// Not dropped.
	DropNone DropReason = iota // none

	// Classification, not malformation.

	// Neither IPv4 nor ARP (IPv6, LLDP, ...): the kernel's business.
	DropNotOurs // not_ours

	// Malformed frames: what ip_rcv_core and the L4 receive paths reject.

	// Ethernet header or a VLAN tag cut short.
	DropShortFrame // short_frame
	// ARP that is not Ethernet/IPv4 or is cut short.
	DropBadARP // bad_arp
	// Fewer than 20 bytes of IPv4 header.
	DropShortIPv4 // short_ipv4
	// IPv4 EtherType but version field != 4.
	DropBadIPVersion // bad_ip_version
	// IHL < 5, or header longer than the frame.
	DropBadIHL // bad_ihl
	// Total length shorter than the header or longer than the frame.
	DropBadTotalLength // bad_total_length
	// IPv4 header checksum wrong.
	DropBadIPChecksum // bad_ip_checksum
	// Options area does not parse (ip_options_compile).
	DropBadIPOptions // bad_ip_options
	// LSRR/SSRR option: Linux drops these unless accept_source_route.
	DropSourceRoute // source_route
	// Source multicast, broadcast, 0.0.0.0/8 or loopback.
	DropMartianSource // martian_source
	// TCP header cut short or data offset < 5.
	DropShortTCP // short_tcp
	// UDP header cut short, or its length field out of range.
	DropShortUDP // short_udp
	// ICMP header cut short.
	DropShortICMP // short_icmp
	// ICMP error with a wrong checksum (IPVS checks it too).
	DropBadICMPChecksum // bad_icmp_checksum
	// ICMP error quoting a truncated or non-IPv4 header, or no ports.
	DropBadICMPQuote // bad_icmp_quote

	// Policy: well-formed frames ulvs does not forward.

	// IPv4 fragment: no reassembly, see Parsed.Decode.
	DropFragment // fragment
	// TTL <= 1 on a routed (NAT, TUN) packet; caller may send BuildTimeExceeded.
	DropTTLExpired // ttl_expired
	// TUN: DF set and too big after encapsulation; caller sends BuildFragNeeded.
	DropFragNeeded // frag_needed
	// TUN: DF clear and too big after encapsulation; see TUN.
	DropTooBig // too_big
	// TUN: egress MTU minus 20 below 68.
	DropMTUTooSmall // mtu_too_small
	// Destination buffer (TX slot) too small.
	DropNoRoom // no_room
	// NAT asked of a protocol it cannot rewrite (not TCP/UDP, or ICMP quoting one).
	DropNATUnsupported // nat_unsupported

	// The packet loop's own reasons.

	// The frame was larger than the RX ring's frame (GRO/LRO left on?).
	DropTruncated // truncated
	// The NIC stripped an 802.1Q tag into the ring header (rx-vlan-offload).
	DropVLANOffloaded // vlan_offloaded
	// No next hop towards the destination on the egress interface.
	DropNoRoute // no_route
	// The next hop's MAC is not resolved yet; a resolution was requested.
	DropNeighMiss // neigh_miss

	// NumDropReasons is the number of reasons, for sizing arrays. It is
	// no reason, and String names it unknown.
	NumDropReasons // unknown
)

// Malformed reports whether r means the frame itself was broken, as opposed
// to well-formed but not forwarded.
func (r DropReason) Malformed() bool {
	return r >= DropShortFrame && r <= DropBadICMPQuote
}

// Counters counts drops by reason for one worker. Only the owning worker
// calls Inc; any goroutine may call Load or Snapshot and sum the workers'.
//
// Each counter has a single writer, so Inc is a plain load and store (no
// locked read-modify-write) made through atomic types only so that readers
// on other goroutines see whole values and the race detector agrees. The
// zero value is ready to use; a Counters must not be copied.
type Counters struct {
	n [NumDropReasons]atomic.Uint64
}

// Inc adds one to r's counter. Only the owning worker may call it.
func (c *Counters) Inc(r DropReason) {
	if r < NumDropReasons {
		c.n[r].Store(c.n[r].Load() + 1)
	}
}

// Load returns r's count.
func (c *Counters) Load(r DropReason) uint64 {
	if r < NumDropReasons {
		return c.n[r].Load()
	}
	return 0
}

// Snapshot adds every count into sum, so a reader can total all workers
// into one array.
func (c *Counters) Snapshot(sum *[NumDropReasons]uint64) {
	for i := range c.n {
		sum[i] += c.n[i].Load()
	}
}
