package testenv

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/logfile"
)

// toxiproxyModule is the Toxiproxy module at the version go.mod pins;
// toxiproxyServerPkg is its server command, which [BuildToxiproxyServer]
// builds.
const (
	toxiproxyModule    = "github.com/Shopify/toxiproxy/v2"
	toxiproxyServerPkg = toxiproxyModule + "/cmd/server"
)

const (
	// toxiproxyStartTimeout bounds the wait for a started server's API.
	toxiproxyStartTimeout = 10 * time.Second
	// toxiproxyStopTimeout is how long a server has to exit after SIGTERM
	// before it is killed, and then again to be reaped after SIGKILL.
	toxiproxyStopTimeout = 5 * time.Second
	// toxiproxyStartAttempts: a free port may be taken before the server
	// binds it; each attempt uses a new one.
	toxiproxyStartAttempts = 3
)

// BuildToxiproxyServer builds Toxiproxy's server command from the module
// version go.mod pins (no download: it comes from the module cache) and
// returns the executable's path, named toxiproxy-server; its GET /version
// answers go.mod's version without the "v" ("2.12.0"), as a release does.
// It is built once per test binary under [Main], like [BuildFlagserver].
func BuildToxiproxyServer(t testing.TB) string {
	t.Helper()
	return buildOnce(t, toxiproxyServerPkg, buildToxiproxyServer)
}

// buildToxiproxyServer builds the server into dir with its version set
// from go.mod, as a release build has it (a plain build says "git"), and
// returns the executable's path.
func buildToxiproxyServer(dir string) (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", toxiproxyModule).Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			err = fmt.Errorf("%w\n%s", err, exit.Stderr)
		}
		return "", fmt.Errorf("go list -m %s: %w", toxiproxyModule, err)
	}
	version := strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
	bin := filepath.Join(dir, "toxiproxy-server")
	cmd := exec.Command("go", "build", "-ldflags", "-X "+toxiproxyModule+".Version="+version, "-o", bin, toxiproxyServerPkg)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", toxiproxyServerPkg, err, out)
	}
	return bin, nil
}

// ToxiproxyProcess is a real toxiproxy-server process whose API listens on
// a free port on 127.0.0.1, for code that drives an external Toxiproxy
// (toxics.Remote). Its proxies listen wherever their creator says: pass
// loopback addresses. Tests that are content with an in-process server use
// [Toxiproxy].
type ToxiproxyProcess struct {
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process is reaped
	addr    string
	logPath string
}

// ExternalToxiproxy builds toxiproxy-server (see [BuildToxiproxyServer]),
// starts it with -host 127.0.0.1 -port <free port> and waits until its API
// answers GET /version. In t.Cleanup it is sent SIGTERM and, if it has not
// exited within 5 s, SIGKILL, and is reaped; its proxies go with it. Its
// log (stdout and stderr) is in a file of t.TempDir, quoted when it fails
// to start.
func ExternalToxiproxy(t testing.TB) *ToxiproxyProcess {
	t.Helper()
	bin := BuildToxiproxyServer(t)
	dir := t.TempDir()
	var errs []error
	for attempt := 1; attempt <= toxiproxyStartAttempts; attempt++ {
		p, err := startToxiproxy(bin, filepath.Join(dir, fmt.Sprintf("toxiproxy-%d.log", attempt)), FreePort(t))
		if err == nil {
			t.Cleanup(func() {
				if err := p.stop(); err != nil {
					t.Errorf("testenv: %v", err)
				}
			})
			return p
		}
		errs = append(errs, err)
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	t.Fatalf("testenv: start toxiproxy-server: %v", errors.Join(errs...))
	return nil
}

// startToxiproxy starts the server on port and waits until it answers; on
// failure the process is gone.
func startToxiproxy(bin, logPath string, port int) (*ToxiproxyProcess, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the log: %w", err)
	}
	defer logf.Close() // the child has its own descriptor
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin, "-host", "127.0.0.1", "-port", strconv.Itoa(port))
	cmd.Stdout = logf
	cmd.Stderr = logf
	// The access log, at debug level, tells whether this process is the
	// one answering on the port.
	cmd.Env = append(os.Environ(), "LOG_LEVEL=debug")
	cmd.SysProcAttr = toxiproxyAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	p := &ToxiproxyProcess{cmd: cmd, done: make(chan struct{}), addr: addr, logPath: logPath}
	go func() {
		_ = cmd.Wait() // the exit status says nothing: stop decides when it dies
		close(p.done)
	}()
	if err := p.waitReady(); err != nil {
		if serr := p.stop(); serr != nil {
			err = errors.Join(err, serr)
		}
		return nil, fmt.Errorf("toxiproxy-server on %s is not ready: %w\n--- %s (tail) ---\n%s", addr, err, logPath, logfile.Tail(logPath, logTail))
	}
	return p, nil
}

