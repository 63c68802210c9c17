package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
	"time"
)

// defaultScriptUser is the user keepalived runs scripts as when
// script_user is not set and the user exists.
const defaultScriptUser = "keepalived_script"

// ScriptEnv says who runs scripts: keepalived's script_user.
type ScriptEnv struct {
	// User and Group are script_user; empty User means keepalived_script
	// when that user exists, else the daemon's own user.
	User, Group string
}

// credential resolves a user/group pair to the credential to run a
// script with; nil means "as this process" (also when not root, since
// only root can switch users).
func (e ScriptEnv) credential(name, group string) (*syscall.Credential, error) {
	if name == "" {
		name, group = e.User, e.Group
	}
	explicit := name != ""
	if !explicit {
		name = defaultScriptUser
	}
	if os.Geteuid() != 0 {
		if explicit {
			if u, err := user.Lookup(name); err != nil || u.Uid != strconv.Itoa(os.Geteuid()) {
				return nil, fmt.Errorf("scripts should run as %s, but only root can switch users; run ulvs as root or drop script_user", name)
			}
		}
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		if !explicit {
			return nil, nil // keepalived: no keepalived_script user, run as root
		}
		return nil, fmt.Errorf("script user %q: %w; create the user or change script_user", name, err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return nil, fmt.Errorf("script group %q: %w; create the group or change script_user", group, err)
		}
		gid, _ = strconv.ParseUint(g.Gid, 10, 32)
	}
	if uid == 0 && gid == 0 {
		return nil, nil
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// command builds an exec.Cmd for args, run without a shell as cred, with
// a clean environment, killed (with its process group) when ctx ends.
func command(ctx context.Context, args []string, cred *syscall.Credential) *exec.Cmd {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	return cmd
}

// Notifier runs notify_up/notify_down and quorum scripts in the
// background, each bounded by Timeout, so that a slow script never delays
// a checker or the control plane.
type Notifier struct {
	Env     ScriptEnv
	Timeout time.Duration
	Log     *slog.Logger
}

// DefaultScriptTimeout bounds notify and quorum scripts.
const DefaultScriptTimeout = 30 * time.Second

// Run starts args in the background as user/group (empty: the script
// user). done, when not nil, receives the exit error.
func (n *Notifier) Run(args []string, userName, group string, done func(error)) {
	log := n.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	finish := func(err error) {
		if done != nil {
			done(err)
		}
	}
	cred, err := n.Env.credential(userName, group)
	if err != nil {
		log.Error("script not run", "script", args, "err", err)
		finish(err)
		return
	}
	to := n.Timeout
	if to <= 0 {
		to = DefaultScriptTimeout
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), to)
		defer cancel()
		err := command(ctx, args, cred).Run()
		if ctx.Err() != nil {
			err = fmt.Errorf("killed after %v: %w", to, errors.Join(err, ctx.Err()))
		}
		if err != nil {
			log.Warn("script failed", "script", args, "err", err)
		}
		finish(err)
	}()
}
