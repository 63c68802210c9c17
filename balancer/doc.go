// Package balancer is the scheduling logic of a director: virtual services,
// real servers, their counters and the IPVS schedulers, published as
// immutable Table snapshots that the control plane swaps in atomically.
//
// It does no I/O and keeps no per-connection state: the connection table
// lives in package balancer/conntrack, which picks a real server through
// this package's exported API.
//
// The semantics follow Linux IPVS (net/netfilter/ipvs): scheduler formulas,
// active/inactive accounting and weight-0 quiescing.
package balancer
