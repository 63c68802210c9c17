package report

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestImportsRunDownward checks, with go list -deps, the import rules this
// package and forward/header exist for: what reads the exit report (the
// bench harness, the demo, the end-to-end tests) does not link the daemon
// that writes it; the leaves import nothing of ulvs; and the control-plane
// packages that share header's checksum and encoders link nothing else of
// the data plane.
func TestImportsRunDownward(t *testing.T) {
	const mod = "github.com/ulvs/ulvs/"
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	for _, tc := range []struct {
		pkg     string
		test    bool     // include the package's tests' imports
		allowed []string // ulvs packages it may link; nil: any but forbidden
		forbid  []string
	}{
		{pkg: "bench", forbid: []string{"internal/daemon", "internal/demo"}},
		{pkg: "internal/demo", forbid: []string{"internal/daemon"}},
		{pkg: "internal/e2e", test: true, forbid: []string{"internal/daemon"}},
		{pkg: "internal/report", allowed: []string{}},
		{pkg: "forward/header", allowed: []string{}},
		{pkg: "vrrp", allowed: []string{"forward/header"}},
		{pkg: "lvssync", allowed: []string{}},
		{pkg: "internal/tunnel", allowed: []string{"forward/header"}},
		{pkg: "internal/health", forbid: []string{"forward", "forward/afpacket"}},
	} {
		args := []string{"list", "-deps"}
		if tc.test {
			args = append(args, "-test")
		}
		cmd := exec.Command(goTool, append(args, "./"+tc.pkg)...)
		cmd.Dir = "../.."
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps ./%s: %v", tc.pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			rel, ok := strings.CutPrefix(dep, mod)
			if !ok || rel == tc.pkg || strings.HasPrefix(rel, tc.pkg+".test") {
				continue
			}
			if slices.Contains(tc.forbid, rel) || tc.allowed != nil && !slices.Contains(tc.allowed, rel) {
				t.Errorf("%s links %s: it must not (docs/architecture.md, Imports)", tc.pkg, rel)
			}
		}
	}
}
