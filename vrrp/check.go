package vrrp

import (
	"crypto/subtle"
	"time"
)

//go:generate go tool stringer -type Drop -linecomment

// Drop is why a received packet was discarded.
type Drop uint8

// The drop reasons, in the order keepalived checks them (vrrp_check_packet)
// after the IP header and VRID have been read. The line comment is the
// reason's metric label (ulvs_vrrp_drops_total), from which `go generate`
// writes String.
const (
	DropNone Drop = iota // none
	// Not IPv4 protocol 112, or truncated before the VRRP header.
	DropMalformed // malformed
	// No instance with this VRID on the interface.
	DropUnknownVRID // unknown_vrid
	// Our own advertisement, looped back.
	DropOwn // own
	// Received length differs from what the header announces.
	DropLength // length
	// Multicast advertisement with TTL other than 255.
	DropTTL // ttl
	// VRRP version differs from the instance's.
	DropVersion // version
	// v2 authentication type differs.
	DropAuthType // auth_type
	// v2 PASS password differs.
	DropAuthPass // auth_pass
	// v2 advertisement interval differs (keepalived drops these).
	DropInterval // interval
	// Not an advertisement.
	DropType // type
	// IPv4 total length disagrees with the VRRP length.
	DropTotalLen // total_len
	// Checksum wrong in every accepted variant.
	DropChecksum // checksum
	// Multicast advertisement to a unicast instance, or the reverse.
	DropDestination // destination
	// Unicast source is not a configured peer (check_unicast_src).
	DropSource // source

	// NumDrops is the number of reasons, for sizing arrays. It is no
	// reason, and String names it unknown.
	NumDrops // unknown
)

// Received is an accepted advertisement, as the state machine sees it.
type Received struct {
	Src      [4]byte
	Priority uint8
	Interval time.Duration
	// AddrMismatch is set when the address list differs from the
	// instance's (logged and counted, not fatal: RFC 5798 "MAY verify").
	AddrMismatch bool
}

// check holds what one instance verifies on receipt.
type check struct {
	version   uint8
	authType  uint8
	authPass  [8]byte
	interval  time.Duration // v2: must match
	unicast   bool
	peers     [][4]byte
	checkSrc  bool
	ownSrc    [4]byte
	vips      [][4]byte
	groupAddr [4]byte
}

// verify runs keepalived's receive checks in keepalived's order on p,
// which ipSane has accepted and whose VRID matched.
func (c *check) verify(p Packet) (Received, Drop) {
	if p.Src() == c.ownSrc {
		return Received{}, DropOwn
	}
	hl := p.IPHeaderLen()
	adv := p.Advert()
	// The announced length depends on the version nibble; compute it from
	// the bytes at hand, then insist the buffer holds it.
	want := hl + adv.WantLen()
	if !lengthOK(len(p), want) {
		return Received{}, DropLength
	}
	if !c.unicast && p.TTL() != TTL {
		return Received{}, DropTTL
	}
	if adv.Version() != c.version {
		return Received{}, DropVersion
	}
	if c.version == 2 {
		if adv.AuthType() != c.authType {
			return Received{}, DropAuthType
		}
		if c.authType == AuthPass && subtle.ConstantTimeCompare(adv.AuthData(), c.authPass[:]) != 1 {
			return Received{}, DropAuthPass
		}
		if adv.Interval() != c.interval {
			return Received{}, DropInterval
		}
	}
	if adv.Type() != TypeAdvertisement {
		return Received{}, DropType
	}
	if p.TotalLen() != want {
		return Received{}, DropTotalLen
	}
	msg := p[hl:want]
	src, dst := p.Src(), p.Dst()
	switch {
	case c.version == 2:
		if !checksumOK(msg, src, dst, false) {
			return Received{}, DropChecksum
		}
	default:
		// keepalived's default (pseudo-header), RFC 9568 / v3_checksum_as_v2
		// (none), and keepalived <= 1.3.6 unicast (multicast group in the
		// pseudo-header).
		if !checksumOK(msg, src, dst, true) && !checksumOK(msg, src, dst, false) &&
			!checksumOK(msg, src, c.groupAddr, true) {
			return Received{}, DropChecksum
		}
	}
	if multicast := dst[0]&0xf0 == 0xe0; multicast == c.unicast {
		return Received{}, DropDestination
	}
	r := Received{Src: src, Priority: adv.Priority(), Interval: adv.Interval()}
	if adv.Count() != len(c.vips) {
		r.AddrMismatch = true
	} else {
		for i, v := range c.vips {
			if adv.Addr(i) != v {
				r.AddrMismatch = true
				break
			}
		}
	}
	if c.unicast && c.checkSrc {
		known := false
		for _, peer := range c.peers {
			known = known || peer == src
		}
		if !known {
			return Received{}, DropSource
		}
	}
	return r, DropNone
}

// lengthOK accepts the exact length, or a packet padded up to the
// 60-byte Ethernet minimum (46 bytes of IP) as AF_PACKET readers see it.
func lengthOK(got, want int) bool {
	const minIPInFrame = 60 - 14
	return got == want || (got > want && got <= minIPInFrame)
}
