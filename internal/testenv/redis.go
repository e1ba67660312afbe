package testenv

import (
	"bufio"
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
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// redisStartTimeout bounds the wait for a started redis-server to answer;
	// it normally answers within 30 ms.
	redisStartTimeout = 10 * time.Second
	// redisStopTimeout bounds the wait for a signalled redis-server to exit
	// and release its port.
	redisStopTimeout = 10 * time.Second
	// redisStartAttempts is how many free ports Redis tries when another
	// process takes the chosen one first.
	redisStartAttempts = 5
	// logTail is how much of a process log goes into an error message.
	logTail = 2048
)

// errAddrInUse marks a redis-server that exited because its port was taken.
var errAddrInUse = errors.New("address already in use")

// RedisOption tunes a [RedisServer] started by [Redis].
type RedisOption func(*redisConfig)

type redisConfig struct {
	args []string
}

// RedisArgs appends command-line arguments to redis-server's own, for
// example RedisArgs("--maxmemory", "1mb", "--maxmemory-policy", "allkeys-lru").
// They are passed again on every Restart.
func RedisArgs(args ...string) RedisOption {
	return func(c *redisConfig) { c.args = append(c.args, args...) }
}

// RedisServer is a real redis-server process on a free loopback port, with
// persistence off. Its port stays the same across Kill, Stop and Restart.
// Its methods are safe for concurrent use.
type RedisServer struct {
	bin     string
	port    int
	addr    string
	dir     string // the test's temporary directory: log and per-run data dirs
	logPath string
	args    []string // extra arguments, from RedisArgs

	mu   sync.Mutex
	proc *redisProc // nil while not running
	runs int        // processes started so far, names each run's data dir
}

// redisProc is one redis-server process. done is closed once Wait returns.
type redisProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// Redis starts a redis-server on a free port on 127.0.0.1 and waits until it
// answers. It is killed in t.Cleanup. If redis-server is not installed, the
// test fails with instructions.
func Redis(t testing.TB, opts ...RedisOption) *RedisServer {
	t.Helper()
	var cfg redisConfig
	for _, o := range opts {
		o(&cfg)
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not found: install it with `apt-get install -y redis-server` (%v)", err)
	}
	dir := t.TempDir()
	r := &RedisServer{
		bin:     bin,
		dir:     dir,
		logPath: filepath.Join(dir, "redis.log"),
		args:    cfg.args,
	}
	t.Cleanup(func() {
		if err := r.halt(syscall.SIGKILL); err != nil {
			t.Errorf("testenv: stop redis-server: %v", err)
		}
	})

	r.mu.Lock()
	defer r.mu.Unlock()
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("testenv: find a free port for redis-server: %v", err)
		}
		r.port = port
		r.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		err = r.start()
		if err == nil {
			return r
		}
		if !errors.Is(err, errAddrInUse) || attempt == redisStartAttempts {
			t.Fatalf("testenv: %v", err)
		}
	}
}

// Addr returns the server's address, like "127.0.0.1:41234".
func (r *RedisServer) Addr() string { return r.addr }

// Port returns the server's TCP port.
func (r *RedisServer) Port() int { return r.port }

// URL returns the server's URL for database 0, like "redis://127.0.0.1:41234/0".
func (r *RedisServer) URL() string { return "redis://" + r.addr + "/0" }

// Client returns a go-redis client for the server, for assertions. It has
// go-redis's defaults except that it dials once per attempt instead of five
// times, so that a command against a killed server fails in about 0.1 s
// rather than 2 s. It is closed in t.Cleanup.
func (r *RedisServer) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.addr, DialerRetries: 1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Kill sends SIGKILL to the server and waits until it has exited and its
// port refuses connections. Killing a server that is not running does
// nothing.
func (r *RedisServer) Kill(t testing.TB) {
	t.Helper()
	if err := r.halt(syscall.SIGKILL); err != nil {
		t.Fatalf("testenv: kill redis-server: %v", err)
	}
}

// Stop shuts the server down gracefully (SIGTERM) and waits until it has
// exited and its port refuses connections. Stopping a server that is not
// running does nothing.
func (r *RedisServer) Stop(t testing.TB) {
	t.Helper()
	if err := r.halt(syscall.SIGTERM); err != nil {
		t.Fatalf("testenv: stop redis-server: %v", err)
	}
}

