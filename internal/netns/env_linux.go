package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Env owns namespaces that share a unique name prefix, and the processes
// started in them. Close removes all of it; it is safe to call twice.
type Env struct {
	prefix string
	log    *slog.Logger

	mu     sync.Mutex
	spaces []*NS
	procs  []*Proc
	closed bool
}

var envSeq atomic.Uint32

// IsRoot reports whether this process can create namespaces.
func IsRoot() bool { return os.Geteuid() == 0 }

// NewEnv returns an empty Env whose namespace names start with a prefix
// unique to this process and call, so parallel tests and other programs on
// the host never collide. A nil logger discards.
func NewEnv(log *slog.Logger) (*Env, error) {
	if !IsRoot() {
		return nil, errors.New("netns: creating network namespaces needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN); run as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, errors.New("netns: the `ip` command (iproute2) is missing; install it (apt-get install iproute2)")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	prefix := fmt.Sprintf("ulvs%d-%d", os.Getpid(), envSeq.Add(1))
	return &Env{prefix: prefix, log: log}, nil
}

// Prefix is the name prefix shared by every namespace of this Env.
func (e *Env) Prefix() string { return e.prefix }

// Namespaces lists the namespaces created so far.
func (e *Env) Namespaces() []*NS {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*NS(nil), e.spaces...)
}

// Add creates the namespace "<prefix>-<name>" with its loopback up.
func (e *Env) Add(name string) (*NS, error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, errors.New("netns: Add on a closed Env")
	}
	e.mu.Unlock()
	n := &NS{Name: e.prefix + "-" + name, env: e}
	if err := ip("netns", "add", n.Name); err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.spaces = append(e.spaces, n)
	e.mu.Unlock()
	if err := n.IP("link", "set", "lo", "up"); err != nil {
		return nil, err
	}
	e.log.Debug("netns created", "ns", n.Name)
	return n, nil
}

// Veth creates a veth pair with end aDev in a and end bDev in b, both up.
func (e *Env) Veth(a *NS, aDev string, b *NS, bDev string) error {
	if err := a.IP("link", "add", aDev, "type", "veth", "peer", "name", bDev, "netns", b.Name); err != nil {
		return err
	}
	if err := a.IP("link", "set", aDev, "up"); err != nil {
		return err
	}
	return b.IP("link", "set", bDev, "up")
}

// Close stops every process started through this Env and deletes its
// namespaces (which removes their links). It is idempotent.
func (e *Env) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	procs, spaces := e.procs, e.spaces
	e.procs, e.spaces = nil, nil
	e.mu.Unlock()

	var errs []error
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop()
	}
	for i := len(spaces) - 1; i >= 0; i-- {
		if err := ip("netns", "del", spaces[i].Name); err != nil {
			if _, statErr := os.Stat(spaces[i].Path()); statErr == nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// NS is one named network namespace (see `ip netns list`).
type NS struct {
	// Name is the full name, as `ip netns` shows it.
	Name string
	env  *Env
}

// Path is the namespace's bind mount, usable with setns(2).
func (n *NS) Path() string { return filepath.Join("/run/netns", n.Name) }

// IP runs `ip -n <ns> args...`.
func (n *NS) IP(args ...string) error {
	return ip(append([]string{"-n", n.Name}, args...)...)
}

// Exec runs a command inside the namespace (`ip netns exec`) and returns its
// combined output.
func (n *NS) Exec(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("netns %s: %s %s: %w: %s", n.Name, name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// Do runs fn on an OS thread switched into the namespace and switches the
// thread back afterwards. Sockets and devices fn creates stay in the
// namespace for their whole life, so fn may hand them to other goroutines.
// If the thread cannot be switched back, it stays locked and Go discards it
// when the calling goroutine exits.
func (n *NS) Do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: open current namespace: %w", err)
	}
	defer unix.Close(orig)
	target, err := unix.Open(n.Path(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: open %s: %w", n.Path(), err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: setns %s: %w", n.Name, err)
	}
	defer func() {
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			return // keep the thread locked: it is still in the wrong namespace
		}
		runtime.UnlockOSThread()
	}()
	return fn()
}

// Sysctl writes a sysctl inside the namespace, key in dotted form
// ("net.ipv4.ip_forward").
func (n *NS) Sysctl(key, value string) error {
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	return n.Do(func() error {
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
			return fmt.Errorf("netns %s: sysctl %s=%s: %w", n.Name, key, value, err)
		}
		return nil
	})
}

