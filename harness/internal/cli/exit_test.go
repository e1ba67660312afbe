package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flagstorm/flagstorm/harness/internal/exitcode"
	"github.com/flagstorm/flagstorm/harness/internal/run"
)

// The binary's one exit-code table, command by command and outcome by
// outcome (gate's rows are in gate_test.go: TestGateExitCodes).
func TestExitCodeOfEveryCommand(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Flag-Source", "db")
		w.Write([]byte(`{"key":"flag-000","environment":"production","version":1}`))
	}))
	defer srv.Close()
	file := func(thresholds string) string { return scenarioFile(t, thresholds) }
	pass := file("  http_reqs: [\"count>0\"]\n")
	fail := file("  http_reqs: [\"count<1\"]\n") // not latency: a starved generator could make that inconclusive
	stale := file("  stale_reads: [\"count==0\"]\n")
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("name: bad\nload: {executor: constant-vus, vus: 1, duration: 1s}\n"), 0o644)
	missingBin := "--flagserver-bin=" + filepath.Join(t.TempDir(), "no-such-flagserver")
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		args []string
		want int
	}{
		{"run passes", nil, []string{"run", pass, "--target-url", srv.URL, "--quiet"}, exitcode.OK},
		{"run fails a threshold", nil, []string{"run", fail, "--target-url", srv.URL, "--quiet"}, exitcode.Failed},
		{"run with an invalid file", nil, []string{"run", bad, "--target-url", srv.URL}, exitcode.Usage},
		{"run with an unknown flag", nil, []string{"run", pass, "--nope"}, exitcode.Usage},
		{"run without an oracle on stale_reads", nil, []string{"run", stale, "--target-url", srv.URL, "--quiet"}, exitcode.Inconclusive},
		{"run whose stack cannot start", nil, []string{"run", pass, missingBin, "--quiet"}, exitcode.Infra},
		{"run interrupted", cancelled, []string{"run", pass, "--target-url", srv.URL, "--quiet"}, exitcode.Interrupted},
		{"suite with an unknown scenario", nil, []string{"suite", "--only", "nope", "--out", t.TempDir()}, exitcode.Usage},
		{"suite whose stack cannot start", nil, []string{"suite", missingBin, "--profile", "hardened", "--out", t.TempDir(), pass}, exitcode.Infra},
		{"suite interrupted", cancelled, []string{"suite", "--out", t.TempDir(), pass}, exitcode.Interrupted},
		{"validate a good file", nil, []string{"validate", pass}, exitcode.OK},
		{"validate a bad file", nil, []string{"validate", bad}, exitcode.Usage},
		{"stack with stray arguments", nil, []string{"stack", "extra"}, exitcode.Usage},
		{"stack whose flagserver is missing", nil, []string{"stack", missingBin}, exitcode.Infra},
		{"version", nil, []string{"version"}, exitcode.OK},
		{"version with an unknown flag", nil, []string{"version", "--nope"}, exitcode.Usage},
		{"help", nil, []string{"help"}, exitcode.OK},
		{"unknown command", nil, []string{"frobnicate"}, exitcode.Usage},
		{"gate without a subcommand", nil, []string{"gate"}, exitcode.Usage},
		{"merge without directories", nil, []string{"merge"}, exitcode.Usage},
		{"merge of a directory no runner wrote", nil, []string{"merge", t.TempDir()}, exitcode.Usage},
		{"k8s without a subcommand", nil, []string{"k8s"}, exitcode.Usage},
		{"k8s render", nil, []string{"k8s", "render", pass, "--parallelism", "2", "--image", "flagstorm:test", "--target-url", "http://flags:8080"}, exitcode.OK},
		{"k8s render without an image", nil, []string{"k8s", "render", pass, "--parallelism", "2", "--target-url", "http://flags:8080"}, exitcode.Usage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.ctx
			if ctx == nil {
				ctx = t.Context()
			}
			var stdout, stderr strings.Builder
			got := Main(ctx, tc.args, func(string) string { return "" }, &stdout, &stderr)
			if got != tc.want {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", got, tc.want, stdout.String(), stderr.String())
			}
		})
	}
}

// exitCode maps every kind of outcome the commands return.
func TestExitCodeMapping(t *testing.T) {
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want int
	}{
		{"nil", t.Context(), nil, ExitOK},
		{"usage", t.Context(), usageError("bad"), ExitUsage},
		{"an invalid plan", t.Context(), &run.InvalidError{Err: os.ErrInvalid}, ExitUsage},
		{"infrastructure", t.Context(), os.ErrNotExist, ExitInfra},
		{"interrupted", cancelled, os.ErrNotExist, ExitInterrupted},
		{"interrupted, a context error", t.Context(), context.Canceled, ExitInterrupted},
		{"worst of pass and inconclusive", t.Context(), outcome(t.Context(), "pass", "inconclusive"), ExitInconclusive},
		{"worst of inconclusive and fail", t.Context(), outcome(t.Context(), "inconclusive", "fail", "pass"), ExitFailed},
		{"worst of a run that could not start and a pass", t.Context(), outcome(t.Context(), "error", "pass"), ExitInfra},
		{"a failure outranks a run that could not start", t.Context(), outcome(t.Context(), "error", "fail"), ExitFailed},
		{"all passed", t.Context(), outcome(t.Context(), "pass", "pass"), ExitOK},
	}
	for _, tc := range tests {
		if got := exitCode(tc.ctx, tc.err); got != tc.want {
			t.Errorf("%s: exit %d, want %d", tc.name, got, tc.want)
		}
	}
}