// Restart starts the server again on the same port, empty, and waits until
// it answers. A running server is killed first. A replica comes back as a
// replica of the same primary, but Restart does not wait for it to resync.
func (r *RedisServer) Restart(t testing.TB) {
	t.Helper()
	if err := r.halt(syscall.SIGKILL); err != nil {
		t.Fatalf("testenv: restart redis-server: %v", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var err error
	for range redisStartAttempts {
		// The port can only be taken by someone else's probe for a free
		// port, which lets it go at once: try again a few times.
		if err = r.start(); !errors.Is(err, errAddrInUse) {
			break
		}
	}
	if err != nil {
		t.Fatalf("testenv: restart redis-server on its port: %v", err)
	}
}

// Replica starts another redis-server, a replica of r, and waits until its
// link to r is up (master_link_status:up). It is killed in t.Cleanup.
func (r *RedisServer) Replica(t testing.TB) *RedisServer {
	t.Helper()
	rep := Redis(t, RedisArgs("--replicaof", "127.0.0.1", strconv.Itoa(r.port)))
	err := poll(redisStartTimeout, func() (bool, error) {
		info, err := redisInfo(rep.addr, "replication")
		if err != nil {
			return false, err
		}
		if strings.Contains(info, "\nmaster_link_status:up") {
			return true, nil
		}
		return false, fmt.Errorf("replica %s of %s: link not up yet", rep.addr, r.addr)
	})
	if err != nil {
		t.Fatalf("testenv: wait for replica: %v\n--- replica log tail ---\n%s\n--- primary log tail ---\n%s",
			err, tail(rep.logPath, logTail), tail(r.logPath, logTail))
	}
	return rep
}

// start starts a process on r.port and waits until it answers. The caller
// holds r.mu and r.proc is nil. The error wraps errAddrInUse when the port
// was taken.
func (r *RedisServer) start() error {
	r.runs++
	// A fresh data dir per run: a replica's full sync can leave a dump.rdb
	// behind that would be loaded, and a restarted server must be empty.
	runDir := filepath.Join(r.dir, fmt.Sprintf("run%d", r.runs))
	if err := os.Mkdir(runDir, 0o700); err != nil {
		return fmt.Errorf("create redis data dir: %w", err)
	}
	args := []string{
		"--port", strconv.Itoa(r.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", runDir,
		"--daemonize", "no",
		"--repl-diskless-sync-delay", "0",
	}
	args = append(args, r.args...)

	logf, err := os.OpenFile(r.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open redis log: %w", err)
	}
	defer logf.Close() // the child holds its own descriptor
	st, err := logf.Stat()
	if err != nil {
		return fmt.Errorf("open redis log: %w", err)
	}
	runStart := st.Size()

	cmd := exec.Command(r.bin, args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	p := &redisProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // exit status is not interesting: we decide when it dies
		close(p.done)
	}()
	r.proc = p

	pid := strconv.Itoa(cmd.Process.Pid)
	err = poll(redisStartTimeout, func() (bool, error) {
		select {
		case <-p.done:
			return true, errors.New("redis-server exited")
		default:
		}
		info, err := redisInfo(r.addr, "server")
		if err != nil {
			return false, err
		}
		// Whatever answers must be our process, not a server that took the
		// port first while ours is failing to bind it.
		if !strings.Contains(info, "\nprocess_id:"+pid+"\r") {
			return false, errors.New("another process answers on the port")
		}
		return true, nil
	})
	if err == nil {
		return nil
	}
	_ = r.stopLocked(syscall.SIGKILL)
	runLog := readFrom(r.logPath, runStart)
	if strings.Contains(runLog, "Address already in use") {
		err = fmt.Errorf("%w: %w", errAddrInUse, err)
	}
	return fmt.Errorf("redis-server %s on %s did not start: %w\n--- redis-server log tail ---\n%s",
		strings.Join(args, " "), r.addr, err, tail(r.logPath, logTail))
}

// halt signals the running process, if any, and waits until it has exited
// and the port refuses connections.
func (r *RedisServer) halt(sig syscall.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return nil
	}
	if err := r.stopLocked(sig); err != nil {
		return err
	}
	return poll(redisStopTimeout, func() (bool, error) {
		c, err := net.DialTimeout("tcp", r.addr, 100*time.Millisecond)
		if err != nil {
			return true, nil
		}
		_ = c.Close()
		return false, fmt.Errorf("port %d still accepts connections", r.port)
	})
}

// stopLocked signals the process group and waits for the process to exit,
// escalating to SIGKILL when a graceful stop takes too long. The caller
// holds r.mu.
func (r *RedisServer) stopLocked(sig syscall.Signal) error {
	p := r.proc
	if p == nil {
		return nil
	}
	r.proc = nil
	select {
	case <-p.done:
		// It died on its own and was reaped: its pid may belong to
		// someone else by now, so signal nothing.
		return nil
	default:
	}
	pgid := p.cmd.Process.Pid // Setpgid: the group id is the child's pid
	if err := syscall.Kill(-pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal redis-server %d: %w", pgid, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(redisStopTimeout):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.done
	if sig != syscall.SIGKILL {
		return fmt.Errorf("redis-server %d ignored %v for %v and was killed", pgid, sig, redisStopTimeout)
	}
	return nil
}

// redisInfo sends INFO section over a fresh connection and returns the
// reply, so that readiness checks depend on no client library state.
func redisInfo(addr, section string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return "", err
	}
	if _, err := fmt.Fprintf(c, "INFO %s\r\n", section); err != nil {
		return "", err
	}
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if !strings.HasPrefix(line, "$") {
		return "", fmt.Errorf("INFO %s: unexpected reply %q", section, line)
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 {
		return "", fmt.Errorf("INFO %s: unexpected reply %q", section, line)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return "", err
	}
	// Prefix a newline so that every field can be matched as "\nname:".
	return "\n" + string(body), nil
}

// readFrom returns the file's contents from offset on, or "" if unreadable.
func readFrom(path string, offset int64) string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < offset {
		return ""
	}
	return string(b[offset:])
}
