package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/promproc"
	"github.com/flagstorm/flagstorm/internal/testenv"
)

func runGateCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(t.Context(), append([]string{"gate"}, args...), func(k string) string { return env[k] }, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestGateUsageErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "gate.yaml")
	if err := os.WriteFile(bad, []byte("errorRate: {max: 2}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	short, good := filepath.Join(t.TempDir(), "short"), filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(short, []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, []byte("0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := []string{"--prometheus", "http://127.0.0.1:1", "--canary", `{track="canary"}`, "--baseline", `{track="baseline"}`}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no subcommand", nil, "Usage"},
		{"unknown subcommand", []string{"judge"}, "unknown subcommand"},
		{"no flags", []string{"evaluate"}, "--prometheus: required"},
		{"unknown flag", append([]string{"evaluate", "--canry", "x"}, ok...), "flag provided but not defined"},
		{"bad selector", []string{"evaluate", "--prometheus", "http://127.0.0.1:1", "--canary", "track=canary", "--baseline", `track="b"`}, "--canary"},
		{"same selectors", []string{"evaluate", "--prometheus", "http://127.0.0.1:1", "--canary", `track="a"`, "--baseline", `{track="a"}`}, "same series"},
		{"bad prometheus", []string{"evaluate", "--prometheus", "127.0.0.1:9090", "--canary", `track="a"`, "--baseline", `track="b"`}, "--prometheus"},
		{"bad format", append([]string{"evaluate", "--format", "xml"}, ok...), "--format"},
		{"bad config", append([]string{"evaluate", "--config", bad}, ok...), "errorRate.max"},
		{"missing config", append([]string{"evaluate", "--config", bad + ".missing"}, ok...), "--config"},
		{"stray argument", append([]string{"evaluate", "now"}, ok...), "unexpected arguments"},
		{"serve without prometheus", []string{"serve"}, "--prometheus: required"},
		{"serve bad listen", []string{"serve", "--prometheus", "http://127.0.0.1:1", "--listen", "9470"}, "--listen"},
		{"serve token on argv", []string{"serve", "--prometheus", "http://127.0.0.1:1", "--token", "0123456789abcdef0123"}, "flag provided but not defined"},
		{"serve missing token file", []string{"serve", "--prometheus", "http://127.0.0.1:1", "--token-file", bad + ".missing"}, "--token-file"},
		{"serve short token", []string{"serve", "--prometheus", "http://127.0.0.1:1", "--token-file", short}, "want at least 16"},
		{"serve token twice", []string{"serve", "--prometheus", "http://127.0.0.1:1", "--token-file", good}, "both set"},
		{"serve no evaluations", []string{"serve", "--prometheus", "http://127.0.0.1:1", "--max-evaluations", "0"}, "--max-evaluations"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			if tc.name == "serve token twice" {
				env["FLAGSTORM_GATE_TOKEN"] = "0123456789abcdef0123"
			}
			code, _, stderr := runGateCLI(t, env, tc.args...)
			if code != ExitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d mentioning %q", code, stderr, ExitUsage, tc.want)
			}
		})
	}
	if code, stdout, _ := runGateCLI(t, nil, "help"); code != 0 || !strings.Contains(stdout, "2 invalid usage") {
		t.Errorf("gate help: exit %d %q", code, stdout)
	}
}

// canned is a canned Prometheus with a healthy baseline and a canary
// with the healthy values changed by canary.
func canned(canary map[string]float64) *testenv.FakePrometheus {
	return &testenv.FakePrometheus{Values: testenv.CannedGateValues(canary)}
}

