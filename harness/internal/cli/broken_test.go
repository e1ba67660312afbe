package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/testenv"
)

// A verifier that passes everything proves nothing (issue 5). These tests
// run scenarios through the real CLI path on the local stack (real
// redis-server, PostgreSQL, Toxiproxy, flagserver processes) against
// flagservers that are broken on purpose with one UNSAFE_ switch each,
// and check that the run exits 1 naming the threshold that guards the
// property the switch breaks, and that the same scenario passes without
// the switch, so the failure is the switch's.

// verdicts returns the thresholds the summary marks failed and passed,
// as "key expression".
func verdicts(stdout string) (failed, passed []string) {
	for line := range strings.SplitSeq(stdout, "\n") {
		line = strings.TrimSpace(line)
		for mark, dst := range map[string]*[]string{"✗ ": &failed, "✓ ": &passed} {
			if rest, ok := strings.CutPrefix(line, mark); ok {
				if name, _, ok := strings.Cut(rest, " observed "); ok {
					*dst = append(*dst, name)
				}
			}
		}
	}
	slices.Sort(failed)
	slices.Sort(passed)
	return failed, passed
}

var outageConnsRE = regexp.MustCompile(`backend cost in outage: [0-9.]+ Redis commands and ([0-9.]+) new Redis connections per HTTP request`)

