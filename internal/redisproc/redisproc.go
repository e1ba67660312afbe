// Package redisproc runs real redis-server processes on 127.0.0.1: start
// one (a primary or a replica), crash it, restart it cold on the same port,
// promote it and point it at another primary, always waiting until the
// server is ready, and for a replica until it receives the primary's
// writes. The fault library (toxics) and the test helpers (testenv) share
// it.
//
// Readiness checks talk RESP over a fresh connection ([Do], [Info]) so that
// they depend on no client library's pool or retries.
package redisproc

import (
	"cmp"
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

	"github.com/flagstorm/flagstorm/internal/freeport"
	"github.com/flagstorm/flagstorm/internal/logfile"
)

// ErrNotFound: there is no redis-server to run.
var ErrNotFound = errors.New("redisproc: redis-server not found on PATH: install it with apt-get install -y redis-server")

// ErrStopped: the Server was stopped for good with Stop.
var ErrStopped = errors.New("redisproc: redis-server was stopped")

const (
	// startTimeout bounds a start when ctx has no earlier deadline; a
	// server answers in 13–30 ms, a replica's first sync takes ~10 ms more.
	startTimeout = 10 * time.Second
	// stopTimeout is how long Shutdown and Stop wait for a graceful exit
	// before SIGKILL.
	stopTimeout = 10 * time.Second
	// reapTimeout bounds the wait for a SIGKILLed process to be
	// reaped and its port to close.
	reapTimeout = 5 * time.Second
	// portAttempts is how many ports a start on port 0 tries when
	// another process takes the chosen one first.
	portAttempts = 5
	// pollInterval is how often a condition being waited for is checked.
	pollInterval = 5 * time.Millisecond
	// logTail is how much of the server's log goes into an error.
	logTail = 2048
)

// errAddrInUse marks a start that failed because the port was taken.
var errAddrInUse = errors.New("address already in use")

// Config configures a [Server].
type Config struct {
	// Port is the TCP port on 127.0.0.1; 0 picks a free one. The port stays
	// the same across Kill and Restart.
	Port int
	// Dir holds the server's log (redis.log) and one data directory per
	// run, so that a restarted server starts empty. "" means a temporary
	// directory that Stop removes.
	Dir string
	// ReplicaOf is the primary's address (host:port) for a replica; ""
	// starts a primary.
	ReplicaOf string
	// Binary is the redis-server executable; "" looks it up on PATH.
	Binary string
	// Args are extra redis-server arguments, like "--maxmemory", "64mb";
	// they are passed again on every restart.
	Args []string
	// Password, if not "", is required of every client (requirepass) and
	// presented to the primary (masterauth): a replica and its primary
	// share it. It goes to redis-server in a config file (Dir/redis.conf,
	// mode 0600), never in its command line. "" (default): no password.
	Password string
}

// Server is a real redis-server process listening on 127.0.0.1 with
// persistence off (no RDB snapshots, no AOF). It runs in its own process
// group and, on Linux, dies with this process. Its methods are safe for
// concurrent use; Kill, Restart, Shutdown and Stop wait until the process
// is reaped.
type Server struct {
	bin      string
	port     int
	addr     string
	dir      string
	ownDir   bool // dir was made by Start; Stop removes it
	logPath  string
	args     []string
	password string
	confPath string // "" without a password

	mu        sync.Mutex
	replicaOf string   // the primary, "" for a primary
	proc      *process // nil while not running
	runs      int      // processes started so far; names the data dirs
	stopped   bool
}

