// Package vrrp implements VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798, RFC 9568)
// for IPv4, byte-compatible with keepalived, so that ulvs directors and
// keepalived directors can share virtual addresses.
//
// # Layers
//
//   - Advert, Packet, Fields and EncodePacket are the wire format: byte
//     views and an encoder that writes what keepalived's vrrp_build_ip4
//     writes (IPv4 protocol 112, TOS 0xc0, TTL 255, a per-instance IP id,
//     224.0.0.18 or unicast peers; v3 checksums with the IPv4 pseudo-header
//     by default, without it for RFC 9568 peers). Golden packets captured
//     from keepalived are in the tests.
//   - The receive checks run in keepalived's order (vrrp_check_packet):
//     length, TTL 255 (not in unicast mode), version, v2 authentication
//     type and PASS password (constant time), v2 interval, type, IPv4 total
//     length, checksum (v3: with or without the pseudo-header, or with the
//     group address as keepalived <= 1.3.6 did for unicast), multicast vs
//     unicast destination, address list (counted, not fatal), unicast
//     source. Each drop has a typed reason (Drop) with a counter.
//   - Machine is the RFC 5798 state machine as a value: methods take the
//     current time and return Actions; Deadline says when to Tick. Tests
//     step it with explicit times.
//   - Router runs instances: it owns one Transport per interface, the
//     timers, the gratuitous ARP schedule, vrrp_script runs, interface
//     tracking, notify commands and sync groups, and exposes Status.
//
// # Ownership of addresses
//
// A master owns its addresses through Owner.Claim and announces them with
// gratuitous ARP (Owner.Gratuitous); leaving MASTER releases them. ulvs's
// daemon answers ARP for the addresses that back a virtual server in its
// packet loop and gives the others to the kernel; an InstanceOwner also
// hears when a whole instance goes up or down (the kernel addresses,
// virtual_routes and virtual_rules).
//
// # Transport
//
// RawTransport is a raw IPv4 socket for protocol 112 (as keepalived
// uses), bound to the interface, joined to 224.0.0.18 there, with
// IP_HDRINCL so the header is ours. A raw socket rather than AF_PACKET:
// the kernel resolves unicast peers and fills the Ethernet header, reads
// return whole IPv4 packets (the TTL check needs the header), and the
// membership keeps IGMP-snooping switches forwarding adverts.
package vrrp
