package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp/cmpopts"
)

// ignoreProc leaves the process accounting out of comparisons of parsed
// results.
var ignoreProc = cmpopts.IgnoreFields(result{}, "Proc")

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
