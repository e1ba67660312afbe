package composecheck

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// repoRoot is the directory of go.mod above the test's working directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's working directory")
		}
		dir = parent
	}
}

// copyTopology copies what the checks read (and what the compose file
// mounts or builds) from root into a fresh temporary directory.
func copyTopology(t *testing.T, root string) string {
	t.Helper()
	dst := t.TempDir()
	for _, f := range []string{composeFile, dockerfilePath, dockerignore, toxiproxyConfig, "go.mod", "target/cmd/flagserver/main.go"} {
		copyFile(t, filepath.Join(root, f), filepath.Join(dst, f))
	}
	err := filepath.WalkDir(filepath.Join(root, "dashboards"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		copyFile(t, p, filepath.Join(dst, rel))
		return nil
	})
	if err != nil {
		t.Fatalf("copy dashboards: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(dst, "scenarios"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatalf("copy: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatalf("copy: %v", err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatalf("copy: %v", err)
	}
}

// edit replaces the single occurrence of old in file by new; a missing or
// repeated old is the test's mistake, not a caught problem.
func edit(t *testing.T, file, old, new string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), old); n != 1 {
		t.Fatalf("%s: %q occurs %d times, want exactly once: update the test's edit", file, old, n)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}
