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
	"testing"
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

// Main is TestMain for packages that run the binary: as root it sets *bin
// to $ULVS_BIN, or to a binary built into a temporary directory (removed
// afterwards), then runs the tests; not as root it runs them as they are,
// for they skip with their reason. It exits with the tests' code.
func Main(m *testing.M, bin *string) {
	code := func() int {
		if os.Geteuid() != 0 {
			return m.Run()
		}
		if b := os.Getenv("ULVS_BIN"); b != "" {
			*bin = b
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "ulvs-test-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if *bin, err = BuildULVS(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}
