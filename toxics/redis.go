package toxics

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
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

// ErrRedisNotFound: there is no redis-server to run.
var ErrRedisNotFound = errors.New("toxics: redis-server not found on PATH: install it with apt-get install -y redis-server")

// ErrRedisStopped: the RedisServer was stopped for good with Stop.
var ErrRedisStopped = errors.New("toxics: redis-server was stopped")

const (
	// redisStartTimeout bounds a start when ctx has no earlier deadline; a
	// server answers in 13–30 ms, a replica's first sync takes ~10 ms more.
	redisStartTimeout = 10 * time.Second
	// redisStopTimeout is how long Stop waits for a graceful exit before
	// SIGKILL.
	redisStopTimeout = 10 * time.Second
	// redisReapTimeout bounds the wait for a SIGKILLed process to be
	// reaped and its port to close.
	redisReapTimeout = 5 * time.Second
	// redisPortAttempts is how many ports a start on port 0 tries when
	// another process takes the chosen one first.
	redisPortAttempts = 5
	// pollInterval is how often a condition being waited for is checked.
	pollInterval = 5 * time.Millisecond
	// logTail is how much of the server's log goes into an error.
	logTail = 2048
)

// errAddrInUse marks a start that failed because the port was taken.
var errAddrInUse = errors.New("address already in use")

// RedisConfig configures a [RedisServer].
type RedisConfig struct {
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
}

// RedisServer is a real redis-server process listening on 127.0.0.1 with
// persistence off (no RDB snapshots, no AOF). It runs in its own process
// group and, on Linux, dies with this process. Its methods are safe for
// concurrent use; Kill, Restart and Stop wait until the process is reaped.
type RedisServer struct {
	bin     string
	port    int
	addr    string
	dir     string
	ownDir  bool // dir was made by StartRedis; Stop removes it
	logPath string
	args    []string

	mu        sync.Mutex
	replicaOf string     // the primary, "" for a primary
	proc      *redisProc // nil while not running
	runs      int        // processes started so far; names the data dirs
	stopped   bool
}

// redisProc is one redis-server process; done is closed once it is reaped.
type redisProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRedis starts a redis-server and waits until it answers PING (and,
// for a replica, until its link to the primary is up), polling until ctx
// ends or 10 s pass. The caller must Stop it.
func StartRedis(ctx context.Context, cfg RedisConfig) (*RedisServer, error) {
	bin, err := findRedis(cfg.Binary)
	if err != nil {
		return nil, err
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("toxics: start redis-server: port %d out of range", cfg.Port)
	}
	if cfg.ReplicaOf != "" {
		if err := checkAddr(cfg.ReplicaOf, true); err != nil {
			return nil, fmt.Errorf("toxics: start redis-server: replica of %w", err)
		}
	}
	r := &RedisServer{
		bin:       bin,
		dir:       cfg.Dir,
		args:      append([]string(nil), cfg.Args...),
		replicaOf: cfg.ReplicaOf,
	}
	if r.dir == "" {
		if r.dir, err = os.MkdirTemp("", "flagstorm-redis-*"); err != nil {
			return nil, fmt.Errorf("toxics: start redis-server: %w", err)
		}
		r.ownDir = true
	} else if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return nil, fmt.Errorf("toxics: start redis-server: %w", err)
	}
	r.logPath = filepath.Join(r.dir, "redis.log")

	ctx, cancel := context.WithTimeout(ctx, redisStartTimeout)
	defer cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	for attempt := 1; ; attempt++ {
		r.port = cfg.Port
		if r.port == 0 {
			if r.port, err = freePort(); err != nil {
				break
			}
		}
		r.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
		err = r.start(ctx)
		// Only a port of our own choosing is worth another try: someone
		// else may have taken it between the probe and the start.
		if err == nil || cfg.Port != 0 || !errors.Is(err, errAddrInUse) || attempt == redisPortAttempts {
			break
		}
	}
	if err != nil {
		if r.ownDir {
			_ = os.RemoveAll(r.dir)
		}
		return nil, fmt.Errorf("toxics: start redis-server: %w", err)
	}
	return r, nil
}

