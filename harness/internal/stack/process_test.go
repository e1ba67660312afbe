package stack

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/pgcluster"
	"github.com/flagstorm/flagstorm/internal/testenv"
)

// stackJSON is what `flagstorm stack --json` prints.
type stackJSON struct {
	Endpoints
	ReadySeconds float64 `json:"ready_seconds"`
}

// flagstormStack runs `flagstorm stack args...` and returns the process,
// its stdout lines and its stderr.
type stackProc struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *bytes.Buffer // read only after Wait
	done   chan error
}

func runFlagstorm(t *testing.T, env []string, args ...string) *stackProc {
	t.Helper()
	flagstorm := testenv.BuildFlagstorm(t)
	cmd := exec.Command(flagstorm, append([]string{"stack"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &stackProc{cmd: cmd, lines: make(chan string, 64), stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start flagstorm: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// line returns the next stdout line, failing at timeout or EOF.
func (p *stackProc) line(t *testing.T, timeout time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			err := p.wait(t, timeout)
			t.Fatalf("flagstorm stack ended without output (%v); stderr:\n%s", err, p.stderr)
		}
		return l
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("no output from flagstorm stack within %v; stderr:\n%s", timeout, p.stderr)
	}
	return ""
}

// wait waits for the process to exit and returns its exit code.
func (p *stackProc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatalf("wait for flagstorm: %v", err)
		}
		return 0
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		t.Fatalf("flagstorm stack did not exit within %v; stderr:\n%s", timeout, p.stderr)
	}
	return -1
}

// TestCommandSignals runs `flagstorm stack --json`, stops it with SIGTERM,
// SIGINT, SIGHUP (a closed terminal) and SIGQUIT (Ctrl-\), and checks that it exits 0 with every child reaped and
// every port free.
func TestCommandSignals(t *testing.T) {
	t.Parallel()
	testenv.CatchHangup(t)
	flagserver := testenv.BuildFlagserver(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			p := runFlagstorm(t, nil, "--json", "--flagserver-bin", flagserver,
				"--database-url", testenv.PostgresURL(t), "--seed-flags", "5")
			var out stackJSON
			if err := json.Unmarshal([]byte(p.line(t, 60*time.Second)), &out); err != nil {
				t.Fatalf("decode the JSON endpoints: %v", err)
			}
			t.Logf("ready in %.3f s", out.ReadySeconds)
			if len(out.Processes) != 3 || out.ToxiproxyAPI != "" || len(out.TargetURLs) != 1 {
				t.Fatalf("endpoints %+v; want 3 processes, no Toxiproxy API (off by default), one target", out.Endpoints)
			}
			res, err := http.Get(out.TargetURLs[0] + "/api/config/flags/flag-001?environment=production")
			if err != nil {
				t.Fatalf("GET through the stack: %v", err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET = %s, want 200", res.Status)
			}
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code := p.wait(t, 40*time.Second); code != 0 {
				t.Fatalf("exit code %d after %v, want 0; stderr:\n%s", code, sig, p.stderr)
			}
			checkGone(t, out.Processes, endpointAddrs(t, out.Endpoints))
			if _, err := os.Stat(out.Dir); !os.IsNotExist(err) {
				t.Errorf("run directory %s remains (stat: %v)", out.Dir, err)
			}
		})
	}
}

// TestCommandText checks the readable block, in external mode.
func TestCommandText(t *testing.T) {
	t.Parallel()
	r := testenv.Redis(t)
	listen := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	p := runFlagstorm(t, nil, "--target-url", "http://127.0.0.1:8080", "--redis-upstream", r.Addr(), "--redis-listen", listen, "--toxiproxy-api", "127.0.0.1:0")
	var lines []string
	for {
		l := p.line(t, 30*time.Second)
		lines = append(lines, l)
		if strings.HasPrefix(l, "Stop with") {
			break
		}
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{
		"target (yours): http://127.0.0.1:8080",
		"proxy redis         " + listen + " -> " + r.Addr(),
		"Point your service at the proxies: Redis at " + listen,
		"toxiproxy API  http://127.0.0.1:",
		"ready in ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", code, p.stderr)
	}
	if want := "any local user can create proxies and toxics"; !strings.Contains(p.stderr.String(), want) {
		t.Errorf("no warning that the Toxiproxy API is open (%q):\n%s", want, p.stderr)
	}
	checkGone(t, nil, []string{listen})
}

