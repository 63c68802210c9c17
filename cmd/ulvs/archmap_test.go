package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestArchitectureMap checks the package map that opens
// docs/architecture.md against the code: every package of the module has
// its line, each line names exactly the module packages the package
// imports (go list, test files aside), and every import points to a line
// above its own (no package imports upward).
func TestArchitectureMap(t *testing.T) {
	doc, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile("^- `([a-z0-9/]+)` — .*Imports: (.*)\\.$")
	quoted := regexp.MustCompile("`([a-z0-9/]+)`")
	var order []string
	documented := map[string][]string{}
	for _, l := range strings.Split(string(doc), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		var imps []string
		if m[2] != "none" {
			for _, q := range quoted.FindAllStringSubmatch(m[2], -1) {
				imps = append(imps, q[1])
			}
		}
		order = append(order, m[1])
		documented[m[1]] = imps
	}
	if len(order) == 0 {
		t.Fatal("docs/architecture.md has no package map lines (- `pkg` — owns ... Imports: ...)")
	}

	const module = "github.com/ulvs/ulvs/"
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(gobin, "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	actual := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		pkg := strings.TrimPrefix(f[0], module)
		var imps []string
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, module) {
				imps = append(imps, strings.TrimPrefix(imp, module))
			}
		}
		slices.Sort(imps)
		actual[pkg] = imps
	}

	rank := map[string]int{}
	for i, p := range order {
		rank[p] = i
	}
	for pkg, imps := range actual {
		want, ok := documented[pkg]
		if !ok {
			t.Errorf("package %s has no line in the package map of docs/architecture.md", pkg)
			continue
		}
		slices.Sort(want)
		if !slices.Equal(want, imps) {
			t.Errorf("docs/architecture.md says %s imports %v; go list says %v", pkg, want, imps)
		}
		for _, imp := range imps {
			if r, ok := rank[imp]; ok && r >= rank[pkg] {
				t.Errorf("%s imports %s, which the package map lists below it: an upward import", pkg, imp)
			}
		}
	}
	for _, pkg := range order {
		if _, ok := actual[pkg]; !ok {
			t.Errorf("docs/architecture.md maps %s, which is not a package of the module", pkg)
		}
	}
}