// findRedis resolves the redis-server executable.
func findRedis(bin string) (string, error) {
	if bin == "" {
		path, err := exec.LookPath("redis-server")
		if err != nil {
			return "", ErrRedisNotFound
		}
		return path, nil
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("%w (configured binary %q: %w)", ErrRedisNotFound, bin, err)
	}
	return path, nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	return port, nil
}

// Addr returns the server's address, like "127.0.0.1:41234".
func (r *RedisServer) Addr() string { return r.addr }

// Port returns the server's TCP port.
func (r *RedisServer) Port() int { return r.port }

// LogPath returns the server's log file; every run appends to it.
func (r *RedisServer) LogPath() string { return r.logPath }

// PID returns the process id, or 0 while the server is not running.
func (r *RedisServer) PID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.runningLocked() {
		return 0
	}
	return r.proc.cmd.Process.Pid
}

// Running reports whether the process is alive (it may not be ready yet
// during a Restart).
func (r *RedisServer) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runningLocked()
}

func (r *RedisServer) runningLocked() bool {
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
func (r *RedisServer) ReplicaOf() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.replicaOf
}

// Kill crashes the server: SIGKILL to its process group, then it waits
// until the process is reaped and the port refuses connections. Its data is
// lost. Killing a server that is not running does nothing.
func (r *RedisServer) Kill(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.killLocked(ctx); err != nil {
		return fmt.Errorf("toxics: kill redis-server on %s: %w", r.addr, err)
	}
	return nil
}

// Restart kills the server if it is running and starts it again, empty, on
// the same port and in the same role (a cold restart), waiting until it is
// ready as StartRedis does.
func (r *RedisServer) Restart(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.restartLocked(ctx); err != nil {
		return fmt.Errorf("toxics: restart redis-server on %s: %w", r.addr, err)
	}
	return nil
}

// restartAsReplicaOf restarts the server, empty, as a replica of primary.
func (r *RedisServer) restartAsReplicaOf(ctx context.Context, primary string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.replicaOf = primary
	if err := r.restartLocked(ctx); err != nil {
		return fmt.Errorf("toxics: restart redis-server on %s as a replica of %s: %w", r.addr, primary, err)
	}
	return nil
}

func (r *RedisServer) restartLocked(ctx context.Context) error {
	if r.stopped {
		return ErrRedisStopped
	}
	if err := r.killLocked(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, redisStartTimeout)
	defer cancel()
	var err error
	for range redisPortAttempts {
		// The port can only have been taken by someone's probe for a free
		// port, which lets go of it at once.
		if err = r.start(ctx); !errors.Is(err, errAddrInUse) {
			break
		}
		if werr := sleepCtx(ctx, 10*pollInterval); werr != nil {
			break
		}
	}
	return err
}

// Stop shuts the server down for good: SIGTERM, SIGKILL if it has not
// exited after 10 s or when ctx ends, and it waits until the process is
// reaped. A temporary directory made by StartRedis is removed. Stopping
// again does nothing; Restart after Stop returns [ErrRedisStopped].
func (r *RedisServer) Stop(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return nil
	}
	r.stopped = true
	var errs []error
	if p := r.proc; p != nil {
		r.proc = nil
		if err := signalGroup(p, syscall.SIGTERM); err != nil {
			errs = append(errs, err)
		}
		timer := time.NewTimer(redisStopTimeout)
		select {
		case <-p.done:
		case <-ctx.Done():
		case <-timer.C:
		}
		timer.Stop()
		if err := reap(p); err != nil {
			errs = append(errs, err)
		}
	}
	if r.ownDir {
		if err := os.RemoveAll(r.dir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("toxics: stop redis-server on %s: %w", r.addr, err)
	}
	return nil
}

