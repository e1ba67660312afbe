package main

import (
	"slices"
	"testing"
)

func TestRepositoryDependenciesPointOneWay(t *testing.T) {
	vs, err := check("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Error(v)
	}
}

func TestViolationsAreFound(t *testing.T) {
	pkgs := []pkg{
		{ImportPath: module + "/target/internal/app", Deps: []string{"fmt", module + "/toxics"}},
		{ImportPath: module + "/harness/internal/cli [" + module + "/harness/internal/cli.test]", Deps: []string{module + "/toxics", module + "/target/internal/flags"}},
		{ImportPath: module + "/harness/internal/load", Deps: []string{"go.k6.io/k6/lib"}},
		{ImportPath: module + "/toxics", Deps: []string{module + "/internal/testenv"}},
	}
	want := []string{
		"/harness/internal/cli imports " + module + "/target/internal/flags: harness must not depend on target",
		"/harness/internal/load links AGPL package go.k6.io/k6/lib",
		"/target/internal/app imports " + module + "/toxics: target must not depend on toxics",
	}
	if got := violations(pkgs); !slices.Equal(got, want) {
		t.Errorf("violations:\n got %q\nwant %q", got, want)
	}
}

func TestExamplesTestsMayUseTestenv(t *testing.T) {
	pkgs := []pkg{
		{ImportPath: module + "/internal/testenv", Deps: []string{module + "/internal/freeport"}},
		{ImportPath: module + "/examples/minimal-go [" + module + "/examples/minimal-go.test]", Deps: []string{module + "/internal/testenv", module + "/internal/freeport"}},
		{ImportPath: module + "/examples/minimal-go.test", Deps: []string{module + "/internal/testenv", module + "/internal/freeport", module + "/internal/logfile"}},
		{ImportPath: module + "/examples/minimal-go", Deps: []string{module + "/internal/freeport", module + "/target/internal/flags"}},
	}
	want := []string{
		"/examples/minimal-go imports " + module + "/internal/freeport: examples must not depend on internal",
		"/examples/minimal-go imports " + module + "/target/internal/flags: examples must not depend on target",
		"/examples/minimal-go.test imports " + module + "/internal/logfile: examples must not depend on internal",
	}
	if got := violations(pkgs); !slices.Equal(got, want) {
		t.Errorf("violations:\n got %q\nwant %q", got, want)
	}
}