// process is one redis-server process; done is closed once it is reaped.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts a redis-server and waits until it answers (and, for a
// replica, until it receives the primary's writes), polling until ctx ends
// or 10 s pass. The caller must Stop it.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	bin, err := find(cfg.Binary)
	if err != nil {
		return nil, err
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("redisproc: start redis-server: port %d out of range", cfg.Port)
	}
	if cfg.ReplicaOf != "" {
		if err := checkAddr(cfg.ReplicaOf); err != nil {
			return nil, fmt.Errorf("redisproc: start redis-server: replica of %w", err)
		}
	}
	r := &Server{
		bin:       bin,
		dir:       cfg.Dir,
		args:      append([]string(nil), cfg.Args...),
		replicaOf: cfg.ReplicaOf,
		password:  cfg.Password,
	}
	if r.dir == "" {
		if r.dir, err = os.MkdirTemp("", "flagstorm-redis-*"); err != nil {
			return nil, fmt.Errorf("redisproc: start redis-server: %w", err)
		}
		r.ownDir = true
	} else if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return nil, fmt.Errorf("redisproc: start redis-server: %w", err)
	}
	r.logPath = filepath.Join(r.dir, "redis.log")
	if r.password != "" {
		if strings.ContainsAny(r.password, "\"'\\ \t\r\n") {
			if r.ownDir {
				_ = os.RemoveAll(r.dir)
			}
			return nil, errors.New("redisproc: start redis-server: the password may not hold spaces, quotes or backslashes")
		}
		r.confPath = filepath.Join(r.dir, "redis.conf")
		conf := "requirepass " + r.password + "\nmasterauth " + r.password + "\n"
		if err := os.WriteFile(r.confPath, []byte(conf), 0o600); err != nil {
			if r.ownDir {
				_ = os.RemoveAll(r.dir)
			}
			return nil, fmt.Errorf("redisproc: start redis-server: write the config file: %w", err)
		}
	}

	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	for attempt := 1; ; attempt++ {
		r.port = cfg.Port
		if r.port == 0 {
			if r.port, err = freeport.Loopback(); err != nil {
				break
			}
		}
		r.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
		err = r.start(ctx)
		// Only a port of our own choosing is worth another try: someone
		// else may have taken it between the probe and the start.
		if err == nil || cfg.Port != 0 || !errors.Is(err, errAddrInUse) || attempt == portAttempts {
			break
		}
	}
	if err != nil {
		if r.ownDir {
			_ = os.RemoveAll(r.dir)
		}
		return nil, fmt.Errorf("redisproc: start redis-server: %w", err)
	}
	return r, nil
}

// find resolves the redis-server executable.
func find(bin string) (string, error) {
	if bin == "" {
		path, err := exec.LookPath("redis-server")
		if err != nil {
			return "", ErrNotFound
		}
		return path, nil
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("%w (configured binary %q: %w)", ErrNotFound, bin, err)
	}
	return path, nil
}

// Password is the password clients must give (Config.Password), "" for
// none.
func (r *Server) Password() string { return r.password }

// Do sends one command to the server over a fresh connection,
// authenticated with its password, like the package's [Do].
func (r *Server) Do(ctx context.Context, args ...string) (any, error) {
	return DoAuth(ctx, r.addr, r.password, args...)
}

// Info returns the text of INFO section, asked with the server's
// password, like the package's [Info].
func (r *Server) Info(ctx context.Context, section string) (string, error) {
	return InfoAuth(ctx, r.addr, r.password, section)
}

// Addr returns the server's address, like "127.0.0.1:41234".
func (r *Server) Addr() string { return r.addr }

// Port returns the server's TCP port.
func (r *Server) Port() int { return r.port }

// LogPath returns the server's log file; every run appends to it.
func (r *Server) LogPath() string { return r.logPath }

// PID returns the process id, or 0 while the server is not running.
func (r *Server) PID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.runningLocked() {
		return 0
	}
	return r.proc.cmd.Process.Pid
}

// Running reports whether the process is alive (it may not be ready yet
// during a Restart).
func (r *Server) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runningLocked()
}

func (r *Server) runningLocked() bool {
	if r.proc == nil {
		return false
	}
	select {
	case <-r.proc.done:
		return false
	default:
		return true
	}
}

// ReplicaOf returns the primary this server replicates from, "" for a
// primary. It is the role the server has now and keeps across Restart.
func (r *Server) ReplicaOf() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.replicaOf
}

// Kill crashes the server: SIGKILL to its process group, then it waits
// until the process is reaped and the port refuses connections. Its data is
// lost. Killing a server that is not running does nothing.
func (r *Server) Kill(ctx context.Context) error {
	return r.locked("kill", func() error { return r.killLocked(ctx) })
}

// Restart kills the server if it is running and starts it again, empty, on
// the same port and in the same role (a cold restart), waiting until it is
// ready as Start does.
func (r *Server) Restart(ctx context.Context) error {
	return r.locked("restart", func() error { return r.restartLocked(ctx) })
}

// locked calls f holding r.mu; an error it returns is said to be of
// operation op on the server.
func (r *Server) locked(op string, f func() error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := f(); err != nil {
		return fmt.Errorf("redisproc: %s redis-server on %s: %w", op, r.addr, err)
	}
	return nil
}

