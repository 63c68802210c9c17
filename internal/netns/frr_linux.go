package netns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"time"
)

// FRR's daemons as Debian's frr package installs them.
const (
	ZebraPath = "/usr/lib/frr/zebra"
	BGPDPath  = "/usr/lib/frr/bgpd"
)

// FRR is a router for tests: FRR's zebra and bgpd running inside a
// namespace, with configuration, pid files and sockets in a directory of
// their own (the host's /etc/frr, /run/frr and systemd are never
// touched). zebra installs bgpd's routes into the namespace's kernel
// table, so `ip route` there shows what BGP learnt.
//
// The daemons run as the frr user: FRR's privilege code insists that the
// user it runs as belongs to the frrvty group.
type FRR struct {
	Dir   string
	ns    *NS
	zebra *Proc
	bgpd  *Proc
}

// StartFRR writes bgpConf (bgpd's configuration, e.g. "router bgp
// 65000\n neighbor 10.0.0.2 remote-as 65001\n") and starts zebra, then
// bgpd, in n. bgpd listens on port 179 of n's addresses. Close stops
// both and removes the directory.
func (n *NS) StartFRR(bgpConf string) (*FRR, error) {
	for _, p := range []string{ZebraPath, BGPDPath} {
		if _, err := os.Stat(p); err != nil {
			return nil, errors.New("netns: FRR is not installed (apt-get install frr; make deps does it)")
		}
	}
	u, err := user.Lookup("frr")
	if err != nil {
		return nil, fmt.Errorf("netns: FRR runs as the frr user, which is missing (reinstall the frr package): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir, err := os.MkdirTemp("", "ulvs-frr-")
	if err != nil {
		return nil, err
	}
	f := &FRR{Dir: dir, ns: n}
	files := map[string]string{"zebra.conf": "", "bgpd.conf": bgpConf}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			f.Close()
			return nil, err
		}
		if err := os.Chown(p, uid, gid); err != nil {
			f.Close()
			return nil, err
		}
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		f.Close()
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		f.Close()
		return nil, err
	}
	zserv := filepath.Join(dir, "zserv.api")
	common := func(d string) []string {
		return []string{"-f", filepath.Join(dir, d+".conf"), "-i", filepath.Join(dir, d+".pid"),
			"--vty_socket", dir, "-z", zserv, "-P", "0", "-u", "frr", "-g", "frr", "--log", "stdout", "--log-level", "info"}
	}
	if f.zebra, err = n.Start(ZebraPath, common("zebra")...); err != nil {
		f.Close()
		return nil, err
	}
	// bgpd gives up on a zebra socket that is not there yet only after
	// retries; waiting for it keeps the start deterministic.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(zserv); err == nil {
			break
		}
		if time.Now().After(deadline) {
			out := f.zebra.Output()
			f.Close()
			return nil, fmt.Errorf("netns: zebra did not create %s within 10 s:\n%s", zserv, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if f.bgpd, err = n.Start(BGPDPath, common("bgpd")...); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// VTY runs vtysh commands against this instance's daemons.
func (f *FRR) VTY(ctx context.Context, cmds ...string) ([]byte, error) {
	args := []string{"netns", "exec", f.ns.Name, "vtysh", "--vty_socket", f.Dir, "--config_dir", f.Dir}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("vtysh %q: %w: %s", cmds, err, out)
	}
	return out, nil
}

// Output is what zebra and bgpd logged so far.
func (f *FRR) Output() string {
	var s string
	if f.zebra != nil {
		s += "zebra:\n" + f.zebra.Output()
	}
	if f.bgpd != nil {
		s += "bgpd:\n" + f.bgpd.Output()
	}
	return s
}

// Close stops bgpd and zebra and removes the directory.
func (f *FRR) Close() {
	if f.bgpd != nil {
		_ = f.bgpd.Stop()
	}
	if f.zebra != nil {
		_ = f.zebra.Stop()
	}
	_ = os.RemoveAll(f.Dir)
}
