package neigh

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// FrameLen is the length of an Ethernet ARP frame for IPv4 without padding:
// 14 bytes of Ethernet header and 28 of ARP.
const FrameLen = 42

// Offsets into an Ethernet frame carrying ARP for IPv4 over Ethernet.
const (
	offEthDst    = 0
	offEthSrc    = 6
	offEtherType = 12
	offHType     = 14
	offPType     = 16
	offHLen      = 18
	offPLen      = 19
	offOp        = 20
	offSHA       = 22
	offSPA       = 28
	offTHA       = 32
	offTPA       = 38
)

const (
	etherTypeARP  = 0x0806
	etherTypeIPv4 = 0x0800
	hwEthernet    = 1
	opRequest     = 1
	opReply       = 2
)

var broadcastMAC = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// VIPSet is the set of virtual addresses this director answers ARP for.
// Readers (the packet loop) never lock; writers (configuration, VRRP)
// replace an immutable snapshot. The zero value is an empty set.
type VIPSet struct {
	mu  sync.Mutex // serialises writers
	cur atomic.Pointer[map[[4]byte]struct{}]
}

// Contains reports whether vip is in the set. It does not allocate.
func (s *VIPSet) Contains(vip [4]byte) bool {
	m := s.cur.Load()
	if m == nil {
		return false
	}
	_, ok := (*m)[vip]
	return ok
}

// SetVIPs replaces the whole set.
func (s *VIPSet) SetVIPs(vips ...[4]byte) {
	m := make(map[[4]byte]struct{}, len(vips))
	for _, v := range vips {
		m[v] = struct{}{}
	}
	s.mu.Lock()
	s.cur.Store(&m)
	s.mu.Unlock()
}

// Claim adds vip and reports whether it was absent.
func (s *VIPSet) Claim(vip [4]byte) bool {
	return s.update(vip, true)
}

// Release removes vip and reports whether it was present.
func (s *VIPSet) Release(vip [4]byte) bool {
	return s.update(vip, false)
}

func (s *VIPSet) update(vip [4]byte, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	var m map[[4]byte]struct{}
	if p := s.cur.Load(); p != nil {
		m = *p
	}
	if _, ok := m[vip]; ok == add {
		return false
	}
	next := maps.Clone(m)
	if next == nil {
		next = make(map[[4]byte]struct{}, 1)
	}
	if add {
		next[vip] = struct{}{}
	} else {
		delete(next, vip)
	}
	s.cur.Store(&next)
	return true
}

// List returns the VIPs in ascending order.
func (s *VIPSet) List() [][4]byte {
	p := s.cur.Load()
	if p == nil {
		return nil
	}
	out := slices.Collect(maps.Keys(*p))
	slices.SortFunc(out, func(a, b [4]byte) int { return slices.Compare(a[:], b[:]) })
	return out
}

// Reply answers an ARP request for one of vips. frame is a received
// Ethernet frame, mac the receiving interface's address. When frame is an
// ARP request for a VIP in the set, addressed to broadcast or to mac, Reply
// writes the ARP reply into dst and returns its length (FrameLen);
// otherwise, or when dst is shorter than FrameLen, it returns 0.
//
// Gratuitous requests (sender address equal to the target) are
// announcements by another host, not questions, and get no answer. Probes
// from address 0.0.0.0 (RFC 5227) are answered, which defends the VIP.
// Reply does not allocate.
func Reply(dst, frame []byte, mac [6]byte, vips *VIPSet) int {
	if len(frame) < FrameLen || len(dst) < FrameLen {
		return 0
	}
	if be16(frame[offEtherType:]) != etherTypeARP ||
		be16(frame[offHType:]) != hwEthernet || be16(frame[offPType:]) != etherTypeIPv4 ||
		frame[offHLen] != 6 || frame[offPLen] != 4 || be16(frame[offOp:]) != opRequest {
		return 0
	}
	ethDst := [6]byte(frame[offEthDst : offEthDst+6])
	if ethDst != broadcastMAC && ethDst != mac {
		return 0
	}
	tpa := [4]byte(frame[offTPA : offTPA+4])
	spa := [4]byte(frame[offSPA : offSPA+4])
	if spa == tpa || !vips.Contains(tpa) {
		return 0
	}
	var sha [6]byte
	copy(sha[:], frame[offSHA:offSHA+6])
	writeARP(dst, sha, mac, opReply, mac, tpa, sha, spa)
	return FrameLen
}

// Gratuitous writes a gratuitous ARP for vip owned by mac into dst and
// returns its length, or 0 when dst is shorter than FrameLen. The frame is
// byte-for-byte what keepalived sends: a broadcast request whose sender and
// target address are both vip and whose target MAC is broadcast.
func Gratuitous(dst []byte, mac [6]byte, vip [4]byte) int {
	if len(dst) < FrameLen {
		return 0
	}
	writeARP(dst, broadcastMAC, mac, opRequest, mac, vip, broadcastMAC, vip)
	return FrameLen
}

// Request writes a broadcast ARP request asking for target's MAC into dst
// and returns its length, or 0 when dst is too short.
func Request(dst []byte, mac [6]byte, sender, target [4]byte) int {
	if len(dst) < FrameLen {
		return 0
	}
	writeARP(dst, broadcastMAC, mac, opRequest, mac, sender, [6]byte{}, target)
	return FrameLen
}

func writeARP(b []byte, ethDst, ethSrc [6]byte, op uint16, sha [6]byte, spa [4]byte, tha [6]byte, tpa [4]byte) {
	copy(b[offEthDst:], ethDst[:])
	copy(b[offEthSrc:], ethSrc[:])
	put16(b[offEtherType:], etherTypeARP)
	put16(b[offHType:], hwEthernet)
	put16(b[offPType:], etherTypeIPv4)
	b[offHLen] = 6
	b[offPLen] = 4
	put16(b[offOp:], op)
	copy(b[offSHA:], sha[:])
	copy(b[offSPA:], spa[:])
	copy(b[offTHA:], tha[:])
	copy(b[offTPA:], tpa[:])
}

func be16(b []byte) uint16     { return uint16(b[0])<<8 | uint16(b[1]) }
func put16(b []byte, v uint16) { b[0], b[1] = byte(v>>8), byte(v) }
