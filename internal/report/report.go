// Package report is the JSON counter report `ulvs run` prints on one line
// when it stops: the type, how to summarise its drops, and how to find it
// in a process's output.
//
// It is a leaf (standard library only) so that what reads the report (the
// bench harness, the demo, the end-to-end tests) does not link the daemon
// that writes it.
package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Report is a director's counters as `ulvs run` prints them (JSON) when it
// stops, and as the demo shows them.
type Report struct {
	Services []Service `json:"services"`
	Loop     Loop      `json:"loop"`
}

// Service is one virtual service's counters.
type Service struct {
	Service   string `json:"service"`
	Scheduler string `json:"scheduler"`
	Reals     []Real `json:"reals"`
}

// Real is one real server's counters, ipvsadm --stats style.
type Real struct {
	Addr     string `json:"addr"`
	Method   string `json:"method"`
	Weight   uint32 `json:"weight"`
	Active   int32  `json:"active_conns"`
	Inactive int32  `json:"inactive_conns"`
	Conns    uint64 `json:"conns"`
	InPkts   uint64 `json:"in_pkts"`
	OutPkts  uint64 `json:"out_pkts"`
	InBytes  uint64 `json:"in_bytes"`
	OutBytes uint64 `json:"out_bytes"`
}

// Loop is the data plane's counters; drops by reason name, zeros left out.
type Loop struct {
	RxFrames      uint64            `json:"rx_frames"`
	TxFrames      uint64            `json:"tx_frames"`
	Inbound       uint64            `json:"inbound"`
	Outbound      uint64            `json:"outbound"`
	ARPReplies    uint64            `json:"arp_replies"`
	ICMPSent      uint64            `json:"icmp_sent"`
	RingDrops     uint64            `json:"ring_drops"`
	TxRingFull    uint64            `json:"tx_ring_full"`
	Drops         map[string]uint64 `json:"drops"`
	BalancerDrops map[string]uint64 `json:"balancer_drops"`
}

// DropSummary lists the non-zero drop counters, most frequent first.
func (l Loop) DropSummary() string {
	type kv struct {
		k string
		v uint64
	}
	var all []kv
	for k, v := range l.Drops {
		all = append(all, kv{k, v})
	}
	for k, v := range l.BalancerDrops {
		all = append(all, kv{"balancer:" + k, v})
	}
	if len(all) == 0 {
		return "none"
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || all[i].v == all[j].v && all[i].k < all[j].k })
	var s []string
	for _, e := range all {
		s = append(s, fmt.Sprintf("%s=%d", e.k, e.v))
	}
	return strings.Join(s, " ")
}

// Parse finds the report in the output of `ulvs run`: the line that starts
// with "{" and decodes as a Report. Log lines around it are skipped.
func Parse(output string) (Report, error) {
	var r Report
	sc := bufio.NewScanner(strings.NewReader(output))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	found := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &r) == nil {
			found = true
		}
	}
	if !found {
		return r, fmt.Errorf("the director printed no report; its output:\n%s", output)
	}
	return r, nil
}
