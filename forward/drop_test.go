package forward

import (
	"testing"

	"github.com/ulvs/ulvs/internal/labeltest"
)

// TestDropReasonLabels pins the ulvs_drops_total reason labels: they are
// user-visible (dashboards, alerts), so a rename must be deliberate, and
// noted in docs/operations.md.
func TestDropReasonLabels(t *testing.T) {
	labeltest.Check(t, NumDropReasons, []string{"none", "not_ours", "short_frame", "bad_arp", "short_ipv4",
		"bad_ip_version", "bad_ihl", "bad_total_length", "bad_ip_checksum", "bad_ip_options", "source_route",
		"martian_source", "short_tcp", "short_udp", "short_icmp", "bad_icmp_checksum", "bad_icmp_quote",
		"fragment", "ttl_expired", "frag_needed", "too_big", "mtu_too_small", "no_room", "nat_unsupported",
		"truncated", "vlan_offloaded", "no_route", "neigh_miss"}, true)
}