// killLocked SIGKILLs the running process, if any, waits until it is reaped
// and then until the port refuses connections. The caller holds r.mu.
func (r *RedisServer) killLocked(ctx context.Context) error {
	p := r.proc
	if p == nil {
		return nil
	}
	r.proc = nil
	if err := reap(p); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, redisReapTimeout)
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
func signalGroup(p *redisProc, sig syscall.Signal) error {
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
func reap(p *redisProc) error {
	if err := signalGroup(p, syscall.SIGKILL); err != nil {
		return err
	}
	timer := time.NewTimer(redisReapTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return nil
	case <-timer.C:
		return fmt.Errorf("redis-server %d did not exit %v after SIGKILL", p.cmd.Process.Pid, redisReapTimeout)
	}
}

// start starts a process on r.port and waits until it is ready. The caller
// holds r.mu and no process is running. The error wraps errAddrInUse when
// the port was taken.
func (r *RedisServer) start(ctx context.Context) error {
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
	p := &redisProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // the exit status says nothing: we decide when it dies
		close(p.done)
	}()
	r.proc = p

	if err := r.waitReady(ctx, p); err != nil {
		r.proc = nil
		_ = reap(p)
		if strings.Contains(readFrom(r.logPath, runStart), "Address already in use") {
			err = fmt.Errorf("%w: %w", errAddrInUse, err)
		}
		return fmt.Errorf("redis-server on %s is not ready: %w\n--- %s (tail) ---\n%s", r.addr, err, r.logPath, tail(r.logPath, logTail))
	}
	return nil
}

