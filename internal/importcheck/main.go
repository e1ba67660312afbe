// Command importcheck keeps the repository's dependencies pointing one way
// (ARCHITECTURE.md §1): target imports none of harness, scenarios or
// toxics (the harness reaches it only over HTTP); toxics imports none of
// harness, scenarios or target; scenarios imports neither harness nor
// target; harness does not import target; examples (services standing for
// a user's) import nothing of the module outside examples, except that
// their tests may use internal/testenv. No package may link an AGPL
// module (k6, Grafana's server, Loki, Tempo).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
)

const module = "github.com/flagstorm/flagstorm"

// forbidden maps a top-level folder to the folders it must not import.
var forbidden = map[string][]string{
	"target":    {"harness", "scenarios", "toxics"},
	"toxics":    {"harness", "scenarios", "target"},
	"scenarios": {"harness", "target"},
	"harness":   {"target"},
	"examples":  {"harness", "scenarios", "toxics", "target", "internal"},
}

// testOnly lets a folder's tests, and only its tests, import one package of
// a folder it must not depend on, with everything that package imports:
// the examples stand for services written outside this repository, but
// their tests start real backends with internal/testenv.
var testOnly = map[string]string{
	"examples": "internal/testenv",
}

// agpl are module path prefixes we may not link.
var agpl = []string{"go.k6.io/k6", "github.com/grafana/grafana", "github.com/grafana/loki", "github.com/grafana/tempo"}

type pkg struct {
	ImportPath string
	Deps       []string
}

func main() {
	violations, err := check(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, "importcheck:", err)
		os.Exit(2)
	}
	report(os.Stdout, violations)
	if len(violations) > 0 {
		os.Exit(1)
	}
}

func report(w io.Writer, violations []string) {
	for _, v := range violations {
		fmt.Fprintln(w, v)
	}
	if len(violations) == 0 {
		fmt.Fprintln(w, "importcheck: dependencies point one way")
	}
}

// check lists every package of the module in dir with its transitive
// dependencies (tests included) and returns the violations, sorted.
func check(dir string) ([]string, error) {
	cmd := exec.Command("go", "list", "-deps=false", "-test", "-json=ImportPath,Deps", "./...")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w: %s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("decode go list output: %w", err)
		}
		pkgs = append(pkgs, p)
	}
	return violations(pkgs), nil
}

func violations(pkgs []pkg) []string {
	// allowed[folder] is the testOnly package of folder and its dependencies.
	allowed := map[string]map[string]bool{}
	for from, helper := range testOnly {
		allowed[from] = map[string]bool{module + "/" + helper: true}
		for _, p := range pkgs {
			if p.ImportPath == module+"/"+helper {
				for _, d := range p.Deps {
					allowed[from][d] = true
				}
			}
		}
	}
	seen := map[string]bool{}
	for _, p := range pkgs {
		from := topFolder(p.ImportPath)
		for _, d := range p.Deps {
			for _, a := range agpl {
				if d == a || strings.HasPrefix(d, a+"/") {
					seen[fmt.Sprintf("%s links AGPL package %s", strip(p.ImportPath), d)] = true
				}
			}
			to := topFolder(d)
			for _, f := range forbidden[from] {
				if to == f && !(isTest(p.ImportPath) && allowed[from][d]) {
					seen[fmt.Sprintf("%s imports %s: %s must not depend on %s", strip(p.ImportPath), d, from, f)] = true
				}
			}
		}
	}
	var vs []string
	for v := range seen {
		vs = append(vs, v)
	}
	sort.Strings(vs)
	return vs
}

// isTest reports whether importPath is a test variant ("p [p.test]") or a
// test main ("p.test").
func isTest(importPath string) bool {
	return strings.Contains(importPath, " [") || strings.HasSuffix(importPath, ".test")
}

// topFolder is the first path element inside the module ("target" for
// github.com/flagstorm/flagstorm/target/internal/app), or "" outside it.
func topFolder(importPath string) string {
	p := strip(importPath)
	if p == importPath {
		return ""
	}
	p = strings.TrimPrefix(p, "/")
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return p
}

// strip removes the module path and a test variant suffix ("p [p.test]").
func strip(importPath string) string {
	if i := strings.IndexByte(importPath, ' '); i >= 0 {
		importPath = importPath[:i]
	}
	return strings.TrimPrefix(importPath, module)
}
