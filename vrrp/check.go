package vrrp

import (
	"crypto/subtle"
	"time"
)

// Drop is why a received packet was discarded.
type Drop uint8

// The drop reasons, in the order keepalived checks them (vrrp_check_packet)
// after the IP header and VRID have been read.
const (
	DropNone        Drop = iota
	DropMalformed        // not IPv4 protocol 112, or truncated before the VRRP header
	DropUnknownVRID      // no instance with this VRID on the interface
	DropOwn              // our own advertisement, looped back
	DropLength           // received length differs from what the header announces
	DropTTL              // multicast advertisement with TTL other than 255
	DropVersion          // VRRP version differs from the instance's
	DropAuthType         // v2 authentication type differs
	DropAuthPass         // v2 PASS password differs
	DropInterval         // v2 advertisement interval differs (keepalived drops these)
	DropType             // not an advertisement
	DropTotalLen         // IPv4 total length disagrees with the VRRP length
	DropChecksum         // checksum wrong in every accepted variant
	DropDestination      // multicast advertisement to a unicast instance, or the reverse
	DropSource           // unicast source is not a configured peer (check_unicast_src)
	NumDrops
)

var dropNames = [NumDrops]string{"none", "malformed", "unknown_vrid", "own", "length", "ttl", "version",
	"auth_type", "auth_pass", "interval", "type", "total_len", "checksum", "destination", "source"}

// String is the reason's metric label.
func (d Drop) String() string {
	if d < NumDrops {
		return dropNames[d]
	}
	return "unknown"
}

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
