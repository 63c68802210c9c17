// Package lvssync speaks the IPVS connection synchronisation protocol of
// the kernel's net/netfilter/ipvs/ip_vs_sync.c, so that a ulvs director
// and an IPVS director can feed each other's backups: the wire format
// (version 1, and version 0 for reading), a sender that multicasts
// messages packed up to maxlen off the forwarding path, fed by the packet
// workers through lock-free per-worker rings, a receiver that validates
// what arrives and counts drops by reason, and the ulvs extension for a
// bulk resynchronisation that an IPVS peer ignores (docs/vrrp.md,
// Connection sync).
//
// What a connection entry means to the connection tracker (which events
// are sent, how a received entry is installed) is the tracker's business:
// this package hands decoded entries to a Sink.
package lvssync
