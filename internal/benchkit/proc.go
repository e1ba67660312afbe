// Package benchkit is what the two benchmark programs share
// (harness/cmd/benchengine and target/cmd/benchtarget): child
// processes in their own process groups, always reaped; load generators
// run to completion with the kernel's accounting of them; wrk with a Lua
// done hook and the parser of the line it prints; the hello reference
// server; readiness probes and warm-up; and the pieces of their Markdown
// reports (setup, medians, goal verdicts).
//
// It imports nothing of harness or target, so both may use it.
package benchkit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flagstorm/flagstorm/internal/freeport"
	"github.com/flagstorm/flagstorm/internal/logfile"
)

const (
	// stopTimeout is how long a child has to exit after SIGTERM before its
	// process group gets SIGKILL.
	stopTimeout = 5 * time.Second
	// readyTimeout bounds the wait for a started server to answer. Redis
	// answers in ~30 ms; flagserver opens and seeds SQLite in well under 5 s.
	readyTimeout = 30 * time.Second
	// pollInterval is the readiness polling period.
	pollInterval = 20 * time.Millisecond
	// logTail is how much of a child's log or output goes into an error
	// message.
	logTail = 2048
	// startAttempts is how many free ports a server tries when another
	// process takes the chosen one between the probe and the child's bind.
	startAttempts = 3
)

// Proc is one long-lived child process (a server under test) in its own
// process group, its stdout and stderr going to a log file.
type Proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once Wait has returned
	err     error         // Wait's result; read only after done is closed
}

// Procs owns every child process of a run; StopAll stops and reaps them.
// Dir is required.
type Procs struct {
	// Dir is where the children's log files go.
	Dir string
	// CPUs, when set, is the CPU list (taskset syntax, like "0") every
	// child is confined to, through taskset. Default "": any CPU.
	CPUs string

	mu   sync.Mutex
	list []*Proc
}

// Start starts path with args and env, in its own process group, and
// registers it so that StopAll reaps it on every exit path.
func (g *Procs) Start(name, path string, args, env []string) (*Proc, error) {
	logPath := filepath.Join(g.Dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer logFile.Close() // the child holds its own descriptor
	if g.CPUs != "" {
		// taskset execs the program: the process ID stays the child's.
		path, args = Pinned(g.CPUs, path, args)
	}
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	g.mu.Lock()
	g.list = append(g.list, p)
	g.mu.Unlock()
	return p, nil
}

// StartServer starts a server on a free loopback port and waits until
// ready(addr) succeeds. command gives the program's arguments and
// environment for an address. A server that lost its port to another
// process ("address already in use") is tried again on another one.
func (g *Procs) StartServer(ctx context.Context, name, path string,
	command func(addr string) (args, env []string),
	ready func(addr string) func(context.Context) error,
) (*Proc, string, error) {
	var err error
	for range startAttempts {
		var addr string
		if addr, err = freeport.Addr(); err != nil {
			return nil, "", err
		}
		args, env := command(addr)
		var p *Proc
		if p, err = g.Start(name, path, args, env); err != nil {
			return nil, "", err
		}
		if err = p.WaitReady(ctx, ready(addr)); err == nil {
			return p, addr, nil
		}
		if !p.Exited() || !strings.Contains(strings.ToLower(p.Tail()), "address already in use") {
			return nil, "", err
		}
	}
	return nil, "", err
}

// StopAll stops every child, last started first, and waits for each. It
// runs on every exit path, so it ignores ctx's cancellation and bounds
// itself instead.
func (g *Procs) StopAll(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	g.mu.Lock()
	list := g.list
	g.list = nil
	g.mu.Unlock()
	var errs []error
	for i := len(list) - 1; i >= 0; i-- {
		if err := list[i].Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Pinned wraps a command in taskset so that it (and the Go runtime's
// GOMAXPROCS, read at start) sees only cpus.
func Pinned(cpus, path string, args []string) (string, []string) {
	return "taskset", append([]string{"-c", cpus, path}, args...)
}

// Name is the name the child was started with.
func (p *Proc) Name() string { return p.name }

// PID is the child's process ID, also its process group ID.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Err is the child's exit (Wait's result); nil while it runs.
func (p *Proc) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// Stop sends SIGTERM to the child's process group, waits up to
// stopTimeout, then sends SIGKILL and waits for the exit.
func (p *Proc) Stop(ctx context.Context) error {
	if p.Exited() {
		return nil
	}
	_ = syscall.Kill(-p.PID(), syscall.SIGTERM)
	tctx, cancel := context.WithTimeout(ctx, stopTimeout)
	defer cancel()
	select {
	case <-p.done:
		return nil
	case <-tctx.Done():
	}
	_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.name, p.PID())
	}
}

// Exited reports whether the child has exited (and been reaped).
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Tail returns the end of the child's log, for error messages.
func (p *Proc) Tail() string { return strings.TrimSpace(logfile.Tail(p.logPath, logTail)) }

// WaitReady polls check until it succeeds, the child exits, or
// readyTimeout passes.
func (p *Proc) WaitReady(ctx context.Context, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		err := check(cctx)
		ccancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v)\n--- %s log tail ---\n%s", p.name, p.err, p.name, p.Tail())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %v: %w (last check: %v)\n--- %s log tail ---\n%s",
				p.name, readyTimeout, ctx.Err(), err, p.name, p.Tail())
		case <-tick.C:
		}
	}
}

