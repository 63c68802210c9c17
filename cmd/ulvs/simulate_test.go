package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ulvs/ulvs/internal/simulate"
)

// TestSimulateCommand runs ulvs simulate's flags end to end (moved here
// from internal/simulate with the flag parsing).
func TestSimulatesimulateCmd(t *testing.T) {
	var out bytes.Buffer
	err := simulateCmd([]string{"--service", "10.0.1.100:80", "--real", "10.0.2.11:80", "--real", "10.0.2.12:80=3",
		"--sched", "wrr", "-n", "400", "--remove", "10.0.2.11:80", "--flow", "tcp 10.0.1.2:1000 > 10.0.1.100:80", "--json"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	var rep simulate.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Distribution[0].Flows != 100 || rep.Distribution[1].Flows != 300 || rep.Change == nil || rep.Flow.Real != "10.0.2.12:80" {
		t.Errorf("report: %+v", rep)
	}
	out.Reset()
	if err := simulateCmd([]string{"-f", "../../internal/config/testdata/nat.conf", "-n", "100"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "100 new connections") {
		t.Errorf("text report:\n%s", out.String())
	}
	for _, bad := range [][]string{{}, {"--service", "10.0.1.100:80", "--real", "x"}, {"-f", "x.conf", "--real", "10.0.2.1:80"}} {
		if err := simulateCmd(bad, &out); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
