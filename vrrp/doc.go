// Package vrrp implements VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798) for IPv4,
// byte-compatible with keepalived, so that ulvs directors and keepalived
// directors can share virtual addresses.
package vrrp
