package benchkit

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// helperEnv makes the test binary, started as a child by a test, act as a
// server instead of running the tests (see helper).
const helperEnv = "BENCHKIT_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// helper is the child's side: "hello -addr A" serves HelloMux until
// SIGTERM; "flaky -addr A -marker F" first fails like a server whose port
// was taken (and leaves F behind), then serves like hello.
func helper(mode string, args []string) int {
	fs := flag.NewFlagSet(mode, flag.ContinueOnError)
	addr := fs.String("addr", "", "listen address")
	marker := fs.String("marker", "", "file that says the first attempt is over")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if mode == "flaky" {
		if _, err := os.Stat(*marker); errors.Is(err, os.ErrNotExist) {
			_ = os.WriteFile(*marker, nil, 0o644)
			fmt.Fprintf(os.Stderr, "listen tcp %s: bind: Address already in use\n", *addr)
			return 1
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := Serve(ctx, *addr, HelloMux()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func needProc(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
}

// startHello starts the test binary as a hello server under g.
func startHello(t *testing.T, g *Procs, mode string, extra ...string) (*Proc, string) {
	t.Helper()
	pr := NewProber()
	t.Cleanup(pr.Close)
	p, addr, err := g.StartServer(t.Context(), "hello", os.Args[0], func(addr string) ([]string, []string) {
		return append([]string{"-addr", addr}, extra...), ChildEnv(helperEnv + "=" + mode)
	}, func(addr string) func(context.Context) error { return pr.Ready("http://" + addr + "/readyz") })
	if err != nil {
		t.Fatal(err)
	}
	return p, addr
}

func TestProcsStartServerAndStopAll(t *testing.T) {
	needProc(t)
	g := &Procs{Dir: t.TempDir()}
	t.Cleanup(func() { _ = g.StopAll(context.Background()) })
	p, addr := startHello(t, g, "hello")
	if p.Exited() || p.Err() != nil || p.Name() != "hello" || p.PID() <= 0 {
		t.Fatalf("after start: exited %v, err %v, name %q, pid %d; want a running hello", p.Exited(), p.Err(), p.Name(), p.PID())
	}
	pr := NewProber()
	defer pr.Close()
	status, _, body, err := pr.Get(t.Context(), "http://"+addr+"/")
	if err != nil || status != 200 || string(body) != HelloBody {
		t.Errorf("GET / = %d %q, %v; want 200 and HelloBody", status, body, err)
	}
	if _, err := p.CPUTime(); err != nil {
		t.Errorf("CPUTime: %v", err)
	}
	if rss, err := p.PeakRSS(); err != nil || rss <= 0 {
		t.Errorf("PeakRSS = %d, %v; want > 0", rss, err)
	}
	cpu, err := p.CPUDuring(func() error { return nil })
	if err != nil || cpu < 0 {
		t.Errorf("CPUDuring = %v, %v; want >= 0", cpu, err)
	}

	if err := g.StopAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	// SIGTERM: the server shut down gracefully and exited 0.
	if !p.Exited() || p.Err() != nil {
		t.Errorf("after StopAll: exited %v, err %v; want a clean exit", p.Exited(), p.Err())
	}
	if _, err := p.PeakRSS(); err == nil {
		t.Error("PeakRSS of an exited child: want an error")
	}
	if err := g.StopAll(t.Context()); err != nil {
		t.Errorf("second StopAll: %v", err)
	}
}

func TestStartServerRetriesATakenPort(t *testing.T) {
	needProc(t)
	g := &Procs{Dir: t.TempDir()}
	t.Cleanup(func() { _ = g.StopAll(context.Background()) })
	marker := filepath.Join(t.TempDir(), "first-attempt")
	p, _ := startHello(t, g, "flaky", "-marker", marker)
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("no first attempt: %v", err)
	}
	if p.Exited() {
		t.Error("the second attempt exited")
	}
}

func TestWaitReadyChildExits(t *testing.T) {
	g := &Procs{Dir: t.TempDir()}
	t.Cleanup(func() { _ = g.StopAll(context.Background()) })
	p, err := g.Start("broken", "/bin/sh", []string{"-c", "echo boom; exit 3"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = p.WaitReady(t.Context(), func(context.Context) error { return errors.New("not yet") })
	if err == nil || !strings.Contains(err.Error(), "broken exited before it was ready (exit status 3)") ||
		!strings.Contains(err.Error(), "boom") {
		t.Errorf("WaitReady = %v; want the exit status and the log's tail", err)
	}
	if p.Tail() != "boom" {
		t.Errorf("Tail() = %q, want boom", p.Tail())
	}
}

func TestCPUDuringChildExits(t *testing.T) {
	needProc(t)
	g := &Procs{Dir: t.TempDir()}
	t.Cleanup(func() { _ = g.StopAll(context.Background()) })
	p, _ := startHello(t, g, "hello")
	_, err := p.CPUDuring(func() error { return p.Stop(t.Context()) })
	if err == nil || !strings.Contains(err.Error(), "hello exited during the run") {
		t.Errorf("CPUDuring = %v; want the child's exit reported", err)
	}
	if _, err := p.CPUDuring(func() error { return nil }); err == nil {
		t.Error("CPUDuring of an exited child: want an error")
	}
}

func TestChildEnv(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://elsewhere")
	t.Setenv("GOMAXPROCS", "1")
	t.Setenv("FLAGSTORM_TARGET_URL", "http://elsewhere")
	t.Setenv("BENCHKIT_KEPT", "yes")
	env := ChildEnv("SEED_FLAGS=100")
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if k == "DATABASE_URL" || k == "GOMAXPROCS" || k == "FLAGSTORM_TARGET_URL" {
			t.Errorf("ChildEnv kept %s", kv)
		}
	}
	if !slices.Contains(env, "BENCHKIT_KEPT=yes") || env[len(env)-1] != "SEED_FLAGS=100" {
		t.Errorf("ChildEnv = %q; want other variables kept and SEED_FLAGS=100 last", env)
	}
}

func TestPinned(t *testing.T) {
	path, args := Pinned("1-3", "/usr/bin/wrk", []string{"-t2", "URL"})
	if diff := cmp.Diff([]string{"-c", "1-3", "/usr/bin/wrk", "-t2", "URL"}, args); path != "taskset" || diff != "" {
		t.Errorf("Pinned = %s, args (-want +got):\n%s", path, diff)
	}
}
