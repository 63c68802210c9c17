package netns_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ulvs/ulvs/internal/netns"
	"github.com/ulvs/ulvs/internal/netns/netnstest"
)

// TestStopWaitsForAGracefulExit stops a process that takes 3 s to shut
// down after SIGTERM, as a director on a loaded box can (StopGrace): Stop
// must let it finish and keep what it printed on the way out, which is
// where a director writes its report.
func TestStopWaitsForAGracefulExit(t *testing.T) {
	env := netnstest.ForTest(t)
	a, err := env.Add("a")
	if err != nil {
		t.Fatal(err)
	}
	const slow = 3 * time.Second
	if slow >= netns.StopGrace {
		t.Fatalf("StopGrace %v is shorter than the %v shutdown this test needs", netns.StopGrace, slow)
	}
	p, err := a.Start("sh", "-c", `trap 'sleep 3; echo final report; exit 0' TERM; echo ready; while :; do sleep 0.1; done`)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.Output(), "ready"); {
		if time.Now().After(deadline) {
			t.Fatalf("the shell did not start:\n%s", p.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
	t0 := time.Now()
	if err := p.Stop(); err != nil {
		t.Fatalf("Stop after %v: %v (output %q)", time.Since(t0), err, p.Output())
	}
	if took := time.Since(t0); took < slow {
		t.Errorf("Stop returned after %v, before the %v shutdown could finish", took, slow)
	}
	if !strings.Contains(p.Output(), "final report") {
		t.Errorf("the output lost what the process printed after SIGTERM: %q", p.Output())
	}
}
