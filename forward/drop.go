package forward

import "sync/atomic"

// DropReason says why a frame was not forwarded. The zero value, DropNone,
// means it was not dropped. Every reason has a counter (see Counters); no
// reason is ever logged per packet.
//
// AF_PACKET hands ulvs a copy of each frame while the kernel keeps its own,
// so "drop" means "ulvs does not transmit it"; DropNotOurs is the ordinary
// fate of every frame that is not IPv4 or ARP, not an error.
type DropReason uint8

// The drop reasons. New reasons go before NumDropReasons; String must name
// each one (a test checks).
const (
	DropNone DropReason = iota // not dropped

	// Classification, not malformation.
	DropNotOurs // neither IPv4 nor ARP (IPv6, LLDP, ...): the kernel's business

	// Malformed frames: what ip_rcv_core and the L4 receive paths reject.
	DropShortFrame      // Ethernet header or a VLAN tag cut short
	DropBadARP          // ARP that is not Ethernet/IPv4 or is cut short
	DropShortIPv4       // fewer than 20 bytes of IPv4 header
	DropBadIPVersion    // IPv4 EtherType but version field != 4
	DropBadIHL          // IHL < 5, or header longer than the frame
	DropBadTotalLength  // total length shorter than the header or longer than the frame
	DropBadIPChecksum   // IPv4 header checksum wrong
	DropBadIPOptions    // options area does not parse (ip_options_compile)
	DropSourceRoute     // LSRR/SSRR option: Linux drops these unless accept_source_route
	DropMartianSource   // source multicast, broadcast, 0.0.0.0/8 or loopback
	DropShortTCP        // TCP header cut short or data offset < 5
	DropShortUDP        // UDP header cut short, or its length field out of range
	DropShortICMP       // ICMP header cut short
	DropBadICMPChecksum // ICMP error with a wrong checksum (IPVS checks it too)
	DropBadICMPQuote    // ICMP error quoting a truncated or non-IPv4 header, or no ports

	// Policy: well-formed frames ulvs does not forward.
	DropFragment       // IPv4 fragment: no reassembly, see Parsed.Decode
	DropTTLExpired     // TTL <= 1 on a routed (NAT, TUN) packet; caller may send BuildTimeExceeded
	DropFragNeeded     // TUN: DF set and too big after encapsulation; caller sends BuildFragNeeded
	DropTooBig         // TUN: DF clear and too big after encapsulation; see TUN
	DropMTUTooSmall    // TUN: egress MTU minus 20 below 68
	DropNoRoom         // destination buffer (TX slot) too small
	DropNATUnsupported // NAT asked of a protocol it cannot rewrite (not TCP/UDP, or ICMP quoting one)

	// The packet loop's own reasons.
	DropTruncated     // the frame was larger than the RX ring's frame (GRO/LRO left on?)
	DropVLANOffloaded // the NIC stripped an 802.1Q tag into the ring header (rx-vlan-offload)
	DropNoRoute       // no next hop towards the destination on the egress interface
	DropNeighMiss     // the next hop's MAC is not resolved yet; a resolution was requested

	// NumDropReasons is the number of reasons, for sizing arrays.
	NumDropReasons
)

var dropReasonNames = [NumDropReasons]string{
	DropNone:            "none",
	DropNotOurs:         "not_ours",
	DropShortFrame:      "short_frame",
	DropBadARP:          "bad_arp",
	DropShortIPv4:       "short_ipv4",
	DropBadIPVersion:    "bad_ip_version",
	DropBadIHL:          "bad_ihl",
	DropBadTotalLength:  "bad_total_length",
	DropBadIPChecksum:   "bad_ip_checksum",
	DropBadIPOptions:    "bad_ip_options",
	DropSourceRoute:     "source_route",
	DropMartianSource:   "martian_source",
	DropShortTCP:        "short_tcp",
	DropShortUDP:        "short_udp",
	DropShortICMP:       "short_icmp",
	DropBadICMPChecksum: "bad_icmp_checksum",
	DropBadICMPQuote:    "bad_icmp_quote",
	DropFragment:        "fragment",
	DropTTLExpired:      "ttl_expired",
	DropFragNeeded:      "frag_needed",
	DropTooBig:          "too_big",
	DropMTUTooSmall:     "mtu_too_small",
	DropNoRoom:          "no_room",
	DropNATUnsupported:  "nat_unsupported",
	DropTruncated:       "truncated",
	DropVLANOffloaded:   "vlan_offloaded",
	DropNoRoute:         "no_route",
	DropNeighMiss:       "neigh_miss",
}

// String returns the reason as a metric label value (snake_case).
func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropReasonNames[r]
	}
	return "unknown"
}

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