// TestCommandFailures: a missing binary is exit 4 with a message that
// names the component and the fix, and nothing left running.
func TestCommandFailures(t *testing.T) {
	t.Parallel()
	flagserver := testenv.BuildFlagserver(t)
	empty := t.TempDir() // a PATH without redis-server or flagserver
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{
			name: "no redis-server",
			args: []string{"--flagserver-bin", flagserver, "--database", "sqlite"},
			want: []string{"redis primary would not start", "apt-get install -y redis-server"},
		},
		{
			name: "no flagserver",
			args: []string{"--database", "sqlite", "--flagserver-bin", filepath.Join(empty, "flagserver")},
			want: []string{"flagserver would not start", "make build"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "run")
			p := runFlagstorm(t, []string{"PATH=" + empty}, append(tt.args, "--dir", dir)...)
			if code := p.wait(t, 30*time.Second); code != 4 {
				t.Fatalf("exit code %d, want 4; stderr:\n%s", code, p.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(p.stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, p.stderr)
				}
			}
			if left := procsUnder(t, dir); len(left) > 0 {
				t.Errorf("processes left running: %v", left)
			}
		})
	}
	t.Run("usage", func(t *testing.T) {
		t.Parallel()
		p := runFlagstorm(t, nil, "--instances", "2", "--profile", "seed,hardened,seed")
		if code := p.wait(t, 30*time.Second); code != 2 {
			t.Fatalf("exit code %d, want 2; stderr:\n%s", code, p.stderr)
		}
		if !strings.Contains(p.stderr.String(), "3 given for 2 instances") {
			t.Errorf("stderr does not explain: %s", p.stderr)
		}
	})
}

// TestCommandKilled kills `flagstorm stack` with SIGKILL (no cleanup at
// all) and checks that nothing it printed or logged holds the database
// password, that the kernel killed its children, and that the next start
// removes the run directory and the PostgreSQL cluster it left, with
// nothing left in /dev/shm.
func TestCommandKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("initdb takes about a second, twice")
	}
	if err := pgcluster.Available(); err != nil {
		t.Skipf("no PostgreSQL server binaries: %v", err)
	}
	flagserver := testenv.BuildFlagserver(t)
	p := runFlagstorm(t, nil, "--json", "--flagserver-bin", flagserver,
		"--database", "throwaway", "--seed-flags", "5", "--log-level", "debug")
	line := p.line(t, 90*time.Second)
	var out stackJSON
	if err := json.Unmarshal([]byte(line), &out); err != nil {
		t.Fatalf("decode the JSON endpoints: %v", err)
	}
	b, err := os.ReadFile(out.DatabaseURLFile)
	if err != nil {
		t.Fatalf("database_url_file: %v", err)
	}
	u, err := url.Parse(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	pass, ok := u.User.Password()
	if !ok || pass == "" {
		t.Fatalf("%s holds no password", out.DatabaseURLFile)
	}
	if strings.Contains(line, pass) {
		t.Errorf("stack --json prints the password: %s", line)
	}
	pgPID := pidOf(out.Endpoints, "postgres")
	if pgPID == 0 {
		t.Fatalf("no postgres in %+v", out.Processes)
	}
	clusterDir := filepath.Dir(out.Processes[slices.IndexFunc(out.Processes, func(p Process) bool { return p.Name == "postgres" })].Log)
	shm := shmFiles(t, pgPID)
	if len(shm) > 0 {
		t.Errorf("postgres %d maps %v", pgPID, shm)
	}

	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.wait(t, 10*time.Second)
	testenv.Poll(t, 20*time.Second, "the children of the killed flagstorm exit", func() error {
		for _, c := range out.Processes {
			if alive(c.PID) {
				return fmt.Errorf("%s (pid %d) is alive", c.Name, c.PID)
			}
		}
		return nil
	})
	if strings.Contains(p.stderr.String(), pass) {
		t.Errorf("the log (stderr) holds the password:\n%s", p.stderr)
	}
	_ = filepath.WalkDir(out.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || path == out.DatabaseURLFile {
			return nil
		}
		if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), pass) {
			t.Errorf("%s holds the password", path)
		}
		return nil
	})
	for _, dir := range []string{out.Dir, clusterDir} {
		if _, err := os.Stat(dir); err != nil {
			t.Logf("%s is already gone (another stack started meanwhile?): %v", dir, err)
		}
	}

	startStack(t, Config{Database: DatabaseThrowaway, SeedFlags: 1, FlagserverBin: flagserver})
	for _, dir := range append([]string{out.Dir, clusterDir}, shm...) {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s of the killed flagstorm remains after the next start (stat: %v)", dir, err)
		}
	}
}

// alive reports whether pid runs (a zombie, waiting for a parent that may
// never reap it, has exited).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}
