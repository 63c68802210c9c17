package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ulvs/ulvs/internal/leaktest"
	"github.com/ulvs/ulvs/internal/netns"
	"github.com/ulvs/ulvs/internal/netns/netnstest"
)

// leakChildConf names the keepalived.conf of the child run of
// TestDaemonRunLeavesNoGoroutines.
const leakChildConf = "ULVS_DAEMON_LEAK_CONF"

// TestDaemonRunLeavesNoGoroutines starts a Daemon in-process, lets it
// forward, stops it and checks that every goroutine Run started has ended.
// A process's namespace is per thread, so the test runs itself again under
// `ip netns exec` in the director's namespace of a real topology, where
// Load finds its interfaces and Run opens its sockets as `ulvs run` does.
func TestDaemonRunLeavesNoGoroutines(t *testing.T) {
	if conf := os.Getenv(leakChildConf); conf != "" {
		runLeakChild(t, conf)
		return
	}
	env := netnstest.ForTest(t)
	lvs, err := netns.NewLVS(env, netns.Options{Reals: 1})
	if err != nil {
		t.Fatalf("topology: %v", err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	cfg := fmt.Sprintf("ulvs {\n    admin_socket %s\n}\n\nvirtual_server %v 80 {\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n"+
		"    real_server %v 80 {\n        weight 1\n        TCP_CHECK {\n            connect_timeout 1\n        }\n    }\n}\n",
		filepath.Join(dir, "admin.sock"), lvs.VIP, netns.RealAddr(0).Addr())
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(leakChildConf, conf)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := lvs.Director.Exec(ctx, os.Args[0], "-test.run", "^TestDaemonRunLeavesNoGoroutines$", "-test.v", "-test.count", "1")
	if err != nil || !strings.Contains(string(out), "--- PASS: TestDaemonRunLeavesNoGoroutines") {
		t.Fatalf("the in-namespace run failed: %v\n%s", err, out)
	}
}

// runLeakChild is the part of TestDaemonRunLeavesNoGoroutines that runs
// inside the director's namespace.
func runLeakChild(t *testing.T, conf string) {
	leaktest.Check(t)
	d, err := Load(Options{ConfigPath: conf})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	// Running: the loop is up and the health checker has probed once.
	deadline := time.Now().Add(20 * time.Second)
	for {
		d.running.Lock()
		up := d.running.loop != nil
		d.running.Unlock()
		if up {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the loop did not start within 20s (Run: %v)", <-done)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return within 20s of its context ending")
	}
}
