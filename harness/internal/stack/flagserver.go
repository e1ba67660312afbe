package stack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flagstorm/flagstorm/internal/freeport"
	"github.com/flagstorm/flagstorm/internal/logfile"
	"github.com/flagstorm/flagstorm/internal/secret"
)

// flagserverVars are the variables flagserver reads; this process's values
// of them are not passed on, so that the stack's wiring is what counts.
var flagserverVars = []string{
	"LISTEN_ADDR", "DATABASE_URL", "DATABASE_MAX_CONNS", "SQLITE_PATH", "REDIS_URL", "CACHE_PROFILE", "CACHE_TTL",
	"MEMORY_CACHE_TTL", "ADMIN_TOKEN", "ENVIRONMENTS", "SEED_FLAGS", "LOG_LEVEL", "LOG_FORMAT",
}

// startAttempts is how many free ports a first start tries when another
// process takes the chosen one first.
const startAttempts = 3

// instance is one flagserver process slot: it keeps its address across
// restarts.
type instance struct {
	s       *Stack
	index   int
	name    string // flagserver[i]
	profile string
	logPath string
	env     []string // everything but LISTEN_ADDR

	op      sync.Mutex    // serializes start, stop and restart
	addr    string        // host:port; set by the first start (or reserveAndSeed), under op
	closed  bool          // stopped for good by Close; under op
	readyIn time.Duration // the last start: from the process's start to ready (or to giving up); under op

	mu   sync.Mutex // guards proc
	proc *flagProc
}

// flagProc is one flagserver process; done is closed once it is reaped.
type flagProc struct {
	cmd      *exec.Cmd
	done     chan struct{}
	waitErr  error // set before done is closed
	mu       sync.Mutex
	stopping bool // an exit is expected
}

func (s *Stack) newInstance(i int) *instance {
	cfg := s.cfg
	if c := cfg.Command; c != nil {
		return &instance{s: s, index: i, name: fmt.Sprintf("%s[%d]", c.Name, i),
			logPath: filepath.Join(s.dir, fmt.Sprintf("%s-%d.log", c.Name, i))}
	}
	in := &instance{
		s:       s,
		index:   i,
		name:    fmt.Sprintf("flagserver[%d]", i),
		profile: cfg.Profiles[i],
		logPath: filepath.Join(s.dir, fmt.Sprintf("flagserver-%d.log", i)),
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !isFlagserverVar(k) {
			in.env = append(in.env, kv)
		}
	}
	set := func(k, v string) { in.env = append(in.env, k+"="+v) }
	if s.database == DatabaseSQLite {
		set("SQLITE_PATH", s.sqlite)
	} else {
		_, proxied, _ := proxiedURL(s.dbURL, s.proxyListen(ProxyPostgres)) // checked before
		set("DATABASE_URL", proxied)
	}
	set("REDIS_URL", s.redisURL(s.proxyListen(ProxyRedis)))
	set("CACHE_PROFILE", in.profile)
	set("ADMIN_TOKEN", cfg.AdminToken)
	if cfg.DeferTargets {
		set("SEED_FLAGS", "0") // seeded by the stack before the run (reserveAndSeed)
	} else {
		set("SEED_FLAGS", strconv.Itoa(cfg.SeedFlags))
	}
	if cfg.MemoryCacheTTL != nil {
		set("MEMORY_CACHE_TTL", cfg.MemoryCacheTTL.String())
	}
	set("LOG_FORMAT", "json")
	set("LOG_LEVEL", "warn")
	for k, v := range cfg.Env { // exec uses the last value of a duplicate
		set(k, v)
	}
	return in
}

// isFlagserverVar reports whether k is a variable flagserver reads. The
// deliberately unsafe switches (UNSAFE_*) count: they reach a flagserver
// only through Config.Env, never from this process's environment.
func isFlagserverVar(k string) bool {
	if strings.HasPrefix(k, "UNSAFE_") {
		return true
	}
	for _, v := range flagserverVars {
		if k == v {
			return true
		}
	}
	return false
}

func (in *instance) url() string { return "http://" + in.addr }

