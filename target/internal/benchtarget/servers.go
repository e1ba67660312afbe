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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
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
	// logTail is how much of a child's log goes into an error message.
	logTail = 2048
)

// proc is one child process in its own process group, its stdout and
// stderr going to a log file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once Wait has returned
	err     error         // Wait's result; read only after done is closed
}

// procs owns every child process of a run; stopAll stops and reaps them.
type procs struct {
	dir string // log files go here
	// cpus, when set, is the CPU list (taskset syntax, like "0") every
	// child is confined to, through taskset.
	cpus string

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
	if g.cpus != "" {
		// taskset execs the program: the process ID stays the child's.
		path, args = pinned(g.cpus, path, args)
	}
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

// pinned wraps a command in taskset so that it (and the Go runtime's
// GOMAXPROCS, read at start) sees only cpus.
func pinned(cpus, path string, args []string) (string, []string) {
	return "taskset", append([]string{"-c", cpus, path}, args...)
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
func (p *proc) tail() string {
	b, err := os.ReadFile(p.logPath)
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

// peakRSS is the child's peak resident set size (VmHWM in
// /proc/<pid>/status), in bytes. The child must still be running.
func (p *proc) peakRSS() (int64, error) {
	if p.exited() {
		return 0, fmt.Errorf("%s has exited", p.name)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid()))
	if err != nil {
		return 0, fmt.Errorf("peak RSS of %s: %w", p.name, err)
	}
	return parseVmHWM(string(b))
}

// clockTick is the unit of utime and stime in /proc/<pid>/stat
// (USER_HZ, 100 on every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// cpuTime is the CPU time (user + system) the child has used so far.
func (p *proc) cpuTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid()))
	if err != nil {
		return 0, fmt.Errorf("CPU time of %s: %w", p.name, err)
	}
	return parseCPUTime(string(b))
}

// parseCPUTime reads utime and stime (fields 14 and 15) of a
// /proc/<pid>/stat line; the command name in field 2 may contain spaces.
func parseCPUTime(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc stat %q", stat)
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc stat %q", stat)
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected /proc stat %q: %w", stat, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// parseVmHWM reads the "VmHWM:   12345 kB" line of a /proc/<pid>/status.
func parseVmHWM(status string) (int64, error) {
	for line := range strings.Lines(status) {
		rest, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmHWM line %q", strings.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected VmHWM line %q: %w", strings.TrimSpace(line), err)
		}
		return kb << 10, nil
	}
	return 0, errors.New("no VmHWM line in /proc status")
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
// configure flagserver, plus set: the servers under test see only the
// configuration the benchmark chose (an exported DATABASE_URL must not
// switch a run to PostgreSQL).
func childEnv(set ...string) []string {
	drop := map[string]bool{}
	for _, k := range []string{
		"LISTEN_ADDR", "DATABASE_URL", "SQLITE_PATH", "REDIS_URL", "CACHE_PROFILE", "CACHE_TTL",
		"MEMORY_CACHE_TTL", "ADMIN_TOKEN", "ENVIRONMENTS", "SEED_FLAGS", "LOG_LEVEL", "LOG_FORMAT",
	} {
		drop[k] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			env = append(env, kv)
		}
	}
	return append(env, set...)
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

// servers are the processes a run starts: one redis-server, the two
// reference handlers (this program re-executed in -serve mode) and two
// flagservers, one with its in-process cache and one without.
type servers struct {
	redis                             string // host:port
	hello, redisGet, memory, noMemory *server
}

func startServers(ctx context.Context, g *procs, pr *prober, redisPath, self, flagserver, dir string) (*servers, error) {
	var s servers
	data := filepath.Join(dir, "redis")
	if err := os.Mkdir(data, 0o755); err != nil {
		return nil, fmt.Errorf("redis-server data dir: %w", err)
	}
	_, addr, err := g.startServer(ctx, "redis-server", redisPath, func(addr string) ([]string, []string) {
		_, port, _ := strings.Cut(addr, ":")
		return []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", data, "--daemonize", "no"}, childEnv()
	}, redisReady)
	if err != nil {
		return nil, err
	}
	s.redis = addr
	redisURL := "redis://" + addr + "/0"

	httpReady := func(addr string) func(context.Context) error { return pr.ready("http://" + addr + "/readyz") }
	start := func(name, path string, command func(addr string) ([]string, []string)) (*server, error) {
		p, addr, err := g.startServer(ctx, name, path, command, httpReady)
		if err != nil {
			return nil, err
		}
		return &server{name: name, proc: p, base: "http://" + addr}, nil
	}
	reference := func(mode string) func(addr string) ([]string, []string) {
		return func(addr string) ([]string, []string) {
			return []string{"-serve", mode, "-addr", addr, "-redis", s.redis}, childEnv()
		}
	}
	flagserverCmd := func(name string, extra ...string) func(addr string) ([]string, []string) {
		return func(addr string) ([]string, []string) {
			env := append([]string{
				"LISTEN_ADDR=" + addr,
				"REDIS_URL=" + redisURL,
				"SQLITE_PATH=" + filepath.Join(dir, name+".db"),
				"CACHE_PROFILE=hardened",
				"SEED_FLAGS=100",
				"LOG_LEVEL=warn",
				"LOG_FORMAT=json",
			}, extra...)
			return []string{"serve"}, childEnv(env...)
		}
	}
	if s.hello, err = start("hello", self, reference(modeHello)); err != nil {
		return nil, err
	}
	if s.redisGet, err = start("redis-get", self, reference(modeRedisGet)); err != nil {
		return nil, err
	}
	if s.memory, err = start("flagserver-memory", flagserver, flagserverCmd("flagserver-memory")); err != nil {
		return nil, err
	}
	if s.noMemory, err = start("flagserver-redis", flagserver, flagserverCmd("flagserver-redis", "MEMORY_CACHE_TTL=0")); err != nil {
		return nil, err
	}
	s.memory.flagserver, s.noMemory.flagserver = true, true
	return &s, nil
}
