// Package simulate answers capacity and change questions about a
// configuration without sending a packet: which real server a flow gets,
// how N new flows spread over the real servers, and how many flows move to
// another server when a server is removed or added or a weight changes
// (the disruption measure of the Maglev paper, Eisenbud et al., NSDI'16,
// section 5.3). Flows are scheduled by the balancer itself: a fresh Table
// and Director per configuration, one SYN per flow through Worker.Inbound,
// so persistence and every scheduler behave as in the data plane.
package simulate

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/balancer/conntrack"
)

// Flows returns n distinct synthetic client flows to svc's address and
// port: client addresses from 100.64.0.0/10 and ports from 1024 up, drawn
// from a PCG seeded with seed, so that runs repeat.
func Flows(key balancer.ServiceKey, n int, seed uint64) []balancer.Flow {
	rng := rand.New(rand.NewPCG(seed, 0x756c7673))
	seen := make(map[[6]byte]bool, n)
	out := make([]balancer.Flow, 0, n)
	for len(out) < n {
		a := [4]byte{100, 64 + byte(rng.IntN(64)), byte(rng.IntN(256)), byte(rng.IntN(256))}
		port := uint16(1024 + rng.IntN(65536-1024))
		k := [6]byte{a[0], a[1], a[2], a[3], byte(port >> 8), byte(port)}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, balancer.Flow{Proto: key.Proto, Src: netip.AddrFrom4(a), SrcPort: port, Dst: key.Addr, DstPort: key.Port})
	}
	return out
}

// Assign schedules flows, in order, as new connections of the service
// cfg describes on a fresh director, none of them closing, and returns
// each flow's real server ("ADDR:PORT"; "" when the flow was dropped).
//
// For the flow-hashed schedulers (sh, dh, mh) the answer is a function of
// the flow alone. For the others it depends on what came before: rr and
// wrr on the number of earlier flows, lc, wlc, sed, nq, fo and ovf on the
// connections the earlier flows opened (all still open here), lblc and
// lblcr on the destination cache, twos on a random draw.
func Assign(cfg balancer.ServiceConfig, flows []balancer.Flow) ([]string, error) {
	if !cfg.Key.Addr.Is4() {
		return nil, fmt.Errorf("simulate: service %v: only IPv4 services can be simulated", cfg.Key)
	}
	tab, err := balancer.NewTable(nil, []balancer.ServiceConfig{cfg})
	if err != nil {
		return nil, err
	}
	dir, err := conntrack.New(conntrack.Config{MaxConns: 2*len(flows) + 1024})
	if err != nil {
		return nil, err
	}
	w := dir.NewWorker()
	out := make([]string, len(flows))
	for i, f := range flows {
		t := conntrack.Tuple4{Proto: f.Proto, Src: f.Src.As4(), Dst: f.Dst.As4(), SrcPort: f.SrcPort, DstPort: f.DstPort}
		res := w.Inbound(tab, t, conntrack.TCPSyn, 1000)
		if res.Action == conntrack.ActionForward && res.Real != nil {
			out[i] = res.Real.AddrPort().String()
		}
	}
	return out, nil
}

// Share is one real server's part of a distribution.
type Share struct {
	Real   string  `json:"real"`
	Weight uint32  `json:"weight"`
	Flows  int     `json:"flows"`
	Pct    float64 `json:"percent"`
	// IdealPct is the server's weight share of the service, the split a
	// perfectly weighted scheduler would give.
	IdealPct float64 `json:"ideal_percent"`
}

// Distribution counts the flows per real server, in configuration order;
// Dropped counts flows no server took.
func Distribution(cfg balancer.ServiceConfig, assigned []string) (shares []Share, dropped int) {
	var total uint32
	for _, r := range cfg.Reals {
		total += r.Weight
	}
	count := map[string]int{}
	for _, a := range assigned {
		if a == "" {
			dropped++
		}
		count[a]++
	}
	for _, r := range cfg.Reals {
		name := realName(cfg, r)
		s := Share{Real: name, Weight: r.Weight, Flows: count[name]}
		if len(assigned) > 0 {
			s.Pct = 100 * float64(s.Flows) / float64(len(assigned))
		}
		if total > 0 {
			s.IdealPct = 100 * float64(r.Weight) / float64(total)
		}
		shares = append(shares, s)
	}
	return shares, dropped
}