// redisURL is the URL of the Redis at addr (a proxy's) with the stack's
// password: redis://:PASSWORD@addr/0. It goes into environments only,
// never into a command line.
func (s *Stack) redisURL(addr string) string {
	u := url.URL{Scheme: "redis", Host: addr, Path: "/0"}
	if s.redisPass != "" {
		u.User = url.UserPassword("", s.redisPass)
	}
	return u.String()
}

// hide masks the stack's secrets in text (a command line, say): the
// database password, the Redis password, the admin token.
func (s *Stack) hide(text string) string {
	return secret.Hide(text, s.dbURL, s.redisPass, s.cfg.AdminToken)
}

// command is the process of one start: flagserver serve, or the
// description's command with its templates filled for this address.
func (in *instance) command() *exec.Cmd {
	s := in.s
	c := s.cfg.Command
	if c == nil {
		cmd := exec.Command(s.flagBin, "serve")
		cmd.Env = append(append([]string(nil), in.env...), "LISTEN_ADDR="+in.addr)
		cmd.Dir = s.dir
		return cmd
	}
	values := s.commandValues(in.index, in.addr)
	argv := commandArgv(c.Argv, values)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = s.commandEnv(values)
	cmd.Dir = cmp.Or(c.Dir, s.dir)
	return cmd
}

// pid returns the running process's id, or 0.
func (in *instance) pid() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.proc == nil {
		return 0
	}
	select {
	case <-in.proc.done:
		return 0
	default:
		return in.proc.cmd.Process.Pid
	}
}

// start starts the process and waits until /readyz answers 200; it
// returns the time from starting the process until then. The first start
// picks a free port, and another when the port is taken first.
func (in *instance) start(ctx context.Context, first bool) (time.Duration, error) {
	in.op.Lock()
	defer in.op.Unlock()
	if in.closed {
		return 0, componentErr(in.name, errors.New("the stack is closed"))
	}
	err := in.startLocked(ctx, first)
	return in.readyIn, componentErr(in.name, err)
}

func (in *instance) startLocked(ctx context.Context, first bool) error {
	ctx, cancel := context.WithTimeout(ctx, in.s.cfg.ReadyTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		if first {
			port, err := freeport.Loopback()
			if err != nil {
				return err
			}
			in.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		}
		logStart := logfile.Size(in.logPath)
		err := in.run(ctx)
		if err == nil {
			return nil
		}
		inUse := strings.Contains(logfile.From(in.logPath, logStart), "address already in use")
		if first && inUse && attempt < startAttempts {
			continue
		}
		return fmt.Errorf("%w\n--- %s (tail) ---\n%s", err, in.logPath, in.s.hide(logfile.Tail(in.logPath, logTail)))
	}
}

// run starts one process on in.addr and waits until it is ready; if it
// is not, the process is stopped.
func (in *instance) run(ctx context.Context) error {
	logf, err := os.OpenFile(in.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open the log: %w", err)
	}
	defer logf.Close() // the child has its own descriptor
	cmd := in.command()
	fmt.Fprintf(logf, "--- flagstorm: %s on %s\n", in.s.hide(strings.Join(cmd.Args, " ")), in.addr)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = childAttr()
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", cmd.Path, err)
	}
	p := &flagProc{cmd: cmd, done: make(chan struct{})}
	in.s.watchers.Go(func() {
		p.waitErr = cmd.Wait()
		close(p.done)
		p.mu.Lock()
		expected := p.stopping
		p.mu.Unlock()
		if !expected {
			in.s.log.Warn("flagserver exited", "instance", in.index, "err", p.waitErr, "log", in.logPath)
		}
	})
	in.mu.Lock()
	in.proc = p
	in.mu.Unlock()

	err = in.waitReady(ctx, p)
	in.readyIn = time.Since(begin)
	if err != nil {
		_ = in.stopProc(context.WithoutCancel(ctx), p)
		return err
	}
	return nil
}

