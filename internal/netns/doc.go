// Package netns builds network-namespace topologies: the one helper that the
// end-to-end tests, `ulvs demo` and the bench harness share.
//
// An Env owns a set of named namespaces under a unique prefix together with
// everything inside them (veth pairs, bridges, addresses, routes, sysctls,
// processes). Closing the Env deletes the namespaces, which removes every
// link inside them, so teardown cannot leak interfaces into the host.
//
// NewLVS builds the standard ulvs topology on top of an Env:
//
//	client ──veth── director ──veth── [bridge] ──veth── real servers ×N
//	10.0.1.0/24     (two legs)          10.0.2.0/24
//	   └──veth── gateway ──veth──────────┘  (return path for DR and TUN)
//	10.0.3.0/24
//
// The director namespace never forwards IP and never owns the VIP on a
// kernel interface: ulvs answers ARP for the VIP itself and the kernel must
// not forward or answer the traffic ulvs handles.
//
// Configuration shells out to iproute2 (`ip`) and ethtool; code that must
// run inside a namespace uses NS.Do, which switches one locked OS thread.
package netns