// ReadSysctl reads a sysctl inside the namespace.
func (n *NS) ReadSysctl(key string) (string, error) {
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	var v string
	err := n.Do(func() error {
		b, err := os.ReadFile(path)
		v = strings.TrimSpace(string(b))
		return err
	})
	return v, err
}

// AddrAdd adds an address in CIDR form ("10.0.1.1/24") to dev.
func (n *NS) AddrAdd(dev, cidr string) error {
	return n.IP("addr", "add", cidr, "dev", dev)
}

// RouteAdd adds a route to dst ("default" or a CIDR) via gateway gw.
func (n *NS) RouteAdd(dst, gw string) error {
	return n.IP("route", "add", dst, "via", gw)
}

// Bridge creates a bridge named br with the given ports, all up.
func (n *NS) Bridge(br string, ports ...string) error {
	if err := n.IP("link", "add", br, "type", "bridge"); err != nil {
		return err
	}
	// No STP and no forwarding delay: ports forward at once.
	if err := n.IP("link", "set", br, "type", "bridge", "stp_state", "0", "forward_delay", "0"); err != nil {
		return err
	}
	if err := n.IP("link", "set", br, "up"); err != nil {
		return err
	}
	for _, p := range ports {
		if err := n.IP("link", "set", p, "master", br); err != nil {
			return err
		}
	}
	return nil
}

// Offload switches ethtool offload features ("tx", "rx", "gso", "gro",
// "tso", ...) on or off on dev.
func (n *NS) Offload(dev string, on bool, features ...string) error {
	if _, err := exec.LookPath("ethtool"); err != nil {
		return errors.New("netns: ethtool is missing; install it (apt-get install ethtool)")
	}
	state := "off"
	if on {
		state = "on"
	}
	args := []string{"-K", dev}
	for _, f := range features {
		args = append(args, f, state)
	}
	_, err := n.Exec(context.Background(), "ethtool", args...)
	return err
}

// Interface returns dev's index, MAC and flags as seen inside the namespace.
func (n *NS) Interface(dev string) (*net.Interface, error) {
	var ifi *net.Interface
	err := n.Do(func() error {
		var err error
		ifi, err = net.InterfaceByName(dev)
		if err != nil {
			return fmt.Errorf("netns %s: interface %s: %w", n.Name, dev, err)
		}
		return nil
	})
	return ifi, err
}

// Proc is a process started inside a namespace.
type Proc struct {
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{}
	err  error
	once sync.Once
}

// Start starts a command inside the namespace in its own process group.
// The Env stops it on Close; Stop stops it earlier.
func (n *NS) Start(name string, args ...string) (*Proc, error) {
	p := &Proc{done: make(chan struct{})}
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = &p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("netns %s: start %s: %w", n.Name, name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	n.env.mu.Lock()
	closed := n.env.closed
	if !closed {
		n.env.procs = append(n.env.procs, p)
	}
	n.env.mu.Unlock()
	if closed {
		p.Stop()
		return nil, errors.New("netns: Start on a closed Env")
	}
	return p, nil
}

// Pid is the process id (`ip netns exec` execs the command in place).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Output returns what the process wrote to stdout and stderr so far.
func (p *Proc) Output() string { return p.out.String() }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// StopGrace is how long Stop waits after SIGTERM before it sends SIGKILL.
// SIGKILL is there for a process that ignores SIGTERM, not to hurry one
// that is shutting down: a director killed mid-shutdown prints no report
// and fails the test that reads it. Measured on the 2-core test box at
// load average 20-24, a director took 0.8-1.1 s from SIGTERM to exit
// (0.2-0.3 s idle), 0.45-0.73 s of it running nft to delete its kernel
// drop table. That time grows with the run queue, since the director gets
// about 2/load of the CPUs: 2 s was hit near load 40. 10 s holds up to a
// load around 200 and still bounds a hung process well inside any test's
// timeout.
const StopGrace = 10 * time.Second

// Stop sends SIGTERM to the process group, then SIGKILL after StopGrace,
// and waits for the exit. It returns the exit error, if any; for a process
// it had to kill, an error that says so.
func (p *Proc) Stop() error {
	p.once.Do(func() {
		pgid := p.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(StopGrace):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
			p.err = fmt.Errorf("netns: %s did not exit within %v of SIGTERM and was killed (%v)",
				p.cmd.Args[4], StopGrace, p.err)
		}
	})
	<-p.done
	return p.err
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
