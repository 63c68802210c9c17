// Package forward moves frames: it parses each Ethernet frame once into
// offsets, rewrites it in place for NAT, DR or TUN with incremental checksums
// (RFC 1624), and runs the per-worker packet loop over AF_PACKET rings (which
// copies each frame into its TX slot first and rewrites the copy there).
//
// Header views live in forward/header so that tests, the bench harness and
// the teaching tool parse packets exactly as the data plane does.
package forward
