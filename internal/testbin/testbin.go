// Package testbin builds the ulvs binary for tests that run it as a
// separate process (end-to-end tests, the bench harness), so that they
// exercise the real command, flags and all.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// BuildULVS builds cmd/ulvs into dir and returns the binary's path. The
// build's errors go to stderr.
func BuildULVS(dir string) (string, error) {
	bin := filepath.Join(dir, "ulvs")
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(gobin, "build", "-o", bin, "github.com/ulvs/ulvs/cmd/ulvs")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building ulvs: %w", err)
	}
	return bin, nil
}
