package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The value forms of ip(8) that address, route and rule lines share.

// ruleTakesValue are the ip-rule(8) words ulvs applies that take a value.
var ruleTakesValue = map[string]bool{"from": true, "to": true, "table": true, "lookup": true, "priority": true,
	"preference": true, "pref": true, "goto": true, "fwmark": true, "iif": true, "dev": true, "oif": true,
	"tos": true, "dsfield": true, "suppress_prefixlength": true}

func parsePrefixOrAddr(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()), nil
	}
	a, err := parseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func parseDest(s string) (netip.Prefix, error) {
	if s == "default" {
		return netip.MustParsePrefix("0.0.0.0/0"), nil
	}
	p, err := parsePrefixOrAddr(s)
	if err != nil {
		return p, err
	}
	return p.Masked(), nil
}

// ParseScope reads an rtnetlink scope as ip(8) writes it: a name of
// rt_scopes or a number; "" is global. Routes carry the number; a
// VirtualAddress keeps the word and hostnet reads it with this.
func ParseScope(s string) (uint8, error) {
	switch s {
	case "", "global", "universe":
		return 0, nil
	case "site":
		return 200, nil
	case "link":
		return 253, nil
	case "host":
		return 254, nil
	case "nowhere":
		return 255, nil
	}
	v, err := parseUint(s, 0, 255)
	if err != nil {
		return 0, fmt.Errorf("unknown scope %q", s)
	}
	return uint8(v), nil
}

// parseTable takes a table number or one of the kernel's reserved names;
// other names live in rt_tables, which ulvs does not read.
func parseTable(s string) (int, error) {
	switch s {
	case "main":
		return 254, nil
	case "local":
		return 255, nil
	case "default":
		return 253, nil
	}
	v, err := parseUint(s, 1, 1<<32-1)
	if err != nil {
		return 0, fmt.Errorf("write the table's number (named tables from rt_tables are not read by ulvs)")
	}
	return int(v), nil
}

func parseProtocol(s string) (int, error) {
	switch s {
	case "kernel":
		return 2, nil
	case "boot":
		return 3, nil
	case "static":
		return 4, nil
	case "keepalived":
		return 18, nil
	}
	v, err := parseUint(s, 0, 255)
	if err != nil {
		return 0, fmt.Errorf("write a protocol number or kernel, boot, static, keepalived")
	}
	return int(v), nil
}

// parseMark takes MARK or MARK/MASK, each decimal or 0x hex.
func parseMark(s string) (mark, mask uint32, err error) {
	m, k, hasMask := strings.Cut(s, "/")
	mv, err := strconv.ParseUint(m, 0, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("not a 32-bit number")
	}
	mask = ^uint32(0)
	if hasMask {
		kv, err := strconv.ParseUint(k, 0, 32)
		if err != nil {
			return 0, 0, fmt.Errorf("mask is not a 32-bit number")
		}
		mask = uint32(kv)
	}
	return uint32(mv), mask, nil
}
