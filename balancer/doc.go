// Package balancer is the decision logic of a director: virtual services,
// real servers, the IPVS schedulers and the connection table.
//
// It does no I/O and knows nothing about frames. The packet loop in package
// forward hands it a flow (addresses, ports, protocol, TCP flags) and gets back
// a real server and a connection entry; the control plane builds immutable
// Table snapshots and swaps them in atomically.
//
// The semantics follow Linux IPVS (net/netfilter/ipvs): scheduler formulas,
// the TCP state machine and its timeouts, active/inactive accounting,
// persistence templates and weight-0 quiescing.
package balancer