// realName is the name Assign gives r: the table normalises a port of 0
// (NAT) and every DR/TUN port to the service port.
func realName(cfg balancer.ServiceConfig, r balancer.RealConfig) string {
	port := r.Port
	if port == 0 || (r.Method != balancer.NAT && cfg.Key.Port != 0) {
		port = cfg.Key.Port
	}
	return netip.AddrPortFrom(r.Addr, port).String()
}

// Disruption is how a change moves flows.
type Disruption struct {
	Change string `json:"change"`
	Flows  int    `json:"flows"`
	// Moved counts the flows whose real server differs after the change.
	Moved    int     `json:"moved"`
	MovedPct float64 `json:"moved_percent"`
	// MinimumPct is the least any scheduler must move: the removed
	// server's flows, or the share the added (or reweighted) server must
	// gain or lose to match the weights.
	MinimumPct float64 `json:"minimum_percent"`
}

// Compare runs the same flows through the service before and after a
// change and counts those that land elsewhere.
func Compare(before, after balancer.ServiceConfig, change string, flows []balancer.Flow) (Disruption, error) {
	a, err := Assign(before, flows)
	if err != nil {
		return Disruption{}, err
	}
	b, err := Assign(after, flows)
	if err != nil {
		return Disruption{}, err
	}
	d := Disruption{Change: change, Flows: len(flows)}
	for i := range a {
		if a[i] != b[i] {
			d.Moved++
		}
	}
	if len(flows) > 0 {
		d.MovedPct = 100 * float64(d.Moved) / float64(len(flows))
	}
	d.MinimumPct = minimumMove(before, after)
	return d, nil
}

// minimumMove is the total variation distance between the weight shares
// before and after: the fraction of flows that must change servers for
// each server to hold its weighted share.
func minimumMove(before, after balancer.ServiceConfig) float64 {
	share := func(c balancer.ServiceConfig) map[string]float64 {
		var total float64
		for _, r := range c.Reals {
			total += float64(r.Weight)
		}
		m := map[string]float64{}
		for _, r := range c.Reals {
			if total > 0 {
				m[realName(c, r)] = float64(r.Weight) / total
			}
		}
		return m
	}
	sb, sa := share(before), share(after)
	var d float64
	keys := map[string]bool{}
	for k := range sb {
		keys[k] = true
	}
	for k := range sa {
		keys[k] = true
	}
	for k := range keys {
		if x := sb[k] - sa[k]; x > 0 {
			d += x
		}
	}
	return 100 * d
}

// Remove returns cfg without the real server at ap.
func Remove(cfg balancer.ServiceConfig, ap netip.AddrPort) (balancer.ServiceConfig, error) {
	i := find(cfg, ap)
	if i < 0 {
		return cfg, fmt.Errorf("simulate: %v is not a real server of %v; list them with ulvs simulate without a change", ap, cfg.Key)
	}
	cfg.Reals = slices.Delete(slices.Clone(cfg.Reals), i, i+1)
	return cfg, nil
}

// Add returns cfg with another real server, with the method of the first.
func Add(cfg balancer.ServiceConfig, ap netip.AddrPort, weight uint32) (balancer.ServiceConfig, error) {
	if find(cfg, ap) >= 0 {
		return cfg, fmt.Errorf("simulate: %v is already a real server of %v", ap, cfg.Key)
	}
	r := balancer.RealConfig{Addr: ap.Addr(), Port: ap.Port(), Weight: weight}
	if len(cfg.Reals) > 0 {
		r.Method = cfg.Reals[0].Method
	}
	cfg.Reals = append(slices.Clone(cfg.Reals), r)
	return cfg, nil
}

// SetWeight returns cfg with the weight of the real server at ap changed.
func SetWeight(cfg balancer.ServiceConfig, ap netip.AddrPort, weight uint32) (balancer.ServiceConfig, error) {
	i := find(cfg, ap)
	if i < 0 {
		return cfg, fmt.Errorf("simulate: %v is not a real server of %v", ap, cfg.Key)
	}
	cfg.Reals = slices.Clone(cfg.Reals)
	cfg.Reals[i].Weight = weight
	return cfg, nil
}

func find(cfg balancer.ServiceConfig, ap netip.AddrPort) int {
	for i, r := range cfg.Reals {
		if r.Addr == ap.Addr() && (r.Port == ap.Port() || realName(cfg, r) == ap.String()) {
			return i
		}
	}
	return -1
}

// FlowHashed reports whether a scheduler's choice depends on the flow
// alone (and the servers), not on the order or load of earlier flows.
func FlowHashed(sched string) bool {
	switch sched {
	case "sh", "dh", "mh":
		return true
	}
	return false
}
