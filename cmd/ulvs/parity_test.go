package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ulvs/ulvs/internal/netns"
)

// verdict is what a config test says of a file.
type verdict int

const (
	verdictOK     verdict = iota // exit 0
	verdictWarn                  // runs, after reporting errors or warnings
	verdictCannot                // cannot run
)

func (v verdict) String() string {
	return [...]string{"ok", "runs with warnings", "cannot run"}[v]
}

// parityExceptions is the one list of corpus files on which ulvs and
// keepalived disagree about whether the file can run, with the reason.
// An entry whose two programs agree again fails the test, so the list
// never outlives the difference it explains.
var parityExceptions = map[string]string{
	"bad-deep-nesting.conf": "ulvs refuses blocks nested deeper than 32 levels, a bound on what a file can make it " +
		"build (keepalived's deepest real nesting is four)",
	"bad-gue.conf": "GUE and GRE tunnels are IPVS features ulvs does not have: its TUN encapsulates in IPIP only",
	"bad-linkbeat-if.conf": "keepalived stops at a linkbeat interface missing on this host; ulvs does not use " +
		"linkbeat_interfaces (it warns that it ignores them) and checks no interface at check time",
	"bad-updown-if.conf": "keepalived stops at an interface_up_down_delays interface missing on this host; " +
		"ulvs ignores the block with a warning",
	"bad-include-check.conf": "global_defs include_check makes a missing include fatal in keepalived; ulvs " +
		"ignores include_check with a warning and reads on, as with a plain include",
}

// TestKeepalivedParity runs every file of testdata/parity through the
// real keepalived -t (in a network namespace this test makes, with eth0
// to eth3, so that no interface of the host is looked at) and through
// ulvs check-config, both with config id "parity", and fails where one
// can run a file the other cannot, except for parityExceptions, or where
// keepalived reports errors in a file ulvs calls ok.
func TestKeepalivedParity(t *testing.T) {
	keepalived, err := exec.LookPath("keepalived")
	if err != nil {
		keepalived, err = exec.LookPath("/usr/sbin/keepalived") // root's PATH may lack sbin
	}
	if err != nil {
		t.Skip("keepalived is not installed (make deps installs the Debian package)")
	}
	env := netns.ForTest(t)
	ns, err := env.Add("kp")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := ns.IP("link", "add", fmt.Sprintf("eth%d", i), "type", "veth", "peer", "name", fmt.Sprintf("peer%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	files, err := filepath.Glob("testdata/parity/*.conf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		seen[name] = true
		t.Run(strings.TrimSuffix(name, ".conf"), func(t *testing.T) {
			k, kout := keepalivedVerdict(t, ns, keepalived, abs)
			u, uout := ulvsVerdict(t, abs)
			agree := (k == verdictCannot) == (u == verdictCannot)
			reason, excepted := parityExceptions[name]
			switch {
			case !agree && !excepted:
				t.Errorf("keepalived: %s, ulvs: %s\nkeepalived said:\n%s\nulvs said:\n%s", k, u, kout, uout)
			case agree && excepted:
				t.Errorf("both now %s/%s: remove %s from parityExceptions (%s)", k, u, name, reason)
			case excepted:
				t.Logf("known difference (keepalived %s, ulvs %s): %s", k, u, reason)
			}
			// ulvs may warn where keepalived is silent (what it ignores),
			// never the other way round.
			if k == verdictWarn && u == verdictOK {
				t.Errorf("keepalived reports errors ulvs does not see:\n%s", kout)
			}
		})
	}
	for name := range parityExceptions {
		if !seen[name] {
			t.Errorf("parityExceptions names %s, which is not in testdata/parity", name)
		}
	}
}

// keepalivedVerdict runs keepalived -t in ns. keepalived 2.2 exits 0 for
// a clean file, 5 when it would run after dropping or correcting lines,
// 4 when it cannot run the file and 6 when it cannot read its includes
// (KEEPALIVED_EXIT_NO_CONFIG; the corpus enables script security, so 6 is
// never the script-security code).
func keepalivedVerdict(t *testing.T, ns *netns.NS, keepalived, file string) (verdict, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := ns.Exec(ctx, keepalived, "-t", "-i", "parity", "-f", file)
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("keepalived -t: %v", err)
	}
	switch code {
	case 0:
		return verdictOK, string(out)
	case 5:
		return verdictWarn, string(out)
	case 4, 6:
		return verdictCannot, string(out)
	}
	t.Fatalf("keepalived -t exited %d (a signal is -1), which the test does not know:\n%s", code, out)
	return 0, ""
}

func ulvsVerdict(t *testing.T, file string) (verdict, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := checkConfigCmd([]string{"-i", "parity", "-f", file}, &out, &errOut)
	all := out.String() + errOut.String()
	var ex exitCode
	switch {
	case err == nil:
		return verdictOK, all
	case errors.As(err, &ex) && int(ex) == exitConfigWarnings:
		return verdictWarn, all
	case errors.As(err, &ex) && int(ex) == exitConfigCannot:
		return verdictCannot, all
	}
	t.Fatalf("check-config: %v\n%s", err, all)
	return 0, ""
}
