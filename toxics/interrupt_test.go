package toxics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/logfile"
	"github.com/flagstorm/flagstorm/internal/testenv"
)

// The test binary turns into a helper program when helperEnv is set (see
// TestMain): helperMain runs it and its result is the exit code.
const (
	helperEnv = "FLAGSTORM_TOXICS_TEST_HELPER"
	// helperHoldFault: apply a fault through a Session and hold it until
	// SIGINT, as a flagstorm run interrupted mid-phase.
	helperHoldFault = "hold-fault"
	// helperURLEnv and helperProxyEnv say which server and proxy.
	helperURLEnv   = "FLAGSTORM_TOXICS_TEST_TOXIPROXY_URL"
	helperProxyEnv = "FLAGSTORM_TOXICS_TEST_PROXY"
	// helperLatency is the latency the helper applies.
	helperLatency = 250 * time.Millisecond
	// helperHoldLimit bounds how long the helper holds its fault if no
	// signal comes (its test died): it then cleans up and fails.
	helperHoldLimit = 2 * time.Minute
)

// helperMain runs the helper program named by mode.
func helperMain(mode string) int {
	if mode != helperHoldFault {
		fmt.Fprintf(os.Stderr, "unknown %s=%q\n", helperEnv, mode)
		return 2
	}
	// Ctrl-C cancels ctx, as flagstorm's main does.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := holdFault(ctx, log, os.Getenv(helperURLEnv), os.Getenv(helperProxyEnv)); err != nil {
		log.Error("hold fault", "err", err)
		return 1
	}
	return 0
}

// holdFault applies a latency toxic to proxy through a Session on a
// Remote controller for the server at url, says so on stdout, and waits
// until ctx is cancelled. The session is cleaned up on the way out, under
// a context that survives the cancellation.
func holdFault(ctx context.Context, log *slog.Logger, url, proxy string) (err error) {
	rem, err := NewRemote(RemoteConfig{URL: url})
	if err != nil {
		return err
	}
	s := NewSession(rem, log)
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CleanupTimeout)
		defer cancel()
		if cerr := s.Cleanup(cctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup: %w", cerr))
		}
	}()
	if err := s.Begin(ctx); err != nil {
		return err
	}
	a, err := s.Apply(ctx, Fault{Proxy: proxy, Kind: Latency, Latency: helperLatency})
	if err != nil {
		return err
	}
	fmt.Printf("applied %s\n", strings.Join(a.Toxics, ","))
	hold := time.NewTimer(helperHoldLimit)
	defer hold.Stop()
	select {
	case <-ctx.Done():
		log.Info("interrupted: cleaning up")
		return nil
	case <-hold.C:
		return fmt.Errorf("no signal within %v", helperHoldLimit)
	}
}

// TestRemoteFaultRemovedOnInterrupt runs a helper process that applies a
// latency fault through a Remote to a real toxiproxy-server and holds it,
// interrupts it with SIGINT, and checks through the server's API that the
// proxy has no toxic left.
func TestRemoteFaultRemovedOnInterrupt(t *testing.T) {
	t.Parallel()
	tp := testenv.ExternalToxiproxy(t)
	rem, err := NewRemote(RemoteConfig{URL: tp.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rem.EnsureProxy(t.Context(), "redis", "127.0.0.1:0", "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}

	logPath := filepath.Join(t.TempDir(), "helper.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+helperHoldFault, helperURLEnv+"="+tp.URL(), helperProxyEnv+"=redis")
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	helperLog := func() string { return logfile.Tail(logPath, 4096) }

	// The fault is on, as the server reports it.
	testenv.Poll(t, 15*time.Second, "the helper applies a latency toxic", func() error {
		select {
		case <-exited:
			t.Fatalf("the helper exited early (%v):\n%s", waitErr, helperLog())
		default:
		}
		toxics := serverToxics(t, tp.URL(), "redis")
		if len(toxics) != 1 {
			return fmt.Errorf("toxics %+v", toxics)
		}
		if tx := toxics[0]; tx.Type != "latency" || tx.Attributes["latency"] != float64(helperLatency.Milliseconds()) {
			t.Fatalf("the helper applied %+v, want a %v latency", tx, helperLatency)
		}
		return nil
	})

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	deadline := time.NewTimer(CleanupTimeout + 5*time.Second)
	defer deadline.Stop()
	select {
	case <-exited:
	case <-deadline.C:
		t.Fatalf("the helper did not exit within %v of SIGINT:\n%s", CleanupTimeout+5*time.Second, helperLog())
	}
	if waitErr != nil {
		t.Fatalf("the helper after SIGINT: %v\n%s", waitErr, helperLog())
	}
	if toxics := serverToxics(t, tp.URL(), "redis"); len(toxics) != 0 {
		t.Errorf("toxics left on the proxy after the interrupted helper cleaned up: %+v\nhelper log:\n%s", toxics, helperLog())
	}
	if !strings.Contains(helperLog(), "interrupted: cleaning up") {
		t.Errorf("the helper did not go through its interrupted path:\n%s", helperLog())
	}
}

// serverToxics returns the proxy's toxics as the server's API reports them
// (GET /proxies/{proxy}/toxics), without going through Remote.
func serverToxics(t *testing.T, url, proxy string) []ToxicInfo {
	t.Helper()
	var toxics []ToxicInfo
	testenv.ToxiproxyAPI(t, url, http.MethodGet, "/proxies/"+proxy+"/toxics", nil, http.StatusOK, &toxics)
	return toxics
}
