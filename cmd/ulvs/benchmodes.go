package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/ulvs/ulvs/bench"
)

// report is what every ulvs bench mode writes: a table, JSON and a plot.
type report interface {
	WriteTable(io.Writer) error
	WriteJSON(io.Writer) error
	WriteSVG(io.Writer) error
}

// writeReport writes rep as --svg, --json and the table ask.
func writeReport(rep report, jsonOut, svg string, out io.Writer) error {
	if svg != "" {
		if err := bench.WriteFile(svg, rep.WriteSVG); err != nil {
			return fmt.Errorf("--svg: %w", err)
		}
	}
	switch jsonOut {
	case "-":
		return rep.WriteJSON(out)
	case "":
	default:
		if err := bench.WriteFile(jsonOut, rep.WriteJSON); err != nil {
			return fmt.Errorf("--json: %w", err)
		}
	}
	return rep.WriteTable(out)
}

// sweepCmd runs `ulvs bench --latency-sweep RATES`.
func sweepCmd(ctx context.Context, c bench.Config, rates, pace, jsonOut, svg string, out io.Writer) error {
	if pace != "" {
		return errors.New("--latency-sweep sets the pace itself; drop --pace")
	}
	r, err := bench.ParseRates(rates)
	if err != nil {
		return err
	}
	c.Progress = nil
	if isTerminal(os.Stderr) {
		n := len(c.Subjects)
		if n == 0 {
			n = len(bench.AllSubjects())
		}
		fmt.Fprintf(os.Stderr, "latency sweep: %d rates x %d subjects x %d windows of %v; this takes a while\n", len(r), n, c.Runs, c.Duration)
	}
	rep, err := bench.RunSweep(ctx, c, r)
	if err != nil {
		return err
	}
	return writeReport(rep, jsonOut, svg, out)
}

// closedLoopCmd runs `ulvs bench --http` and/or `--bulk`.
func closedLoopCmd(ctx context.Context, c bench.Config, l bench.ClosedLoop, conns, streams, jsonOut, svg string, out io.Writer) error {
	var err error
	if l.Conns, err = parseCounts("--conns", conns); err != nil {
		return err
	}
	if l.Streams, err = parseCounts("--streams", streams); err != nil {
		return err
	}
	c.Progress = nil
	rep, err := bench.RunClosedLoop(ctx, c, l)
	if err != nil {
		return err
	}
	return writeReport(rep, jsonOut, svg, out)
}

// parseCounts parses a comma-separated list of positive counts.
func parseCounts(flagName, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 10000 {
			return nil, fmt.Errorf("%s %q: want comma-separated counts from 1 to 10000, e.g. 4,32", flagName, s)
		}
		out = append(out, n)
	}
	return out, nil
}
