package vrrp

import (
	"context"
	"os/exec"
	"strconv"
	"time"
)

// shellExec runs command with /bin/sh -c, passing args as "$@", so that
// notify and script strings keep keepalived's quoting.
func shellExec(ctx context.Context, command string, args ...string) error {
	argv := append([]string{"-c", command + ` "$@"`, "sh"}, args...)
	cmd := exec.CommandContext(ctx, "/bin/sh", argv...)
	cmd.WaitDelay = time.Second
	return cmd.Run()
}

func (r *Router) exec() func(context.Context, string, ...string) error {
	if r.cfg.Exec != nil {
		return r.cfg.Exec
	}
	return shellExec
}

// notifyTimeout bounds a notify command; keepalived does not wait for
// them, and neither do we: they run in the background.
const notifyTimeout = 30 * time.Second

// notify runs the state's command and the generic one. kind is INSTANCE
// or GROUP.
func (r *Router) notify(n Notify, kind, name string, s State, prio uint8) {
	var cmd string
	switch s {
	case Master:
		cmd = n.Master
	case Backup:
		cmd = n.Backup
	case Fault:
		cmd = n.Fault
	case Stopped:
		cmd = n.Stop
	}
	if r.cfg.OnTransition != nil {
		r.cfg.OnTransition(kind == "GROUP", name, s)
	}
	run := r.exec()
	for _, c := range []struct {
		cmd  string
		args []string
	}{{cmd, nil}, {n.Any, []string{kind, name, s.String(), strconv.Itoa(int(prio))}}} {
		if c.cmd == "" {
			continue
		}
		r.notifying.Add(1)
		go func() {
			defer r.notifying.Done()
			ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
			defer cancel()
			if err := run(ctx, c.cmd, c.args...); err != nil {
				r.log.Warn("vrrp: notify command failed", "command", c.cmd, "err", err)
			}
		}()
	}
}

// runScript runs s every interval and reports each result.
func (r *Router) runScript(ctx context.Context, s Script, out chan<- scriptResult) {
	run := r.exec()
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		sctx, cancel := context.WithTimeout(ctx, s.Timeout)
		err := run(sctx, s.Command)
		cancel()
		if ctx.Err() != nil {
			return
		}
		select {
		case out <- scriptResult{name: s.Name, ok: err == nil}:
		case <-ctx.Done():
			return
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}
