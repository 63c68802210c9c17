// Package conntrack is the director's connection table: IPVS's connection
// entries and persistence templates, the TCP state machine and its timeouts,
// and the per-packet decision of which real server a flow goes to.
//
// It sees services and real servers only through package balancer's
// exported API (a ServiceSource snapshot, RealServer.Bind and friends); the
// schedulers it calls live there. It does no I/O: the packet loop in package
// forward hands it tuples in batches and gets back decisions.
package conntrack
