// Package header provides views over raw packet bytes for the headers a
// layer-4 director touches: Ethernet with 802.1Q/802.1ad tags, ARP
// (RFC 826), IPv4 (RFC 791), TCP (RFC 9293), UDP (RFC 768) and ICMPv4
// (RFC 792), plus the Internet checksum (RFC 1071) and its incremental
// update (RFC 1624).
//
// Each view is a named []byte (type IPv4 []byte) whose accessors read and
// write the wire fields in place. Accessors do not check bounds beyond what
// Go does: call the view's IsValid (or forward.Parsed.Decode, which checks
// more) before using the others. Addresses come back as [4]byte and [6]byte
// values, never strings, so reading them does not allocate.
//
// Setters named ...WithChecksumUpdate change a field and patch the covering
// checksum incrementally, so a NAT rewrite costs a few additions instead of
// a pass over the payload.
//
// The package is a leaf: it imports only the standard library, so tests,
// the bench harness and the teaching tool parse frames exactly as the data
// plane does, and the packages outside the data plane that build or check
// IPv4 and ICMP (vrrp's advertisements, health's PING_CHECK, the tunnel
// decapsulator, netns's ping) use its checksum and encoders rather than
// their own.
package header
