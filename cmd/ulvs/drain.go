package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ulvs/ulvs/internal/admin"
	"github.com/ulvs/ulvs/internal/daemon"
)

// drainContext is the run's context: SIGINT or SIGTERM ends it. With BGP
// it first withdraws every route and keeps forwarding for drain_time, so
// that the routers move the flows to the other directors before this one
// stops; a second signal ends it at once.
func drainContext(d *daemon.Daemon, log *slog.Logger) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		defer signal.Stop(sig)
		select {
		case s := <-sig:
			if wait := d.BGPDrain(); wait > 0 {
				log.Info("draining: routes withdrawn, forwarding until the routers converge", "signal", s.String(), "drain_time", wait)
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-sig:
					log.Warn("second signal: stopping without waiting for the drain")
				case <-ctx.Done():
				}
				t.Stop()
			}
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// drainDirector is `ulvs admin drain` without a real server: the BGP
// drain before maintenance.
func drainDirector(c *admin.Client, out io.Writer) error {
	wait, err := c.DrainDirector()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "routes withdrawn; the routers move flows away within drain_time (%v): stop the director after that\n", wait)
	return nil
}
