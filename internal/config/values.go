package config

import (
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// lvsMaxTimeout is keepalived's LVS_MAX_TIMEOUT: 31 days, in seconds.
const lvsMaxTimeout = 86400 * 31

// parseUint parses a decimal integer in [lo, hi].
func parseUint(s string, lo, hi uint64) (uint64, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	if v < lo || v > hi {
		return 0, fmt.Errorf("%d is outside %d..%d", v, lo, hi)
	}
	return v, nil
}

// uintArg parses n's argument i as an integer in [lo, hi], reporting an
// error that shows usage.
func (d *decoder) uintArg(n *Node, i int, lo, hi uint64, usage string) (uint64, bool) {
	v, err := parseUint(n.Args[i], lo, hi)
	if err != nil {
		d.errorf(n, "write "+usage, "%v", err)
		return 0, false
	}
	return v, true
}

// uintKeyword reads the single unsigned argument of keyword n, within
// lo..hi: form is the keyword's shape, shown for a wrong argument count,
// usage what to write instead of a bad value.
func (d *decoder) uintKeyword(n *Node, lo, hi uint64, form, usage string) (int, bool) {
	if !d.args(n, 1, 1, form) {
		return 0, false
	}
	v, ok := d.uintArg(n, 0, lo, hi, usage)
	return int(v), ok
}

// maxTimerSeconds keeps timers inside time.Duration and sane.
const maxTimerSeconds = 1 << 31

// parseTimer parses keepalived's <TIMER>: seconds, with up to six
// fractional digits (microsecond resolution).
func parseTimer(s string) (time.Duration, error) {
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" && !hasFrac {
		return 0, fmt.Errorf("empty time")
	}
	if whole == "" {
		whole = "0"
	}
	sec, err := strconv.ParseUint(whole, 10, 64)
	if err != nil || (hasFrac && (frac == "" || strings.Trim(frac, "0123456789") != "")) {
		return 0, fmt.Errorf("%q is not a number of seconds", s)
	}
	if sec > maxTimerSeconds {
		return 0, fmt.Errorf("%q seconds is too long (more than %d)", s, maxTimerSeconds)
	}
	if len(frac) > 6 {
		return 0, fmt.Errorf("%q has more than 6 decimals; the resolution is one microsecond", s)
	}
	us, _ := strconv.ParseUint((frac + "000000")[:6], 10, 64)
	return time.Duration(sec)*time.Second + time.Duration(us)*time.Microsecond, nil
}

// parseBool parses keepalived's <BOOL>.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "on", "true", "yes":
		return true, nil
	case "off", "false", "no":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean", s)
}

// optionalBool parses an optional <BOOL> argument; no argument means true.
func (d *decoder) optionalBool(n *Node) (bool, bool) {
	if len(n.Args) == 0 {
		return true, true
	}
	d.args(n, 0, 1, n.Keyword+" [on|off|true|false|yes|no]")
	v, err := parseBool(n.Args[0])
	if err != nil {
		d.errorf(n, "write "+n.Keyword+" alone, or with on|off|true|false|yes|no", "%v", err)
		return false, false
	}
	return v, true
}

// parsePort parses a TCP/UDP/SCTP port number.
func parsePort(s string) (uint16, error) {
	v, err := parseUint(s, 0, 65535)
	if err != nil {
		return 0, fmt.Errorf("port %s", err)
	}
	return uint16(v), nil
}

// parseAddr parses an IPv4 or IPv6 address (no zone), unmapping
// IPv4-mapped IPv6 forms.
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	return a.Unmap(), nil
}

// maskBits returns the prefix length of a contiguous IPv4 netmask.
func maskBits(s string) (int, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return 0, fmt.Errorf("%q is not an IPv4 netmask", s)
	}
	b := a.As4()
	m := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	ones := bits.LeadingZeros32(^m)
	if m<<ones != 0 || ones == 0 {
		return 0, fmt.Errorf("netmask %s is not a solid run of leading ones", s)
	}
	return ones, nil
}
