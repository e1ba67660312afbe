package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sync"
	"testing"
)

// module is the import path the commands are built from; go build finds
// it from the test's working directory, which is inside the module.
const module = "github.com/flagstorm/flagstorm"

// binary is one command of the module, built at most once per test binary.
type binary struct {
	once sync.Once
	path string
	err  error
}

// binaries are the commands built by this test binary, in one temporary
// directory that Main removes.
var binaries struct {
	mu     sync.Mutex
	dir    string
	dirErr error
	byPkg  map[string]*binary
}

// BuildFlagserver builds target/cmd/flagserver and returns the path of the
// executable. Under [Main] it is built once per test binary, on first use,
// into a temporary directory that Main removes; later calls, from any
// test, return the same path. Without Main each call builds it again into
// the test's t.TempDir (go's build cache makes that a link). A failed build
// fails the test with go build's output.
func BuildFlagserver(t testing.TB) string {
	t.Helper()
	return build(t, "target/cmd/flagserver")
}

// BuildFlagstorm is BuildFlagserver for harness/cmd/flagstorm.
func BuildFlagstorm(t testing.TB) string {
	t.Helper()
	return build(t, "harness/cmd/flagstorm")
}

// BuildMinimalGo is BuildFlagserver for examples/minimal-go, the example
// service written against docs/target-contract.md only.
func BuildMinimalGo(t testing.TB) string {
	t.Helper()
	return build(t, "examples/minimal-go")
}

// build returns the executable of the module's command in folder pkg,
// building it on first use.
func build(t testing.TB, pkg string) string {
	t.Helper()
	return buildOnce(t, pkg, func(dir string) (string, error) { return goBuild(dir, pkg) })
}

// buildOnce returns the executable that buildInto builds into a directory
// and that key names. Under Main it is built once per test binary into the
// shared directory; without Main, into the test's t.TempDir. A failed build
// fails the test.
func buildOnce(t testing.TB, key string, buildInto func(dir string) (string, error)) string {
	t.Helper()
	if !inMain.Load() {
		// Nothing would remove a shared directory: build for this test.
		bin, err := buildInto(t.TempDir())
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		return bin
	}
	dir, b, err := binaryOf(key)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	b.once.Do(func() { b.path, b.err = buildInto(dir) })
	if b.err != nil {
		t.Fatalf("testenv: %v", b.err)
	}
	return b.path
}

// goBuild builds the module's command in folder pkg into dir and returns
// the executable's path.
func goBuild(dir, pkg string) (string, error) {
	bin := filepath.Join(dir, path.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, module+"/"+pkg).CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// binaryOf returns the directory of the built binaries, created on first
// use, and pkg's entry.
func binaryOf(pkg string) (string, *binary, error) {
	binaries.mu.Lock()
	defer binaries.mu.Unlock()
	if binaries.dir == "" && binaries.dirErr == nil {
		binaries.dir, binaries.dirErr = os.MkdirTemp("", "flagstorm-testenv-bin-*")
	}
	if binaries.dirErr != nil {
		return "", nil, fmt.Errorf("create the directory of the built binaries: %w", binaries.dirErr)
	}
	b := binaries.byPkg[pkg]
	if b == nil {
		if binaries.byPkg == nil {
			binaries.byPkg = map[string]*binary{}
		}
		b = &binary{}
		binaries.byPkg[pkg] = b
	}
	return binaries.dir, b, nil
}

// removeBinaries removes the built binaries, if any; a later build fails.
func removeBinaries() error {
	binaries.mu.Lock()
	defer binaries.mu.Unlock()
	dir := binaries.dir
	if dir == "" {
		return nil
	}
	binaries.dir, binaries.dirErr = "", errors.New("the test binary's built binaries were removed")
	return os.RemoveAll(dir)
}