// waitReady polls until the process answers on the port (and is the one
// answering: a server that took the port first would answer too) and, for
// a replica, until it receives the primary's writes.
func (r *RedisServer) waitReady(ctx context.Context, p *redisProc) error {
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
		info, err := redisInfo(ctx, r.addr, "server")
		if err != nil {
			return false, err
		}
		if infoField(info, "process_id") != pid {
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
	return waitReplicating(ctx, r.addr, r.replicaOf)
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
func waitReplicating(ctx context.Context, addr, primary string) error {
	return waitFor(ctx, func() (bool, error) {
		info, err := redisInfo(ctx, addr, "replication")
		if err != nil {
			return false, err
		}
		master := net.JoinHostPort(infoField(info, "master_host"), infoField(info, "master_port"))
		if s := infoField(info, "master_link_status"); s != "up" || master != primary {
			return false, fmt.Errorf("replication link to %s is %q", master, s)
		}
		replies, err := redisPipeline(ctx, primary,
			[]string{"PUBLISH", probeChannel, "1"},
			[]string{"WAIT", "1", "20"},
			[]string{"INFO", "replication"})
		if err != nil {
			return false, fmt.Errorf("probe the primary %s: %w", primary, err)
		}
		pinfo, _ := replies[2].(string)
		target, err := strconv.ParseInt(infoField(pinfo, "master_repl_offset"), 10, 64)
		if err != nil {
			return false, fmt.Errorf("primary %s: master_repl_offset: %w", primary, err)
		}
		if info, err = redisInfo(ctx, addr, "replication"); err != nil {
			return false, err
		}
		got, err := strconv.ParseInt(infoField(info, "slave_repl_offset"), 10, 64)
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
func (r *RedisServer) Promote(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, redisStartTimeout)
	defer cancel()
	if _, err := redisDo(ctx, r.addr, "REPLICAOF", "NO", "ONE"); err != nil {
		return fmt.Errorf("toxics: promote redis-server on %s: %w", r.addr, err)
	}
	err := waitFor(ctx, func() (bool, error) {
		role, err := redisRole(ctx, r.addr)
		if err != nil {
			return false, err
		}
		if role != "master" {
			return false, fmt.Errorf("role is %q", role)
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("toxics: promote redis-server on %s: %w", r.addr, err)
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
func (r *RedisServer) ReplicateFrom(ctx context.Context, primary string) error {
	if err := checkAddr(primary, true); err != nil {
		return fmt.Errorf("toxics: replicate from %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, redisStartTimeout)
	defer cancel()
	host, port, _ := net.SplitHostPort(primary)
	if _, err := redisDo(ctx, r.addr, "REPLICAOF", host, port); err != nil {
		return fmt.Errorf("toxics: make redis-server on %s a replica of %s: %w", r.addr, primary, err)
	}
	err := waitReplicating(ctx, r.addr, net.JoinHostPort(host, port))
	if err != nil {
		return fmt.Errorf("toxics: make redis-server on %s a replica of %s: %w", r.addr, primary, err)
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
		if werr := sleepCtx(ctx, pollInterval); werr != nil {
			if last != nil {
				return fmt.Errorf("%w (last: %w)", werr, last)
			}
			return werr
		}
	}
}

// sleepCtx waits for d or until ctx ends, whichever is first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// redisReplyError is an error reply from the server, like "ERR unknown
// command".
type redisReplyError string

func (e redisReplyError) Error() string { return "redis: " + string(e) }

// redisDo sends one command over a fresh connection and returns the reply:
// a string, int64, nil or []any. Readiness checks use it so that they
// depend on no client library's pool or retries.
func redisDo(ctx context.Context, addr string, args ...string) (any, error) {
	replies, err := redisPipeline(ctx, addr, args)
	if err != nil {
		return nil, err
	}
	return replies[0], nil
}

// redisPipeline sends commands over one fresh connection and returns their
// replies; an error reply to any of them is the error.
func redisPipeline(ctx context.Context, addr string, cmds ...[]string) ([]any, error) {
	d := net.Dialer{Timeout: 500 * time.Millisecond}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() }) // unblocks a read
	defer stop()
	deadline := time.Now().Add(2 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	var b strings.Builder
	for _, args := range cmds {
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return nil, err
	}
	br := bufio.NewReader(conn)
	replies := make([]any, 0, len(cmds))
	var firstErr error
	for range cmds {
		v, err := readReply(br)
		var re redisReplyError
		switch {
		case errors.As(err, &re):
			firstErr = cmp.Or(firstErr, err)
		case err != nil:
			return nil, err
		}
		replies = append(replies, v)
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return replies, nil
}

// readReply reads one RESP2 reply.
func readReply(br *bufio.Reader) (any, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return nil, errors.New("redis: empty reply line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, redisReplyError(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, fmt.Errorf("redis: bad bulk length %q", body)
		}
		if n < 0 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, fmt.Errorf("redis: bad array length %q", body)
		}
		if n < 0 {
			return nil, nil
		}
		out := make([]any, 0, n)
		for range n {
			v, err := readReply(br)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("redis: unexpected reply %q", line)
}

// redisInfo returns the INFO section's text.
func redisInfo(ctx context.Context, addr, section string) (string, error) {
	v, err := redisDo(ctx, addr, "INFO", section)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("redis: INFO %s: unexpected reply %v", section, v)
	}
	return s, nil
}

// redisRole returns "master" or "slave" from INFO replication.
func redisRole(ctx context.Context, addr string) (string, error) {
	info, err := redisInfo(ctx, addr, "replication")
	if err != nil {
		return "", err
	}
	return infoField(info, "role"), nil
}

// infoField returns the value of "name:value" in INFO output, or "".
func infoField(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimRight(v, "\r\n")
		}
	}
	return ""
}

// tail returns at most the last n bytes of the file, for error messages.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	off := max(st.Size()-n, 0)
	b, err := io.ReadAll(io.NewSectionReader(f, off, st.Size()-off))
	if err != nil {
		return fmt.Sprintf("(read log: %v)", err)
	}
	return string(b)
}

// readFrom returns the file's contents from offset on, or "".
func readFrom(path string, offset int64) string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < offset {
		return ""
	}
	return string(b[offset:])
}