// waitReady polls until GET /version answers and the process's own access
// log records that request (so it was not another server that had the
// port). It gives up when the process exits, reports that it could not
// listen, or toxiproxyStartTimeout passes.
func (p *ToxiproxyProcess) waitReady() error {
	hc := &http.Client{Timeout: time.Second}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(toxiproxyStartTimeout)
	for {
		err := p.ready(hc)
		if err == nil || errors.Is(err, errPortTaken) || errors.Is(err, errExited) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v: %w", toxiproxyStartTimeout, err)
		}
		timer := time.NewTimer(pollInterval)
		select {
		case <-p.done:
		case <-timer.C:
		}
		timer.Stop()
	}
}

var (
	// errPortTaken: the server could not listen on its port.
	errPortTaken = errors.New("its port was taken")
	// errExited: the server exited while starting.
	errExited = errors.New("it exited")
)

// ready checks once whether the server answers.
func (p *ToxiproxyProcess) ready(hc *http.Client) error {
	select {
	case <-p.done:
		return errExited
	default:
	}
	// It logs a failed listen and carries on without an API.
	const listenFailed = "Server finished with error"
	if strings.Contains(logfile.From(p.logPath, 0), listenFailed) {
		return errPortTaken
	}
	id, err := p.version(hc)
	if err != nil {
		return err
	}
	// The access log line is written after the answer.
	if !strings.Contains(logfile.From(p.logPath, 0), id) {
		return fmt.Errorf("GET /version answered (request %s) but the process has not logged it", id)
	}
	return nil
}

// version sends GET /version and returns Toxiproxy's request ID for it.
func (p *ToxiproxyProcess) version(hc *http.Client) (string, error) {
	req, err := http.NewRequest(http.MethodGet, p.URL()+"/version", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("User-Agent", "flagstorm-testenv") // Toxiproxy refuses browsers
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /version: HTTP %d", resp.StatusCode)
	}
	id := resp.Header.Get("X-Toxiproxy-Request-Id")
	if id == "" {
		return "", errors.New("GET /version: no X-Toxiproxy-Request-Id: not Toxiproxy")
	}
	return id, nil
}

// URL returns the API's base URL, like "http://127.0.0.1:41234".
func (p *ToxiproxyProcess) URL() string { return "http://" + p.addr }

// Addr returns the API's address, like "127.0.0.1:41234".
func (p *ToxiproxyProcess) Addr() string { return p.addr }

// PID returns the server's process ID.
func (p *ToxiproxyProcess) PID() int { return p.cmd.Process.Pid }

// LogPath returns the path of the server's log.
func (p *ToxiproxyProcess) LogPath() string { return p.logPath }

// stop sends SIGTERM, then SIGKILL if the server has not exited within
// toxiproxyStopTimeout, and waits until it is reaped. Stopping a stopped
// server does nothing.
func (p *ToxiproxyProcess) stop() error {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		select {
		case <-p.done:
			return nil
		default:
		}
		// Not reaped yet, so the pid is still this process's.
		if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("signal toxiproxy-server %d: %w", p.PID(), err)
		}
		timer := time.NewTimer(toxiproxyStopTimeout)
		select {
		case <-p.done:
			timer.Stop()
			return nil
		case <-timer.C:
		}
	}
	return fmt.Errorf("toxiproxy-server %d did not exit %v after SIGKILL", p.PID(), toxiproxyStopTimeout)
}
