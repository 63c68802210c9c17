package main

import (
	"errors"
	"flag"
	"io"

	"github.com/ulvs/ulvs/internal/simulate"
)

// simulateCmd is `ulvs simulate`.
func simulateCmd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(out)
	var (
		req   simulate.Request
		reals multiFlag
	)
	fs.StringVar(&req.ConfigPath, "f", "", "keepalived.conf with the virtual servers")
	fs.StringVar(&req.Service, "service", "", "the virtual service, VIP:PORT (default: the config's first; required with --real)")
	fs.StringVar(&req.Proto, "proto", "tcp", "protocol of --service: tcp or udp")
	fs.Var(&reals, "real", "real server ADDR:PORT[=WEIGHT] (instead of -f; repeat)")
	fs.StringVar(&req.Sched, "sched", "wlc", "scheduler with --real")
	fs.StringVar(&req.Flow, "flow", "", "which real server gets this flow, e.g. 'tcp 10.0.1.2:40000 > 10.0.1.100:80'")
	fs.IntVar(&req.N, "n", 10000, "synthetic flows to distribute")
	fs.Uint64Var(&req.Seed, "seed", 1, "seed of the synthetic flows")
	fs.StringVar(&req.Remove, "remove", "", "change: remove real server ADDR:PORT, and count the flows that move")
	fs.StringVar(&req.Add, "add", "", "change: add real server ADDR:PORT[=WEIGHT], and count the flows that move")
	fs.StringVar(&req.Weight, "weight", "", "change: set real server ADDR:PORT=WEIGHT, and count the flows that move")
	fs.BoolVar(&req.JSON, "json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	req.Reals = reals
	return simulate.Run(req, out)
}
