package health

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
)

// Misc is MISC_CHECK: a program run without a shell. Exit status 0 means
// up, 1 down; with Dynamic, 2..255 mean up with weight status-2 (and
// without it, down). A program still running at the deadline is killed
// with its process group and counts as down.
type Misc struct {
	Args    []string
	Dynamic bool
	Cred    *syscall.Credential
}

// Probe runs the program once.
func (m *Misc) Probe(ctx context.Context) Result {
	err := command(ctx, m.Args, m.Cred).Run()
	if ctx.Err() != nil {
		return Result{Err: fmt.Errorf("%s: timed out", m.Args[0]), Weight: -1}
	}
	if err == nil {
		return Result{Weight: -1}
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return Result{Err: fmt.Errorf("%s: %w", m.Args[0], err), Weight: -1}
	}
	code := ee.ExitCode()
	switch {
	case code == 1 || code < 0:
		return Result{Err: fmt.Errorf("%s: %v", m.Args[0], ee), Weight: -1}
	case m.Dynamic && code >= 2:
		return Result{Weight: code - 2}
	}
	return Result{Err: fmt.Errorf("%s: exit status %d", m.Args[0], code), Weight: -1}
}
