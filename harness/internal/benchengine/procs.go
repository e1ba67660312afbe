package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// stopTimeout is how long a child has to exit after SIGTERM before its
	// process group gets SIGKILL.
	stopTimeout = 5 * time.Second
	// readyTimeout bounds the wait for a started server to answer;
	// flagserver opens and seeds SQLite in well under 5 s.
	readyTimeout = 30 * time.Second
	// pollInterval is the readiness polling period.
	pollInterval = 20 * time.Millisecond
	// logTail is how much of a child's log goes into an error message.
	logTail = 2048
)

// proc is one long-lived child process (a server under test) in its own
// process group, its stdout and stderr going to a log file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once Wait has returned
	err     error         // Wait's result; read only after done is closed
}

// procs owns every server process of a run; stopAll stops and reaps them.
type procs struct {
	dir string // log files go here

	mu   sync.Mutex
	list []*proc
}

// start starts path with args and env, in its own process group, and
// registers it so that stopAll reaps it on every exit path.
func (g *procs) start(name, path string, args, env []string) (*proc, error) {
	logPath := filepath.Join(g.dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	g.mu.Lock()
	g.list = append(g.list, p)
	g.mu.Unlock()
	return p, nil
}

// stopAll stops every child, last started first, and waits for each. It
// runs on every exit path, so it ignores ctx's cancellation and bounds
// itself instead.
func (g *procs) stopAll(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	g.mu.Lock()
	list := g.list
	g.list = nil
	g.mu.Unlock()
	var errs []error
	for i := len(list) - 1; i >= 0; i-- {
		if err := list[i].stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// pid is the child's process ID, also its process group ID.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM to the child's process group, waits up to stopTimeout,
// then sends SIGKILL and waits for the exit.
func (p *proc) stop(ctx context.Context) error {
	if p.exited() {
		return nil
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	tctx, cancel := context.WithTimeout(ctx, stopTimeout)
	defer cancel()
	select {
	case <-p.done:
		return nil
	case <-tctx.Done():
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.name, p.pid())
	}
}

// exited reports whether the child has exited (and been reaped).
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail returns the end of the child's log, for error messages.
func (p *proc) tail() string { return fileTail(p.logPath) }

// fileTail returns the last logTail bytes of a log file.
func fileTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(b) > logTail {
		b = b[len(b)-logTail:]
	}
	return string(bytes.TrimSpace(b))
}

// waitReady polls check until it succeeds, the child exits, or
// readyTimeout passes.
func (p *proc) waitReady(ctx context.Context, check func(context.Context) error) error {
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
			return fmt.Errorf("%s exited before it was ready (%v)\n--- %s log tail ---\n%s", p.name, p.err, p.name, p.tail())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %v: %w (last check: %v)\n--- %s log tail ---\n%s",
				p.name, readyTimeout, ctx.Err(), err, p.name, p.tail())
		case <-tick.C:
		}
	}
}

// cpuTime is the CPU time (user + system) the child has used so far, from
// /proc/<pid>/stat (10 ms ticks).
func (p *proc) cpuTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid()))
	if err != nil {
		return 0, fmt.Errorf("CPU time of %s: %w", p.name, err)
	}
	return parseCPUTime(string(b))
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	return addr, nil
}

// childEnv is the parent's environment without the variables that
// configure flagserver or flagstorm, plus set: every child sees only the
// configuration the benchmark chose (an exported DATABASE_URL must not
// switch flagserver to PostgreSQL, nor REDIS_URL add Redis).
func childEnv(set ...string) []string {
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

// startAttempts is how many free ports a server tries when another
// process takes the chosen one between the probe and the child's bind.
const startAttempts = 3

// startServer starts a server on a free loopback port and waits until
// ready(addr) succeeds. command gives the program's arguments and
// environment for an address.
func (g *procs) startServer(ctx context.Context, name, path string,
	command func(addr string) (args, env []string),
	ready func(addr string) func(context.Context) error,
) (*proc, string, error) {
	var err error
	for range startAttempts {
		var addr string
		if addr, err = freeAddr(); err != nil {
			return nil, "", err
		}
		args, env := command(addr)
		var p *proc
		if p, err = g.start(name, path, args, env); err != nil {
			return nil, "", err
		}
		if err = p.waitReady(ctx, ready(addr)); err == nil {
			return p, addr, nil
		}
		if !p.exited() || !strings.Contains(strings.ToLower(p.tail()), "address already in use") {
			return nil, "", err
		}
	}
	return nil, "", err
}
