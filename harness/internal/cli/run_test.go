package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/testenv"
)

// flagserverURL builds and starts a real flagserver (SQLite, no Redis) on
// a free loopback port for the package's end-to-end tests.
func flagserverURL(t *testing.T) string {
	t.Helper()
	return startFlagserver(t, "SQLITE_PATH="+filepath.Join(t.TempDir(), "flags.db"),
		"SEED_FLAGS=20", "ADMIN_TOKEN=e2e", "LOG_LEVEL=warn", "REDIS_URL=", "DATABASE_URL=")
}

// startFlagserver runs `flagserver serve` with env on a free loopback port
// until the test ends, and returns its base URL once /readyz answers 200.
func startFlagserver(t *testing.T, env ...string) string {
	t.Helper()
	bin := testenv.BuildFlagserver(t)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = append(append(os.Environ(), "LISTEN_ADDR="+addr), env...)
	var logs syncBuffer // the process writes while Poll reads
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	url := "http://" + addr
	testenv.Poll(t, 30*time.Second, "flagserver ready", func() error {
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			return fmt.Errorf("%w\n%s", err, logs.String())
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("readyz %d\n%s", resp.StatusCode, logs.String())
		}
		return nil
	})
	return url
}

func scenarioFile(t *testing.T, thresholds string) string {
	t.Helper()
	body := `name: e2e
description: a short end-to-end run
load:
  executor: constant-vus
  vus: 5
  duration: 2s
data:
  environments: [production]
  flags: {prefix: flag-, count: 20, pad: 3}
requests:
  - {name: list,   weight: 3, method: GET,   path: "/api/config/flags?environment={{env}}"}
  - {name: get,    weight: 6, method: GET,   path: "/api/config/flags/{{flag}}?environment={{env}}"}
  - {name: update, weight: 1, method: PATCH, path: "/api/config/flags/{{flag}}?environment={{env}}", body: '{"enabled": {{bool}}}'}
thresholds:
` + thresholds
	path := filepath.Join(t.TempDir(), "e2e.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(t.Context(), args, func(string) string { return "" }, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestRunAgainstRealFlagserver(t *testing.T) {
	url := flagserverURL(t)
	t.Run("passing scenario exits 0 and writes reports", func(t *testing.T) {
		file := scenarioFile(t, `  http_req_duration: ["p(95)<5000"]
  "http_req_failed{name:get}": ["rate==0"]
  "http_req_failed{name:update}": ["rate==0"]
  checks: ["rate>0.99"]
`)
		out := t.TempDir()
		code, stdout, stderr := runCLI(t, "run", file, "--target-url", url, "--out", out, "--admin-token", "e2e", "--quiet")
		if code != ExitOK {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if !strings.Contains(stdout, "PASS") {
			t.Errorf("summary lacks the PASS verdict line:\n%s", stdout)
		}
		for _, f := range []string{"summary.json", "junit.xml", "report.html"} {
			if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
				t.Errorf("%s not written: %v", f, err)
			}
		}
	})
	t.Run("failing scenario exits 1 naming the threshold", func(t *testing.T) {
		// Not a latency threshold: on a starved machine (go test -race
		// beside other packages) a latency failure may be inconclusive.
		file := scenarioFile(t, `  http_reqs: ["count<1"]
  http_req_duration: ["p(95)<5000"]
`)
		code, stdout, stderr := runCLI(t, "run", file, "--target-url", url, "--quiet")
		if code != ExitFailed {
			t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if !strings.Contains(stdout, "✗ http_reqs count<1") {
			t.Errorf("summary does not name the failed threshold:\n%s", stdout)
		}
	})
	t.Run("writes without a token fail the checks", func(t *testing.T) {
		file := scenarioFile(t, `  "http_req_failed{name:update}": ["rate==0"]
`)
		code, stdout, _ := runCLI(t, "run", file, "--target-url", url, "--quiet")
		if code != ExitFailed {
			t.Errorf("exit %d, want 1: PATCH without the admin token is 401\n%s", code, stdout)
		}
	})
	t.Run("oracle thresholds without an oracle are inconclusive, never passed", func(t *testing.T) {
		file := scenarioFile(t, `  stale_reads: ["count==0"]
  lost_writes: ["count==0"]
  http_reqs: ["count>0"]
`)
		code, stdout, stderr := runCLI(t, "run", file, "--target-url", url, "--admin-token", "e2e", "--quiet")
		if code != ExitInconclusive {
			t.Fatalf("exit %d, want 3: no oracle ran against --target-url\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		for _, want := range []string{
			"? stale_reads count==0 inconclusive: no oracle ran",
			"? lost_writes count==0 inconclusive: durability not checked",
			"✓ http_reqs count>0",
		} {
			if !strings.Contains(stdout, want) {
				t.Errorf("summary lacks %q:\n%s", want, stdout)
			}
		}
	})
	t.Run("no data is inconclusive", func(t *testing.T) {
		file := scenarioFile(t, `  "http_req_duration{name:get,source:stale}": ["p(95)<50"]
`)
		code, stdout, _ := runCLI(t, "run", file, "--target-url", url, "--quiet")
		if code != ExitInconclusive {
			t.Errorf("exit %d, want 3 (no stale reads happen here)\n%s", code, stdout)
		}
	})
}

func TestUsageErrorsExit2(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("name: bad\nload: {executor: constant-vus, vus: 5, duration: 2s}\nrequests: [{name: get, method: GET, path: /x}]\nthresholds:\n  http_req_duration: [\"p95<5\"]\n"), 0o644)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"run"}, "exactly one scenario file"},
		{[]string{"run", bad, "--target-url", "http://127.0.0.1:1"}, "bad.yaml:5"},
		{[]string{"validate", bad}, "p(95)"},
		{[]string{"validate", filepath.Join(t.TempDir(), "missing.yaml")}, "missing.yaml"},
		{[]string{"run", "--nope"}, ""},
	} {
		code, _, stderr := runCLI(t, tt.args...)
		if code != ExitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
}

func TestValidateBuiltins(t *testing.T) {
	matches, _ := filepath.Glob("../../../scenarios/*.yaml")
	if len(matches) == 0 {
		t.Fatal("no built-in scenarios found")
	}
	code, stdout, stderr := runCLI(t, append([]string{"validate"}, matches...)...)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if n := strings.Count(stdout, "ok "); n != len(matches) {
		t.Errorf("%d of %d files reported ok:\n%s", n, len(matches), stdout)
	}
}

func TestEnvFallback(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := func(k string) string {
		if k == "FLAGSTORM_TARGET_URL" {
			return "not a url"
		}
		return ""
	}
	file := scenarioFile(t, `  http_reqs: ["count>0"]
`)
	code := Main(t.Context(), []string{"run", file}, env, &stdout, &stderr)
	if code != ExitUsage || !strings.Contains(stderr.String(), "target URL") {
		t.Errorf("FLAGSTORM_TARGET_URL was not used: exit %d, %s", code, stderr.String())
	}
	_ = fmt.Sprint()
}