// waitReady polls /readyz until it answers 200, the process exits, or ctx
// ends.
func (in *instance) waitReady(ctx context.Context, p *flagProc) error {
	readyz := in.url() + "/readyz"
	if c := in.s.cfg.Command; c != nil {
		readyz = in.url() + c.Ready
	}
	var last error
	for {
		select {
		case <-p.done:
			return fmt.Errorf("exited before it was ready: %v", p.waitErr)
		default:
		}
		last = in.probe(ctx, readyz)
		if last == nil {
			// Still ours: a process that took the port first would answer
			// while ours exits.
			select {
			case <-p.done:
				return fmt.Errorf("exited before it was ready: %v", p.waitErr)
			default:
				return nil
			}
		}
		select {
		case <-p.done:
		case <-ctx.Done():
			return fmt.Errorf("not ready on %s: %w (last: %w)", readyz, context.Cause(ctx), last)
		case <-time.After(readyPollInterval):
		}
	}
}

func (in *instance) probe(ctx context.Context, readyz string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, readyz, nil)
	if err != nil {
		return err
	}
	res, err := in.s.http.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("/readyz: %s: %s", res.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// restart stops the process and starts it again on the same address.
func (in *instance) restart(ctx context.Context) error {
	in.op.Lock()
	defer in.op.Unlock()
	if in.closed {
		return fmt.Errorf("stack: restart %s: the stack is closed", in.name)
	}
	in.mu.Lock()
	p := in.proc
	in.mu.Unlock()
	if p != nil {
		if err := in.stopProc(ctx, p); err != nil {
			return fmt.Errorf("stack: restart %s: %w", in.name, err)
		}
	}
	if err := in.startLocked(ctx, false); err != nil {
		return fmt.Errorf("stack: restart %s: %w", in.name, err)
	}
	return nil
}

// stop stops the process, if any, for good.
func (in *instance) stop(ctx context.Context) error {
	in.op.Lock()
	defer in.op.Unlock()
	in.closed = true
	in.mu.Lock()
	p := in.proc
	in.mu.Unlock()
	if p == nil {
		return nil
	}
	if err := in.stopProc(ctx, p); err != nil {
		return fmt.Errorf("stop %s: %w", in.name, err)
	}
	return nil
}

// stopProc sends SIGTERM to the process group, SIGKILL after stopGrace or
// when ctx ends, and waits until the process is reaped.
func (in *instance) stopProc(ctx context.Context, p *flagProc) error {
	p.mu.Lock()
	p.stopping = true
	p.mu.Unlock()
	pgid := p.cmd.Process.Pid // Setpgid: the group's id is the leader's pid
	select {
	case <-p.done:
	default:
		_ = signalGroup(p, syscall.SIGTERM)
		timer := time.NewTimer(stopGrace)
		select {
		case <-p.done:
		case <-ctx.Done():
		case <-timer.C:
			in.s.log.Warn("flagserver did not stop within the grace period: killing it", "instance", in.index, "grace", stopGrace)
		}
		timer.Stop()
	}
	_ = signalGroup(p, syscall.SIGKILL)
	timer := time.NewTimer(reapTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return nil
	case <-timer.C:
		return fmt.Errorf("flagserver %d did not exit %v after SIGKILL", pgid, reapTimeout)
	}
}

// signalGroup signals the process group of a process that has not been
// reaped yet (once reaped, its pid may belong to someone else).
func signalGroup(p *flagProc, sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	err := syscall.Kill(-p.cmd.Process.Pid, sig)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// findFlagserver resolves the flagserver executable: bin if given, else
// flagserver next to the running executable, bin/flagserver in the
// working directory, flagserver on PATH.
func findFlagserver(bin string) (string, error) {
	if bin != "" {
		path, err := exec.LookPath(bin)
		if err != nil {
			return "", fmt.Errorf("%w: %s: %w (run make build, or point the flagserver binary setting at it)", ErrFlagserverNotFound, bin, err)
		}
		return filepath.Abs(path)
	}
	var tried []string
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "flagserver")
		if isExecutable(p) {
			return p, nil
		}
		tried = append(tried, p)
	}
	if wd, err := os.Getwd(); err == nil {
		p := filepath.Join(wd, "bin", "flagserver")
		if isExecutable(p) {
			return p, nil
		}
		tried = append(tried, p)
	}
	if p, err := exec.LookPath("flagserver"); err == nil {
		return filepath.Abs(p)
	}
	tried = append(tried, "flagserver on PATH")
	return "", fmt.Errorf("%w (tried %s): run make build, or point the flagserver binary setting at it",
		ErrFlagserverNotFound, strings.Join(tried, ", "))
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}