// CPUTime is the CPU time (user + system) the child has used so far, from
// /proc/<pid>/stat (10 ms ticks).
func (p *Proc) CPUTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID()))
	if err != nil {
		return 0, fmt.Errorf("CPU time of %s: %w", p.name, err)
	}
	return parseCPUTime(string(b))
}

// CPUDuring calls run and returns the CPU time the child used meanwhile.
// A child that exited during run is an error, with its log's tail.
func (p *Proc) CPUDuring(run func() error) (time.Duration, error) {
	before, err := p.CPUTime()
	if err != nil {
		return 0, err
	}
	err = run()
	if err == nil && p.Exited() {
		err = fmt.Errorf("%s exited during the run (%v)\n--- %s log tail ---\n%s", p.name, p.err, p.name, p.Tail())
	}
	if err != nil {
		return 0, err
	}
	after, err := p.CPUTime()
	if err != nil {
		return 0, err
	}
	return after - before, nil
}

// PeakRSS is the child's peak resident set size (VmHWM in
// /proc/<pid>/status), in bytes. The child must still be running.
func (p *Proc) PeakRSS() (int64, error) {
	if p.Exited() {
		return 0, fmt.Errorf("%s has exited", p.name)
	}
	m, err := readMemStatus(p.PID())
	if err != nil {
		return 0, fmt.Errorf("peak RSS of %s: %w", p.name, err)
	}
	return m.HWM, nil
}

// ChildEnv is the parent's environment without the variables that
// configure flagserver, flagstorm or the Go runtime, plus set: every child
// sees only the configuration the benchmark chose (an exported
// DATABASE_URL must not switch flagserver to PostgreSQL, nor REDIS_URL
// add Redis, nor GOMAXPROCS change what a server may use).
func ChildEnv(set ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !dropEnv[k] && !strings.HasPrefix(k, "FLAGSTORM_") {
			env = append(env, kv)
		}
	}
	return append(env, set...)
}

var dropEnv = map[string]bool{
	"LISTEN_ADDR": true, "DATABASE_URL": true, "SQLITE_PATH": true, "REDIS_URL": true, "CACHE_PROFILE": true,
	"CACHE_TTL": true, "MEMORY_CACHE_TTL": true, "ADMIN_TOKEN": true, "ENVIRONMENTS": true, "SEED_FLAGS": true,
	"LOG_LEVEL": true, "LOG_FORMAT": true, "GOMAXPROCS": true, "GOGC": true, "GOMEMLIMIT": true,
	"GODEBUG": true,
}
