package simulate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/internal/config"
	"github.com/ulvs/ulvs/internal/inspect"
)

// Report is what `ulvs simulate` prints.
type Report struct {
	Service   string `json:"service"`
	Scheduler string `json:"scheduler"`
	// Flow answers --flow: the real server a fresh director gives it.
	Flow *FlowAnswer `json:"flow,omitempty"`
	// Distribution is the spread of Flows synthetic new connections.
	Flows        int         `json:"flows"`
	Seed         uint64      `json:"seed"`
	Distribution []Share     `json:"distribution"`
	Dropped      int         `json:"dropped,omitempty"`
	Change       *Disruption `json:"change,omitempty"`
	Note         string      `json:"note,omitempty"`
}

// FlowAnswer is the real server one flow gets.
type FlowAnswer struct {
	Flow string `json:"flow"`
	Real string `json:"real"`
	How  string `json:"how"`
}

// Request is one `ulvs simulate` run, as cmd/ulvs parses it from flags.
type Request struct {
	ConfigPath string   // -f: keepalived.conf with the virtual servers
	Service    string   // --service VIP:PORT (default: the config's first; required with --real)
	Proto      string   // --proto of --service: tcp or udp
	Reals      []string // --real ADDR:PORT[=WEIGHT], instead of -f
	Sched      string   // --sched with --real
	Flow       string   // --flow: a flow whose real server to name
	N          int      // -n: synthetic flows to distribute
	Seed       uint64   // --seed of the synthetic flows
	Remove     string   // --remove: a change, real server ADDR:PORT removed
	Add        string   // --add: a change, real server ADDR:PORT[=WEIGHT] added
	Weight     string   // --weight: a change, ADDR:PORT=WEIGHT
	JSON       bool     // --json
}

// Run is `ulvs simulate`: it answers req and writes the report to out.
func Run(req Request, out io.Writer) error {
	if req.N < 1 || req.N > 10_000_000 {
		return fmt.Errorf("-n %d: use 1 to 10000000 flows", req.N)
	}
	cfg, err := pickService(req.ConfigPath, req.Service, req.Proto, req.Reals, req.Sched)
	if err != nil {
		return err
	}
	rep := Report{Service: cfg.Key.String(), Scheduler: cfg.Scheduler, Flows: req.N, Seed: req.Seed}
	if rep.Scheduler == "" {
		rep.Scheduler = balancer.DefaultScheduler
	}
	if req.Flow != "" {
		if rep.Flow, err = oneFlow(cfg, req.Flow); err != nil {
			return err
		}
	}
	flows := Flows(cfg.Key, req.N, req.Seed)
	assigned, err := Assign(cfg, flows)
	if err != nil {
		return err
	}
	rep.Distribution, rep.Dropped = Distribution(cfg, assigned)
	if after, change, err := applyChange(cfg, req.Remove, req.Add, req.Weight); err != nil {
		return err
	} else if change != "" {
		d, err := Compare(cfg, after, change, flows)
		if err != nil {
			return err
		}
		rep.Change = &d
	}
	if !FlowHashed(rep.Scheduler) {
		rep.Note = fmt.Sprintf("%s is not flow-hashed: a flow's server depends on the flows before it (order, open connections), "+
			"so the numbers replay the same %d flows in the same order on a fresh director. Established connections never move on a change: "+
			"the connection table pins them; only new connections are placed anew.", rep.Scheduler, req.N)
	}
	if req.JSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printReport(out, &rep)
	return nil
}

func pickService(path, name, proto string, reals []string, sched string) (balancer.ServiceConfig, error) {
	if path != "" && len(reals) > 0 {
		return balancer.ServiceConfig{}, errors.New("give either -f or --real, not both")
	}
	var key balancer.ServiceKey
	if name != "" {
		ap, err := netip.ParseAddrPort(name)
		if err != nil {
			return balancer.ServiceConfig{}, fmt.Errorf("--service %q: write VIP:PORT", name)
		}
		key = balancer.ServiceKey{Addr: ap.Addr(), Port: ap.Port(), Proto: balancer.TCP}
		switch strings.ToLower(proto) {
		case "tcp":
		case "udp":
			key.Proto = balancer.UDP
		default:
			return balancer.ServiceConfig{}, fmt.Errorf("--proto %q: use tcp or udp", proto)
		}
	}
	if path == "" {
		if len(reals) == 0 || name == "" {
			return balancer.ServiceConfig{}, errors.New("give a keepalived.conf with -f, or --service VIP:PORT with --real ADDR:PORT for each real server")
		}
		sc := balancer.ServiceConfig{Key: key, Scheduler: sched}
		for _, r := range reals {
			rc, err := inspect.ParseReal(r)
			if err != nil {
				return sc, err
			}
			sc.Reals = append(sc.Reals, rc)
		}
		return sc, nil
	}
	c, _, err := config.Load(path, config.Options{})
	if err != nil {
		return balancer.ServiceConfig{}, err
	}
	svcs, err := c.Services()
	if err != nil {
		return balancer.ServiceConfig{}, err
	}
	var names []string
	for _, s := range svcs {
		if name == "" || (s.Key.Addr == key.Addr && s.Key.Port == key.Port && s.Key.Proto == key.Proto) {
			return s, nil
		}
		names = append(names, s.Key.String())
	}
	if len(svcs) == 0 {
		return balancer.ServiceConfig{}, fmt.Errorf("%s has no virtual_server", path)
	}
	return balancer.ServiceConfig{}, fmt.Errorf("no service %v %s in %s; it has: %s", key.Proto, name, path, strings.Join(names, ", "))
}

