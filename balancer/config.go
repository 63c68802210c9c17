package balancer

import (
	"net/netip"
	"time"
)

// ServiceConfig describes a virtual service to build into a Table. It is
// what the config loader, the admin API and tests produce.
type ServiceConfig struct {
	Key         ServiceKey
	Scheduler   string // empty means wlc, IPVS's and keepalived's default
	Flags       ServiceFlags
	Persistence time.Duration
	// PersistenceMaskBits is the persistence granularity as a prefix length;
	// zero means a single client address (32 for IPv4).
	PersistenceMaskBits int
	// MaglevTableSize is the mh lookup table size (a prime); zero means
	// IPVS's default of 4093.
	MaglevTableSize int
	Reals           []RealConfig
}

// RealConfig describes one real server of a ServiceConfig.
type RealConfig struct {
	Addr           netip.Addr
	Port           uint16
	Method         Method
	Weight         uint32
	UpperThreshold uint32
	LowerThreshold uint32
}