// TestGateExitCodes pins `flagstorm gate evaluate`'s exit code for every
// outcome to the binary's one table (cli.go): 0 go, 1 no-go, 2 usage,
// 3 inconclusive, 4 could not evaluate, 130 interrupted.
func TestGateExitCodes(t *testing.T) {
	serve := func(h http.Handler) string {
		s := httptest.NewServer(h)
		t.Cleanup(s.Close)
		return s.URL
	}
	goURL := serve(canned(nil))
	noGoURL := serve(canned(map[string]float64{"errors": 30}))                                  // 3 % 5xx: over 1 %
	quietURL := serve(canned(map[string]float64{"requests": 12, "cache_ops": 12, "reads": 12})) // under minSamples
	downURL := serve(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {            // shutting down
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
	}))
	closed := httptest.NewServer(http.NotFoundHandler())
	goneURL := closed.URL
	closed.Close() // nothing listens there any more: connection refused

	sel := []string{"--canary", `{track="canary"}`, "--baseline", `{track="baseline"}`}
	evaluate := func(promURL string, extra ...string) []string {
		return append(append([]string{"gate", "evaluate", "--prometheus", promURL}, sel...), extra...)
	}
	for _, tc := range []struct {
		name        string
		args        []string
		interrupted bool // the context is cancelled before the command runs
		want        int
		wantOut     string // in stdout or stderr
	}{
		{"go", evaluate(goURL), false, ExitOK, "Go"},
		{"no-go", evaluate(noGoURL), false, ExitFailed, "No-go"},
		{"no-go json", evaluate(noGoURL, "--format", "json"), false, ExitFailed, `"exitCode": 1`},
		{"inconclusive", evaluate(quietURL), false, ExitInconclusive, "too little traffic"},
		{"inconclusive json", evaluate(quietURL, "--format", "json"), false, ExitInconclusive, `"exitCode": 3`},
		{"inconclusive dry run", evaluate(quietURL, "--dry-run"), false, ExitOK, "would exit 3"},
		{"prometheus unreachable", evaluate(goneURL), false, ExitInfra, "could not evaluate"},
		{"prometheus answers 503", evaluate(downURL), false, ExitInfra, "could not evaluate"},
		{"prometheus unreachable json", evaluate(goneURL, "--format", "json"), false, ExitInfra, `"exitCode": 4`},
		{"prometheus unreachable dry run", evaluate(goneURL, "--dry-run"), false, ExitOK, "would exit 4"},
		{"unknown flag", evaluate(goURL, "--canry", "x"), false, ExitUsage, "flag provided but not defined"},
		{"missing required flag", append([]string{"gate", "evaluate", "--prometheus", goURL}, sel[:2]...), false, ExitUsage, "--baseline: required"},
		{"usage error in a dry run", evaluate(goURL, "--dry-run", "--format", "xml"), false, ExitUsage, "--format"},
		{"unknown subcommand", []string{"gate", "judge"}, false, ExitUsage, "unknown subcommand"},
		{"bare gate", []string{"gate"}, false, ExitUsage, "Usage"},
		{"interrupted", evaluate(goURL), true, ExitInterrupted, "context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tc.interrupted {
				cancel()
			}
			var stdout, stderr bytes.Buffer
			code := Main(ctx, tc.args, func(string) string { return "" }, &stdout, &stderr)
			if code != tc.want || !strings.Contains(stdout.String()+stderr.String(), tc.wantOut) {
				t.Errorf("exit %d; want %d mentioning %q\nstdout: %s\nstderr: %s", code, tc.want, tc.wantOut, stdout.String(), stderr.String())
			}
		})
	}
}