// outageConns is the new Redis connections per HTTP request in phase
// outage, from the run's notes.
func outageConns(t *testing.T, stdout string) float64 {
	t.Helper()
	m := outageConnsRE.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no backend cost note for phase outage:\n%s", stdout)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// runBroken runs file on the local stack under the hardened profile with
// the extra flagserver environment and returns the exit code and stdout.
func runBroken(t *testing.T, bin, file string, env ...string) (int, string) {
	t.Helper()
	args := []string{"run", file, "--profile", "hardened", "--flagserver-bin", bin, "--quiet"}
	for _, kv := range env {
		args = append(args, "--flagserver-env", kv)
	}
	begin := time.Now()
	code, stdout, stderr := runCLI(t, args...)
	t.Logf("flagstorm %s: exit %d in %.1f s", strings.Join(args[1:], " "), code, time.Since(begin).Seconds())
	if code != ExitOK && code != ExitFailed {
		t.Fatalf("exit %d, want 0 or 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	return code, stdout
}

// TestBrokenTargetsFail: testdata/broken-target.yaml, a 4 s Redis
// blackhole under reads and updates (12 s of load, ~16 s a run), passes
// on hardened, and each switch fails its own threshold and only that.
func TestBrokenTargetsFail(t *testing.T) {
	if testing.Short() {
		t.Skip("five runs of a 12 s scenario on the local stack")
	}
	needBrokenSuite(t)
	bin := testenv.BuildFlagserver(t)
	file := filepath.Join("testdata", "broken-target.yaml")
	all := []string{"http_req_duration{phase:outage} p(95)<250", "http_req_failed rate==0", "stale_reads{phase:recovery} count==0"}

	code, stdout := runBroken(t, bin, file)
	if failed, _ := verdicts(stdout); code != ExitOK || len(failed) > 0 {
		t.Fatalf("hardened without a switch: exit %d, failed %v; want 0: every failure below must be the switch's\n%s", code, failed, stdout)
	}
	baseConns := outageConns(t, stdout)

	for _, tt := range []struct {
		env  string
		want string   // the threshold that must fail
		may  []string // thresholds that may fail too; every other one must pass
		why  string
	}{
		{"UNSAFE_NO_DB_FALLBACK=true", "http_req_failed rate==0", nil, "Redis errors become 503s"},
		{"UNSAFE_NAIVE_INVALIDATION=true", "stale_reads{phase:recovery} count==0", nil, "the DELs of updates during the outage are lost"},
		// Reads that join a retry storm or a hang late may outlast the
		// harness's 10 s request timeout: failures are the same fault.
		{"UNSAFE_UNBOUNDED_RETRIES=true", "http_req_duration{phase:outage} p(95)<250", []string{"http_req_failed rate==0"}, "each read waits out a retry storm"},
		{"UNSAFE_NO_REDIS_TIMEOUT=true", "http_req_duration{phase:outage} p(95)<250", []string{"http_req_failed rate==0"}, "reads hang until the blackhole ends"},
	} {
		name, _, _ := strings.Cut(tt.env, "=")
		t.Run(name, func(t *testing.T) {
			code, stdout := runBroken(t, bin, file, tt.env)
			failed, passed := verdicts(stdout)
			if code != ExitFailed {
				t.Fatalf("exit %d, want 1 (%s)\n%s", code, tt.why, stdout)
			}
			if !slices.Contains(failed, tt.want) {
				t.Errorf("failed %v, want %s among them (%s)\n%s", failed, tt.want, tt.why, stdout)
			}
			for _, f := range failed {
				if f != tt.want && !slices.Contains(tt.may, f) {
					t.Errorf("%s failed too: the switch breaks %s only (%s)\n%s", f, tt.want, tt.why, stdout)
				}
			}
			if len(failed)+len(passed) != len(all) {
				t.Errorf("judged %v and %v, want the %d thresholds %v", failed, passed, len(all), all)
			}
			if line := failLine(stdout); !strings.Contains(line, tt.want) {
				t.Errorf("the FAIL line does not name %s: %q", tt.want, line)
			}
			t.Logf("failed %v: %s", failed, failLine(stdout))
			if name == "UNSAFE_UNBOUNDED_RETRIES" {
				// The retry storm shows in the backend cost: every retry
				// after a timeout is a new connection.
				// Measured 0.52-1.08 per request against 0.017-0.029 (18-62x).
				if conns := outageConns(t, stdout); conns < 5*baseConns || conns < 0.2 {
					t.Errorf("outage: %.4f new Redis connections per request, hardened %.4f; want an amplification of at least 5x (and 0.2 per request)", conns, baseConns)
				} else {
					t.Logf("outage: %.4f new Redis connections per request, hardened %.4f (%.0fx)", conns, baseConns, conns/max(baseConns, 1e-9))
				}
			}
		})
	}
}

// failLine is the summary's last line, "FAIL: n of m thresholds failed: ...".
func failLine(stdout string) string {
	for line := range strings.SplitSeq(stdout, "\n") {
		if strings.HasPrefix(line, "FAIL: ") {
			return line
		}
	}
	return ""
}

// TestBrokenColdStartFails: testdata/cold-start.yaml (the built-in
// cold-start, 12 s with Redis back at 6 s and loose latency bounds, ~17 s
// a run) passes on hardened and fails target_ready_time with
// UNSAFE_BLOCKING_COLD_START, whose flagserver is not ready until Redis
// returns.
func TestBrokenColdStartFails(t *testing.T) {
	if testing.Short() {
		t.Skip("two runs of a 12 s cold-start scenario on the local stack")
	}
	needBrokenSuite(t)
	bin := testenv.BuildFlagserver(t)
	file := filepath.Join("testdata", "cold-start.yaml")
	readyRE := regexp.MustCompile(`target_ready_time value<500 observed ([0-9.]+)ms`)
	ready := func(t *testing.T, stdout string) float64 {
		t.Helper()
		m := readyRE.FindStringSubmatch(stdout)
		if m == nil {
			t.Fatalf("no target_ready_time verdict:\n%s", stdout)
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}

	code, stdout := runBroken(t, bin, file)
	if failed, _ := verdicts(stdout); code != ExitOK || len(failed) > 0 {
		t.Fatalf("hardened cold start: exit %d, failed %v; want 0\n%s", code, failed, stdout)
	}
	t.Logf("hardened: ready in %.1f ms with Redis blackholed", ready(t, stdout))

	code, stdout = runBroken(t, bin, file, "UNSAFE_BLOCKING_COLD_START=true")
	failed, _ := verdicts(stdout)
	if code != ExitFailed || !slices.Contains(failed, "target_ready_time value<500") {
		t.Fatalf("UNSAFE_BLOCKING_COLD_START: exit %d, failed %v; want 1 naming target_ready_time value<500\n%s", code, failed, stdout)
	}
	if ms := ready(t, stdout); ms < 5000 {
		t.Errorf("blocking start ready in %.1f ms; it should wait for Redis, back at 6 s", ms)
	} else {
		t.Logf("blocking: ready in %.1f ms (Redis back at 6 s); also failed: %v", ms, failed)
	}
	for _, w := range []string{"http_req_failed{phase:redis-down} rate==0", "http_reqs{phase:redis-down,source:db-fallback} count>0"} {
		if !slices.Contains(failed, w) {
			t.Errorf("blocking start: %s passed; nothing listens while Redis is down (failed: %v)", w, failed)
		}
	}
}

// needBrokenSuite skips the long proofs against the UNSAFE switches
// unless FLAGSTORM_TEST_BROKEN is set (make test-broken, nightly): about
// 2.5 minutes of make test, which CI's 15 minutes cannot hold beside the
// quick suite and the end-to-end test. The newest switch's proof
// (TestBrokenAmbiguousCommitIsCaught) stays in make test.
func needBrokenSuite(t *testing.T) {
	t.Helper()
	if os.Getenv("FLAGSTORM_TEST_BROKEN") == "" {
		t.Skip("runs in make test-broken (FLAGSTORM_TEST_BROKEN=1) and nightly")
	}
}