func applyChange(cfg balancer.ServiceConfig, remove, add, weight string) (balancer.ServiceConfig, string, error) {
	set := 0
	for _, s := range []string{remove, add, weight} {
		if s != "" {
			set++
		}
	}
	if set > 1 {
		return cfg, "", errors.New("give one change at a time: --remove, --add or --weight")
	}
	switch {
	case remove != "":
		ap, err := netip.ParseAddrPort(remove)
		if err != nil {
			return cfg, "", fmt.Errorf("--remove %q: write ADDR:PORT", remove)
		}
		after, err := Remove(cfg, ap)
		return after, "remove " + remove, err
	case add != "":
		rc, err := inspect.ParseReal(add)
		if err != nil {
			return cfg, "", err
		}
		after, err := Add(cfg, netip.AddrPortFrom(rc.Addr, rc.Port), rc.Weight)
		return after, fmt.Sprintf("add %v weight %d", netip.AddrPortFrom(rc.Addr, rc.Port), rc.Weight), err
	case weight != "":
		rc, err := inspect.ParseReal(weight)
		if err != nil || !strings.Contains(weight, "=") {
			return cfg, "", fmt.Errorf("--weight %q: write ADDR:PORT=WEIGHT", weight)
		}
		after, err := SetWeight(cfg, netip.AddrPortFrom(rc.Addr, rc.Port), rc.Weight)
		return after, fmt.Sprintf("weight of %v to %d", netip.AddrPortFrom(rc.Addr, rc.Port), rc.Weight), err
	}
	return cfg, "", nil
}

// oneFlow answers --flow with Table.Peek on a fresh table: what the next
// Schedule would return, without changing anything.
func oneFlow(cfg balancer.ServiceConfig, desc string) (*FlowAnswer, error) {
	sp, err := inspect.ParseSpec(desc)
	if err != nil {
		return nil, err
	}
	tab, err := balancer.NewTable(nil, []balancer.ServiceConfig{cfg})
	if err != nil {
		return nil, err
	}
	proto := balancer.TCP
	if sp.Proto == "udp" {
		proto = balancer.UDP
	}
	f := balancer.Flow{Proto: proto, Src: sp.Src.Addr(), SrcPort: sp.Src.Port(), Dst: sp.Dst.Addr(), DstPort: sp.Dst.Port()}
	svc, r, ok := tab.Peek(&f)
	if svc != nil && !ok {
		// The scheduler has no side-effect-free answer; on a table built
		// for this question alone, Pick's side effects are harmless.
		svc, r = tab.Pick(&f)
	}
	a := &FlowAnswer{Flow: fmt.Sprintf("%s %v > %v", sp.Proto, sp.Src, sp.Dst)}
	switch {
	case svc == nil:
		return nil, fmt.Errorf("--flow %q is not addressed to %v", desc, cfg.Key)
	case svc.Scheduler == "twos" && r != nil:
		a.Real = r.AddrPort().String()
		a.How = "twos draws at random: this is one draw; run the distribution for the odds"
	case r == nil:
		a.How = "no real server is available (weights 0?)"
	default:
		a.Real = r.AddrPort().String()
		a.How = "the scheduler's choice for this flow on a fresh director"
		if !FlowHashed(svc.Scheduler) {
			a.How = "the first new connection on a fresh director gets this server; later ones depend on the traffic before them"
		}
		if cfg.Persistence > 0 {
			a.How += "; with persistence, the client then keeps it for " + cfg.Persistence.String()
		}
	}
	return a, nil
}

func printReport(w io.Writer, r *Report) {
	fmt.Fprintf(w, "service %s, scheduler %s\n", r.Service, r.Scheduler)
	if r.Flow != nil {
		fmt.Fprintf(w, "\nflow %s -> %s\n  %s\n", r.Flow.Flow, r.Flow.Real, r.Flow.How)
	}
	fmt.Fprintf(w, "\n%d new connections (synthetic clients, seed %d), none closing:\n", r.Flows, r.Seed)
	fmt.Fprintf(w, "  %-22s %6s %9s %8s %8s\n", "real server", "weight", "flows", "share", "ideal")
	for _, s := range r.Distribution {
		fmt.Fprintf(w, "  %-22s %6d %9d %7.2f%% %7.2f%%\n", s.Real, s.Weight, s.Flows, s.Pct, s.IdealPct)
	}
	if r.Dropped > 0 {
		fmt.Fprintf(w, "  %-22s %6s %9d\n", "(dropped)", "", r.Dropped)
	}
	if c := r.Change; c != nil {
		fmt.Fprintf(w, "\nchange: %s\n  %d of %d flows move to another real server (%.2f%%); the least possible is %.2f%%\n",
			c.Change, c.Moved, c.Flows, c.MovedPct, c.MinimumPct)
	}
	if r.Note != "" {
		fmt.Fprintf(w, "\nnote: %s\n", r.Note)
	}
}
