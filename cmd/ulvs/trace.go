package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ulvs/ulvs/internal/admin"
	"github.com/ulvs/ulvs/internal/config"
	"github.com/ulvs/ulvs/internal/inspect"
)

// traceCmd is `ulvs trace`: it attaches to the running director and
// shows sampled rewrites as ulvs inspect does, as JSON lines, or into a
// pcapng file.
func traceCmd(args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("trace", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		fmt.Fprint(errOut, `usage: ulvs trace [flags]

Attaches to the running director (ulvs run) through its admin socket and
shows sampled frames before and after the rewrite, as ulvs inspect does.
Sampling is bounded (--rate) and filtered in the data plane; with no
trace attached it costs nothing. Stop with Ctrl-C, -n or --duration.

flags:
`)
		fs.PrintDefaults()
	}
	sock := fs.String("admin-socket", config.DefaultAdminSocket, "the running director's admin socket")
	var req admin.TraceRequest
	fs.StringVar(&req.Service, "service", "", "only this virtual service, PROTO:VIP:PORT (port 0: every port of the VIP)")
	fs.StringVar(&req.Client, "client", "", "only clients with this address or in this prefix (10.0.1.10, 10.0.1.0/24)")
	fs.StringVar(&req.Real, "real", "", "only frames to or from this real server ADDR:PORT (or ADDR)")
	fs.StringVar(&req.Drop, "drop", "", "only drops of this reason (ttl_expired, neigh_miss, balancer:tcp_not_syn, not_ours, ...), any (every drop but not_ours) or none (forwarded frames only); default both, without not_ours")
	fs.IntVar(&req.Rate, "rate", 100, "at most this many samples per second")
	fs.IntVar(&req.Snap, "snap", 0, "keep this many bytes of each frame (default: whole frames, up to 2048 bytes)")
	fs.IntVar(&req.Count, "n", 0, "stop after this many samples")
	fs.DurationVar(&req.Duration, "duration", 0, "stop after this long (e.g. 10s)")
	jsonOut := fs.Bool("json", false, "print one JSON Rewrite per line instead of text")
	pcapOut := fs.String("out", "", "write the frames before and after, with comments, to this pcapng file instead of printing them")
	color := fs.String("color", "auto", "colour the changes: auto (on a terminal), always or never")
	noHex := fs.Bool("no-hex", false, "leave the hex dumps out")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitCode(2)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: filters are flags (ulvs trace -h)", fs.Args())
	}

	var pw *inspect.PcapngWriter
	if *pcapOut != "" {
		f, err := os.Create(*pcapOut)
		if err != nil {
			return err
		}
		defer f.Close()
		if pw, err = inspect.NewPcapngWriter(f); err != nil {
			return err
		}
	}
	p := &inspect.Printer{W: out, Color: inspect.UseColor(*color, out), NoHex: *noHex}
	enc := json.NewEncoder(out)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var last admin.TraceStats
	n := 0
	err := admin.NewClient(*sock).Trace(ctx, req, func(ev admin.TraceEvent) error {
		if ev.Stats != nil {
			last = *ev.Stats
			if n == 0 && last.Sampled == 0 && pw == nil && !*jsonOut {
				fmt.Fprintln(errOut, "tracing; waiting for matching frames (Ctrl-C stops)")
			}
			return nil
		}
		r := ev.Record
		if r == nil {
			return nil
		}
		n++
		rw := inspect.SampledRewrite(inspect.Sampled{Packet: int(r.Seq), Time: r.Time, Side: r.Side,
			Before: r.Before, BeforeLen: r.BeforeLen, BeforeRewritten: r.BeforeRewritten,
			After: r.After, AfterLen: r.AfterLen, AfterSide: r.AfterSide, Generated: r.Generated,
			Drop: r.Drop, Service: r.Service, Scheduler: r.Scheduler, Real: r.Real, Method: r.Method})
		switch {
		case pw != nil:
			if err := pw.WriteRewrites([]inspect.Rewrite{rw}); err != nil {
				return fmt.Errorf("writing %s: %w", *pcapOut, err)
			}
			return pw.Flush()
		case *jsonOut:
			return enc.Encode(rw)
		}
		if n > 1 {
			fmt.Fprintln(out)
		}
		fmt.Fprintf(out, "=== sample %d, worker %d, %s: %s ===\n", r.Seq, r.Worker, r.Time.Format(time.RFC3339Nano), inspect.Summary(&rw.Before))
		p.Rewrite(&rw)
		return nil
	})
	if pw != nil {
		if ferr := pw.Flush(); err == nil && ferr != nil {
			err = fmt.Errorf("writing %s: %w", *pcapOut, ferr)
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(errOut, "%d samples shown; the director sampled %d, and skipped %d (rate limit) and %d (ring full)\n",
		n, last.Sampled, last.RateLimited, last.RingFull)
	return nil
}