// TestGateCLIAgainstRealPrometheus runs `flagstorm gate evaluate` against
// a real Prometheus that scrapes nothing (inconclusive: no series, exit 3,
// never go), then against the same Prometheus stopped (exit 4). The flags
// come from the FLAGSTORM_* environment.
func TestGateCLIAgainstRealPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts prometheus")
	}
	prom, err := promproc.Start(t.Context(), promproc.Config{})
	if errors.Is(err, promproc.ErrNotFound) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prom.Stop() })
	env := map[string]string{
		"FLAGSTORM_PROMETHEUS": prom.URL(),
		"FLAGSTORM_CANARY":     `{job="flagserver",track="canary"}`,
		"FLAGSTORM_BASELINE":   `{job="flagserver",track="baseline"}`,
	}

	code, stdout, stderr := runGateCLI(t, env, "evaluate")
	t.Logf("table:\n%s", stdout)
	if code != ExitInconclusive || !strings.Contains(stdout, "Inconclusive") || !strings.Contains(stdout, "no canary series match") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 3, inconclusive, no series", code, stdout, stderr)
	}

	code, stdout, _ = runGateCLI(t, env, "evaluate", "--format", "json")
	var doc struct {
		Verdict  string           `json:"verdict"`
		ExitCode int              `json:"exitCode"`
		DryRun   bool             `json:"dryRun"`
		Summary  map[string]any   `json:"summary"`
		Checks   []map[string]any `json:"checks"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("json output %q: %v", stdout, err)
	}
	if code != ExitInconclusive || doc.Verdict != "inconclusive" || doc.ExitCode != ExitInconclusive || doc.DryRun || doc.Summary["go"] != false || len(doc.Checks) != 10 {
		t.Errorf("json: exit %d, %+v", code, doc)
	}

	code, stdout, _ = runGateCLI(t, env, "evaluate", "--dry-run")
	if code != 0 || !strings.Contains(stdout, "would exit 3") || !strings.Contains(stdout, "histogram_quantile(0.95") {
		t.Errorf("dry run: exit %d, %q; want 0, the exit code it would use and the queries", code, stdout)
	}

	if err := prom.Stop(); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runGateCLI(t, env, "evaluate")
	if code != ExitInfra || !strings.Contains(stderr, "could not evaluate") || stdout != "" {
		t.Errorf("prometheus stopped: exit %d, stdout %q, stderr %q; want 4", code, stdout, stderr)
	}
	code, stdout, _ = runGateCLI(t, env, "evaluate", "--format", "json")
	if code != ExitInfra || !strings.Contains(stdout, `"exitCode": 4`) || !strings.Contains(stdout, `"error": "gate: could not evaluate`) {
		t.Errorf("prometheus stopped, json: exit %d, %q", code, stdout)
	}
	code, stdout, _ = runGateCLI(t, env, "evaluate", "--dry-run")
	if code != 0 || !strings.Contains(stdout, "would exit 4") || !strings.Contains(stdout, "could not evaluate") {
		t.Errorf("prometheus stopped, dry run: exit %d, %q", code, stdout)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestGateServeShutsDownOnSignal runs `flagstorm gate serve` on a free
// port, checks /healthz, then cancels its context as SIGTERM does in main:
// it shuts down and exits 0.
func TestGateServeShutsDownOnSignal(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	addr, done, stderr := startGateServe(ctx, t, nil)
	res, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("/healthz: %d", res.StatusCode)
	}
	res, err = http.Post("http://"+addr+"/v1/flagger/rollout", "application/json",
		strings.NewReader(`{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"x","metadata":{"canary":"a=\"b\"","baseline":"a=\"c\""}}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFailedDependency {
		t.Errorf("rollout hook with no Prometheus: %d; want 424", res.StatusCode)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after shutdown; want 0: %s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop after its context ended")
	}
	if !strings.Contains(stderr.String(), "gate stopped") {
		t.Errorf("no shutdown log: %s", stderr.String())
	}
}

// startGateServe runs `flagstorm gate serve` (Prometheus unreachable) on
// a free port with env and extra args until ctx ends; it returns the
// address, the exit code's channel and stderr.
func startGateServe(ctx context.Context, t *testing.T, env map[string]string, args ...string) (string, chan int, *syncBuffer) {
	t.Helper()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, append([]string{"gate", "serve", "--listen", "127.0.0.1:0", "--prometheus", "http://127.0.0.1:1"}, args...),
			func(k string) string { return env[k] }, &stdout, &stderr)
	}()
	addrRE := regexp.MustCompile(`"addr":"(127\.0\.0\.1:\d+)"`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := addrRE.FindStringSubmatch(stderr.String()); m != nil {
			return m[1], done, &stderr
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not log its address: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// TestGateServeToken: a token from FLAGSTORM_GATE_TOKEN or --token-file
// is required on /v1/ (401 without it); /healthz stays open.
func TestGateServeToken(t *testing.T) {
	const token = "0123456789abcdef0123"
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"env", map[string]string{"FLAGSTORM_GATE_TOKEN": token}, nil},
		{"file", nil, []string{"--token-file", file}},
		{"file from env", map[string]string{"FLAGSTORM_TOKEN_FILE": file}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			addr, done, stderr := startGateServe(ctx, t, tc.env, tc.args...)
			const body = `{"name":"podinfo","namespace":"test","metadata":{"canary":"a=\"b\"","baseline":"a=\"c\""}}`
			for _, auth := range []string{"", "Bearer wrong-wrong-wrong-wrong", "Bearer " + token} {
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/flagger/rollout", strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				want := http.StatusUnauthorized
				if auth == "Bearer "+token {
					want = http.StatusFailedDependency // authorized; Prometheus unreachable
				}
				if res.StatusCode != want {
					t.Errorf("Authorization %q: %d; want %d", auth, res.StatusCode, want)
				}
			}
			res, err := http.Get("http://" + addr + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Errorf("/healthz: %d; want 200 without a token", res.StatusCode)
			}
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("exit %d: %s", code, stderr.String())
			}
			if strings.Contains(stderr.String(), token) {
				t.Error("the log holds the token")
			}
		})
	}
}