// RestartAsReplicaOf kills the server if it is running and starts it
// again, empty, on the same port as a replica of primary (host:port),
// waiting until it receives the primary's writes as Start does. A later
// Restart keeps it a replica.
func (r *Server) RestartAsReplicaOf(ctx context.Context, primary string) error {
	if err := checkAddr(primary); err != nil {
		return fmt.Errorf("redisproc: restart redis-server on %s as a replica of %w", r.addr, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.replicaOf = primary
	if err := r.restartLocked(ctx); err != nil {
		return fmt.Errorf("redisproc: restart redis-server on %s as a replica of %s: %w", r.addr, primary, err)
	}
	return nil
}

func (r *Server) restartLocked(ctx context.Context) error {
	if r.stopped {
		return ErrStopped
	}
	if err := r.killLocked(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	var err error
	for range portAttempts {
		// The port can only have been taken by someone's probe for a free
		// port, which lets go of it at once.
		if err = r.start(ctx); !errors.Is(err, errAddrInUse) {
			break
		}
		if werr := Sleep(ctx, 10*pollInterval); werr != nil {
			break
		}
	}
	return err
}

// Shutdown stops the server gracefully: SIGTERM, SIGKILL if it has not
// exited after 10 s or when ctx ends; it waits until the process is reaped
// and the port refuses connections. Unlike Stop it is not for good: Restart
// starts the server again. Shutting down a server that is not running does
// nothing.
func (r *Server) Shutdown(ctx context.Context) error {
	return r.locked("shut down", func() error {
		if r.proc == nil {
			return nil
		}
		if err := r.haltLocked(ctx, true); err != nil {
			return err
		}
		return r.waitClosedLocked(ctx)
	})
}

// Stop shuts the server down for good: SIGTERM, SIGKILL if it has not
// exited after 10 s or when ctx ends, and it waits until the process is
// reaped. A temporary directory made by Start is removed. Stopping
// again does nothing; Restart after Stop returns [ErrStopped].
func (r *Server) Stop(ctx context.Context) error {
	return r.locked("stop", func() error {
		if r.stopped {
			return nil
		}
		r.stopped = true
		var errs []error
		if err := r.haltLocked(ctx, true); err != nil {
			errs = append(errs, err)
		}
		if r.ownDir {
			if err := os.RemoveAll(r.dir); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
}

// killLocked SIGKILLs the running process, if any, waits until it is reaped
// and then until the port refuses connections. The caller holds r.mu.
func (r *Server) killLocked(ctx context.Context) error {
	if r.proc == nil {
		return nil
	}
	if err := r.haltLocked(ctx, false); err != nil {
		return err
	}
	return r.waitClosedLocked(ctx)
}

// haltLocked ends the running process, if any, and waits until it is
// reaped: when graceful, SIGTERM first and SIGKILL if it has not exited
// after stopTimeout or when ctx ends; otherwise SIGKILL at once. The caller
// holds r.mu.
func (r *Server) haltLocked(ctx context.Context, graceful bool) error {
	p := r.proc
	if p == nil {
		return nil
	}
	r.proc = nil
	var errs []error
	if graceful {
		if err := signalGroup(p, syscall.SIGTERM); err != nil {
			errs = append(errs, err)
		}
		timer := time.NewTimer(stopTimeout)
		select {
		case <-p.done:
		case <-ctx.Done():
		case <-timer.C:
		}
		timer.Stop()
	}
	if err := reap(p); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// waitClosedLocked waits until the port refuses connections, at most
// reapTimeout: a child the server forked may hold it a little longer. The
// caller holds r.mu.
func (r *Server) waitClosedLocked(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, reapTimeout)
	defer cancel()
	return waitFor(ctx, func() (bool, error) {
		c, err := net.DialTimeout("tcp", r.addr, 100*time.Millisecond)
		if err != nil {
			return true, nil
		}
		_ = c.Close()
		return false, fmt.Errorf("port %d still accepts connections", r.port)
	})
}

// signalGroup sends sig to the process group of a process that has not
// been reaped yet (once reaped, its pid may belong to someone else).
func signalGroup(p *process, sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	pgid := p.cmd.Process.Pid // Setpgid: the group's id is the leader's pid
	if err := syscall.Kill(-pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal redis-server %d: %w", pgid, err)
	}
	return nil
}

// reap SIGKILLs the process group (unless the process already exited) and
// waits for the process to be reaped.
func reap(p *process) error {
	if err := signalGroup(p, syscall.SIGKILL); err != nil {
		return err
	}
	timer := time.NewTimer(reapTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return nil
	case <-timer.C:
		return fmt.Errorf("redis-server %d did not exit %v after SIGKILL", p.cmd.Process.Pid, reapTimeout)
	}
}

// start starts a process on r.port and waits until it is ready. The caller
// holds r.mu and no process is running. The error wraps errAddrInUse when
// the port was taken.
func (r *Server) start(ctx context.Context) error {
	r.runs++
	// A fresh data dir per run: a replica's sync leaves a dump.rdb behind
	// that a restarted server would load, and a restart must be cold. The
	// previous run's dir belongs to a dead process.
	if r.runs > 1 {
		_ = os.RemoveAll(filepath.Join(r.dir, fmt.Sprintf("run-%d", r.runs-1)))
	}
	runDir := filepath.Join(r.dir, fmt.Sprintf("run-%d", r.runs))
	if err := os.Mkdir(runDir, 0o700); err != nil {
		return fmt.Errorf("create the data dir: %w", err)
	}
	args := []string{
		"--port", strconv.Itoa(r.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", runDir,
		"--daemonize", "no",
		"--repl-diskless-sync-delay", "0", // or a replica's first sync waits 5 s
	}
	if r.replicaOf != "" {
		host, port, _ := net.SplitHostPort(r.replicaOf) // checked on the way in
		args = append(args, "--replicaof", host, port)
	}
	args = append(args, r.args...)
	if r.confPath != "" {
		args = append([]string{r.confPath}, args...) // a config file comes first
	}

	logf, err := os.OpenFile(r.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open the log: %w", err)
	}
	defer logf.Close() // the child has its own descriptor
	shown := make([]string, len(args))
	for i, a := range args {
		shown[i] = cmp.Or(a, "''")
	}
	fmt.Fprintf(logf, "--- flagstorm: run %d: %s %s\n", r.runs, r.bin, strings.Join(shown, " "))
	st, err := logf.Stat()
	if err != nil {
		return fmt.Errorf("open the log: %w", err)
	}
	runStart := st.Size()

	// Not CommandContext: the server must outlive the start's context.
	cmd := exec.Command(r.bin, args...)
	cmd.Dir = runDir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", r.bin, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // the exit status says nothing: we decide when it dies
		close(p.done)
	}()
	r.proc = p

	if err := r.waitReady(ctx, p); err != nil {
		r.proc = nil
		_ = reap(p)
		if strings.Contains(logfile.From(r.logPath, runStart), "Address already in use") {
			err = fmt.Errorf("%w: %w", errAddrInUse, err)
		}
		return fmt.Errorf("redis-server on %s is not ready: %w\n--- %s (tail) ---\n%s", r.addr, err, r.logPath, logfile.Tail(r.logPath, logTail))
	}
	return nil
}

// waitReady polls until the process answers on the port (and is the one
// answering: a server that took the port first would answer too) and, for
// a replica, until it receives the primary's writes.
func (r *Server) waitReady(ctx context.Context, p *process) error {
	// A probe blocked on whatever holds the port must end when the
	// process exits (it could not bind the port, say).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-p.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	pid := strconv.Itoa(p.cmd.Process.Pid)
	err := waitFor(ctx, func() (bool, error) {
		select {
		case <-p.done:
			return true, errors.New("redis-server exited")
		default:
		}
		info, err := InfoAuth(ctx, r.addr, r.password, "server")
		if err != nil {
			return false, err
		}
		if InfoField(info, "process_id") != pid {
			return false, errors.New("another process answers on the port")
		}
		return true, nil
	})
	select {
	case <-p.done:
		return errors.New("redis-server exited")
	default:
	}
	if err != nil || r.replicaOf == "" {
		return err
	}
	return waitReplicating(ctx, r.addr, r.replicaOf, r.password)
}

// probeChannel is the Pub/Sub channel of the replication probe.
const probeChannel = "flagstorm:replication-probe"

// waitReplicating waits until the server at addr is a replica of primary
// that receives its writes. A link that is up is not enough: after a
// diskless full sync, Redis 7 holds the stream back until the replica's
// first REPLCONF ACK, and when that ACK comes too early the next one comes
// with the replica's once-a-second cron, so for up to a second the replica
// reports master_link_status:up and gets nothing, and a failover in that
// second loses every write since the sync. So a probe goes through: a
// PUBLISH on the primary (it is replicated, and touches no key), then WAIT,
// which makes the primary ask its replicas for an ACK at once, until the
// replica's offset reaches the primary's.
func waitReplicating(ctx context.Context, addr, primary, password string) error {
	return waitFor(ctx, func() (bool, error) {
		info, err := InfoAuth(ctx, addr, password, "replication")
		if err != nil {
			return false, err
		}
		master := net.JoinHostPort(InfoField(info, "master_host"), InfoField(info, "master_port"))
		if s := InfoField(info, "master_link_status"); s != "up" || master != primary {
			return false, fmt.Errorf("replication link to %s is %q", master, s)
		}
		replies, err := pipeline(ctx, primary, password,
			[]string{"PUBLISH", probeChannel, "1"},
			[]string{"WAIT", "1", "20"},
			[]string{"INFO", "replication"})
		if err != nil {
			return false, fmt.Errorf("probe the primary %s: %w", primary, err)
		}
		pinfo, _ := replies[2].(string)
		target, err := strconv.ParseInt(InfoField(pinfo, "master_repl_offset"), 10, 64)
		if err != nil {
			return false, fmt.Errorf("primary %s: master_repl_offset: %w", primary, err)
		}
		if info, err = InfoAuth(ctx, addr, password, "replication"); err != nil {
			return false, err
		}
		got, err := strconv.ParseInt(InfoField(info, "slave_repl_offset"), 10, 64)
		if err != nil {
			return false, fmt.Errorf("slave_repl_offset: %w", err)
		}
		if got < target {
			return false, fmt.Errorf("replica at offset %d, primary at %d: the stream is not flowing yet", got, target)
		}
		return true, nil
	})
}

// Promote makes the server a primary (REPLICAOF NO ONE) and waits until it
// reports role:master, at most until ctx ends or 10 s pass. A later Restart
// keeps it a primary.
func (r *Server) Promote(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if _, err := DoAuth(ctx, r.addr, r.password, "REPLICAOF", "NO", "ONE"); err != nil {
		return fmt.Errorf("redisproc: promote redis-server on %s: %w", r.addr, err)
	}
	err := waitFor(ctx, func() (bool, error) {
		role, err := replicationRole(ctx, r.addr, r.password)
		if err != nil {
			return false, err
		}
		if role != "master" {
			return false, fmt.Errorf("role is %q", role)
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("redisproc: promote redis-server on %s: %w", r.addr, err)
	}
	r.mu.Lock()
	r.replicaOf = ""
	r.mu.Unlock()
	return nil
}

// ReplicateFrom makes the running server a replica of primary (host:port)
// with REPLICAOF and waits until it receives the primary's writes, at most
// until ctx ends or 10 s pass. Its data is replaced by the primary's. A later Restart keeps
// it a replica.
func (r *Server) ReplicateFrom(ctx context.Context, primary string) error {
	if err := checkAddr(primary); err != nil {
		return fmt.Errorf("redisproc: replicate from %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	host, port, _ := net.SplitHostPort(primary)
	if _, err := DoAuth(ctx, r.addr, r.password, "REPLICAOF", host, port); err != nil {
		return fmt.Errorf("redisproc: make redis-server on %s a replica of %s: %w", r.addr, primary, err)
	}
	err := waitReplicating(ctx, r.addr, net.JoinHostPort(host, port), r.password)
	if err != nil {
		return fmt.Errorf("redisproc: make redis-server on %s a replica of %s: %w", r.addr, primary, err)
	}
	r.mu.Lock()
	r.replicaOf = primary
	r.mu.Unlock()
	return nil
}

// waitFor calls check every pollInterval until it reports done, then
// returns its error (nil, or why waiting is pointless). While not done, its
// error is the reason, kept for the error returned when ctx ends.
func waitFor(ctx context.Context, check func() (done bool, err error)) error {
	var last error
	for {
		done, err := check()
		if done {
			return err
		}
		if err != nil {
			last = err
		}
		if werr := Sleep(ctx, pollInterval); werr != nil {
			if last != nil {
				return fmt.Errorf("%w (last: %w)", werr, last)
			}
			return werr
		}
	}
}

// Sleep waits for d or until ctx ends, whichever is first (ctx's cause
// then).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// checkAddr checks that addr is a host:port with a host and a valid port.
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if host == "" {
		return fmt.Errorf("address %q: missing host", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("address %q: bad port %q", addr, port)
	}
	return nil
}
