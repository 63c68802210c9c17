package netns

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// BFDDPath is where Debian's frr package installs FRR's BFD daemon.
const BFDDPath = "/usr/lib/frr/bfdd"

// BFDD is FRR's bfdd running inside a namespace as a BFD peer for tests,
// with its configuration, pid file and sockets in a directory of its own:
// the host's /etc/frr, /run/frr and systemd are never touched.
//
// bfdd runs alone, without zebra or watchfrr: single-hop sessions with a
// local-address need neither (it retries its zebra connection in the
// background and logs about it). It must run as the frr user, because
// FRR's privilege code insists that the user it runs as belongs to the
// frrvty group, so the directory is handed to that user.
type BFDD struct {
	Dir  string
	ns   *NS
	conf string
	proc *Proc
}

// StartBFDD writes conf (bfdd's configuration, e.g. "bfd\n peer
// 10.0.0.1 local-address 10.0.0.2\n !\n") and starts bfdd in n. Close
// stops it and removes its directory.
func (n *NS) StartBFDD(conf string) (*BFDD, error) {
	if _, err := os.Stat(BFDDPath); err != nil {
		return nil, errors.New("netns: FRR's bfdd is not installed (apt-get install frr; make deps does it)")
	}
	u, err := user.Lookup("frr")
	if err != nil {
		return nil, fmt.Errorf("netns: bfdd runs as the frr user, which is missing (reinstall the frr package): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir, err := os.MkdirTemp("", "ulvs-bfdd-")
	if err != nil {
		return nil, err
	}
	b := &BFDD{Dir: dir, ns: n, conf: filepath.Join(dir, "bfdd.conf")}
	if err := os.WriteFile(b.conf, []byte(conf), 0o644); err != nil {
		b.Close()
		return nil, err
	}
	for _, p := range []string{dir, b.conf} {
		if err := os.Chown(p, uid, gid); err != nil {
			b.Close()
			return nil, err
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		b.Close()
		return nil, err
	}
	if err := b.Start(); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// Start starts bfdd again after Kill or Stop.
func (b *BFDD) Start() error {
	p, err := b.ns.Start(BFDDPath, "-f", b.conf, "-i", filepath.Join(b.Dir, "bfdd.pid"),
		"--vty_socket", b.Dir, "-z", filepath.Join(b.Dir, "zserv.api"),
		"--bfdctl", filepath.Join(b.Dir, "bfdd.sock"), "-P", "0", "-u", "frr", "-g", "frr",
		"--log", "stdout", "--log-level", "info")
	if err != nil {
		return err
	}
	b.proc = p
	return nil
}

// Kill ends bfdd with SIGKILL, so that it sends nothing more: its peer
// must detect the silence.
func (b *BFDD) Kill() {
	if b.proc == nil {
		return
	}
	_ = syscall.Kill(b.proc.Pid(), syscall.SIGKILL)
	<-b.proc.Done()
}

// Output is what bfdd logged so far.
func (b *BFDD) Output() string {
	if b.proc == nil {
		return ""
	}
	return b.proc.Output()
}

// Close stops bfdd and removes its directory.
func (b *BFDD) Close() {
	if b.proc != nil {
		_ = b.proc.Stop()
	}
	_ = os.RemoveAll(b.Dir)
}
