package cli

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/flagstorm/flagstorm/harness/internal/run"
	"github.com/flagstorm/flagstorm/harness/internal/segment"
	"github.com/flagstorm/flagstorm/internal/freeport"
	"github.com/flagstorm/flagstorm/internal/testenv"
)

// The runner's flags: every bad combination is a usage error (exit 2)
// that names the flag, before any scenario is loaded or target started.
func TestRunnerFlags(t *testing.T) {
	file := scenarioFile(t, "  http_reqs: [\"count>0\"]\n")
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"segment and runners", nil, []string{"--segment", "1/2:1", "--runners", "2", "--runner-index", "1"}, "give one way"},
		{"runners without an index", nil, []string{"--runners", "2"}, "go together"},
		{"an index without runners", nil, []string{"--runner-index", "0"}, "go together"},
		{"an index out of range", nil, []string{"--runners", "4", "--runner-index", "4"}, "--runner-index 4: want 0 to 3"},
		{"no runners", nil, []string{"--runners", "0", "--runner-index", "0"}, "--runners 0: want 1 or more"},
		{"an index from the environment", map[string]string{"FLAGSTORM_RUNNERS": "2", "FLAGSTORM_RUNNER_INDEX": "-1"}, nil, "--runner-index -1: want 0 to 1"},
		{"a bad segment", nil, []string{"--segment", "3/4:1/4"}, "--segment:"},
		{"a segment outside its sequence", nil, []string{"--segment", "1/4:1/2", "--segment-sequence", "0,1/2,1"}, "is not one of the segments of the sequence"},
		{"a bad sequence", nil, []string{"--segment", "0:1/2", "--segment-sequence", "0,1/2,1/3,1"}, "--segment-sequence:"},
		{"a sequence alone", nil, []string{"--segment-sequence", "0,1/2,1"}, "--segment-sequence goes with --segment"},
		{"a rendezvous without a segment", nil, []string{"--rendezvous", "127.0.0.1:1"}, "give --segment or --runners"},
		{"a rendezvous without a port", nil, []string{"--rendezvous", "localhost", "--runners", "2", "--runner-index", "0"}, "--rendezvous \"localhost\": want HOST:PORT"},
		{"a zero rendezvous timeout", nil, []string{"--rendezvous", "127.0.0.1:1", "--runners", "2", "--runner-index", "1", "--rendezvous-timeout", "0s"}, "--rendezvous-timeout 0s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			args := append([]string{"run", file, "--target-url", "http://127.0.0.1:1"}, tc.args...)
			code := Main(t.Context(), args, func(k string) string { return tc.env[k] }, &stdout, &stderr)
			if code != ExitUsage {
				t.Errorf("exit %d, want 2\n%s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr does not say %q:\n%s", tc.want, stderr.String())
			}
		})
	}
}

// Runner processes of the built binary against a stand-in target on
// loopback: three runners meet at the rendezvous and start at one
// instant (the first one waiting for the others), their iterations add
// up to the whole plan's; a missing runner means no run (exit 4, naming
// its segment); a runner given another file is refused (exit 2).
func TestRunnersMeetAtTheRendezvous(t *testing.T) {
	if testing.Short() {
		t.Skip("builds flagstorm and runs runner processes")
	}
	bin := testenv.BuildFlagstorm(t)
	srv := standIn(t)
	file := arrivalFile(t, "meet", 40, "2s", "", `  http_reqs: ["count>0"]`)

	t.Run("three runners, one start", func(t *testing.T) {
		addr := freeAddr(t)
		outs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
		runner := func(i int) *process {
			return startProcess(t, bin, nil, "run", file, "--target-url", srv.URL, "--quiet", "--out", outs[i],
				"--runners", "3", "--runner-index", strconv.Itoa(i), "--rendezvous", addr, "--rendezvous-timeout", "60s")
		}
		// The last runner first: it waits for the leader, which is not
		// even listening yet.
		last := runner(2)
		testenv.Poll(t, 30*time.Second, "runner 2 waiting at the rendezvous", func() error {
			if !strings.Contains(last.out.String(), "waiting for the other runners") {
				return fmt.Errorf("runner 2 so far:\n%s", last.out.String())
			}
			return nil
		})
		ps := []*process{runner(0), runner(1), last}
		for i, p := range ps {
			if code := p.wait(t, 60*time.Second); code != ExitOK {
				t.Errorf("runner %d: exit %d\n%s", i, code, p.out.String())
			}
		}
		if t.Failed() {
			return
		}
		sums := make([]summaryFile, 3)
		for i := range sums {
			sums[i] = readSummary(t, filepath.Join(outs[i], "summary.json"))
		}
		// One start: the leader's announced instant in every runner's
		// notes, and every runner's time zero within 50 ms of the
		// leader's (one machine: the offsets are microseconds; a runner
		// that did not wait would be at least the 1 s margin early).
		announced := regexp.MustCompile(`load started at (\d\d:\d\d:\d\d\.\d{3}) UTC`)
		var starts []string
		for i, s := range sums {
			m := announced.FindStringSubmatch(strings.Join(s.Flagstorm.Notes, "\n"))
			if m == nil {
				t.Fatalf("runner %d: no shared start in the notes: %q", i, s.Flagstorm.Notes)
			}
			starts = append(starts, m[1])
			if d := s.Flagstorm.Start.Sub(sums[0].Flagstorm.Start); d < -50*time.Millisecond || d > 50*time.Millisecond {
				t.Errorf("runner %d started %s from the leader", i, d)
			}
		}
		if starts[1] != starts[0] || starts[2] != starts[0] {
			t.Errorf("the runners name different starts: %q", starts)
		}
		if notes := strings.Join(sums[2].Flagstorm.Notes, "\n"); !strings.Contains(notes, "segment 2/3:1 of the sequence 0,1/3,2/3,1") || !strings.Contains(notes, "clock offset to the leader") {
			t.Errorf("runner 2's notes: %q", sums[2].Flagstorm.Notes)
		}
		// Striped arrivals: 80 in all, each started by exactly one runner.
		var total float64
		for _, s := range sums {
			total += s.value(t, "iterations", "count")
		}
		if total != 80 {
			t.Errorf("the runners' iterations add up to %v, want the plan's 80", total)
		}
	})

	t.Run("a missing runner: no run, exit 4 naming its segment", func(t *testing.T) {
		addr := freeAddr(t)
		args := func(i int) []string {
			return []string{"run", file, "--target-url", srv.URL, "--quiet", "--runners", "3", "--runner-index", strconv.Itoa(i), "--rendezvous", addr, "--rendezvous-timeout", "3s"}
		}
		leader := startProcess(t, bin, nil, args(0)...)
		follower := startProcess(t, bin, nil, args(2)...)
		for name, p := range map[string]*process{"leader": leader, "follower": follower} {
			if code := p.wait(t, 60*time.Second); code != ExitInfra {
				t.Errorf("%s: exit %d, want 4\n%s", name, code, p.out.String())
			}
			if !strings.Contains(p.out.String(), "1/3:2/3") || !strings.Contains(p.out.String(), "the run did not start") {
				t.Errorf("%s does not name the missing segment 1/3:2/3:\n%s", name, p.out.String())
			}
			if strings.Contains(p.out.String(), "running meet") {
				t.Errorf("%s ran load:\n%s", name, p.out.String())
			}
		}
	})

	t.Run("a runner of another file is refused: exit 2", func(t *testing.T) {
		addr := freeAddr(t)
		other := arrivalFile(t, "meet", 40, "2s", "", `  http_reqs: ["count>1"]`)
		leader := startProcess(t, bin, nil, "run", file, "--target-url", srv.URL, "--quiet", "--runners", "2", "--runner-index", "0", "--rendezvous", addr, "--rendezvous-timeout", "5s")
		follower := startProcess(t, bin, nil, "run", other, "--target-url", srv.URL, "--quiet", "--runners", "2", "--runner-index", "1", "--rendezvous", addr, "--rendezvous-timeout", "5s")
		if code := follower.wait(t, 60*time.Second); code != ExitUsage || !strings.Contains(follower.out.String(), "runs another scenario") {
			t.Errorf("follower: exit %d, want 2 saying it runs another scenario\n%s", code, follower.out.String())
		}
		if code := leader.wait(t, 60*time.Second); code != ExitInfra || !strings.Contains(leader.out.String(), "1/2:1") || !strings.Contains(leader.out.String(), "refused") {
			t.Errorf("leader: exit %d, want 4 naming 1/2:1 and the refusal\n%s", code, leader.out.String())
		}
	})
}

// The proof of issue 15 on one machine (make test-distributed): one
// flagserver behind a toxiproxy-server process, a constant-arrival-rate
// file with a fault phase; the whole load by one process, then by 2 and
// by 4 runner processes (--runners, --runner-index, --rendezvous; the
// runner of index 0 owns the timeline: the others are given the same
// Toxiproxy and leave it alone, the last of 4 is given none),
// merged with flagstorm merge. The merge has exactly the single run's
// iteration count, in all and in the fault phase; its percentiles are
// those of all the runners' samples within the histograms' resolution;
// its thresholds pass where every runner's own (on its share) fail; and
// merge without one runner's directory exits 2 naming the segment.
func TestDistributedRunIsOneRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts toxiproxy-server, Redis, PostgreSQL, flagserver and up to 4 runner processes")
	}
	if os.Getenv("FLAGSTORM_TEST_DISTRIBUTED") == "" {
		t.Skip("the distributed proof runs alone: make test-distributed (FLAGSTORM_TEST_DISTRIBUTED=1)")
	}
	bin := testenv.BuildFlagstorm(t)
	const token = "distributed-token"
	fs := flagserverBehindToxiproxy(t, "ADMIN_TOKEN="+token, "SEED_FLAGS=100", "CACHE_PROFILE=hardened", "MEMORY_CACHE_TTL=0", "LOG_LEVEL=warn")
	env := []string{"FLAGSTORM_ADMIN_TOKEN=" + token}

	// 200 arrivals/s for 6 s: 1,200 iterations whatever the latency (open
	// model; 100 VUs leave none dropped), 400 of them in phase slow.
	const total = 1200
	file := arrivalFile(t, "distributed", 200, "6s", `timeline:
  - {phase: steady, at: 0s}
  - {phase: slow,   at: 2s, fault: {proxy: redis, type: latency, latency: 20ms}}
  - {phase: after,  at: 4s}
`, fmt.Sprintf(`  iterations: ["count==%d"]
  "http_reqs{phase:slow}": ["count>0"]
  dropped_iterations: ["count==0"]
  http_req_failed: ["rate<0.01"]
  http_req_duration: ["p(95)<2000"]`, total))
	owner := []string{"--target-url", fs.url, "--toxiproxy-url", fs.toxiproxy, "--database-url", fs.dbURL, "--redis-addr", fs.redisAddr}

	single := t.TempDir()
	p := startProcess(t, bin, env, append([]string{"run", file, "--quiet", "--out", single}, owner...)...)
	if code := p.wait(t, 2*time.Minute); code != ExitOK {
		t.Fatalf("the single run: exit %d, want 0\n%s", code, p.out.String())
	}
	one := readSummary(t, filepath.Join(single, "summary.json"))
	if got := one.value(t, "iterations", "count"); got != total {
		t.Fatalf("the single run made %v iterations, want %d", got, total)
	}
	slowOne := one.value(t, "http_reqs{phase:slow}", "count")

	for _, n := range []int{2, 4} {
		t.Run(fmt.Sprintf("%d runners", n), func(t *testing.T) {
			addr := freeAddr(t)
			dirs := make([]string, n)
			ps := make([]*process, n)
			for i := range n {
				dirs[i] = filepath.Join(t.TempDir(), fmt.Sprintf("runner-%d", i))
				args := []string{"run", file, "--quiet", "--out", dirs[i], "--runners", strconv.Itoa(n), "--runner-index", strconv.Itoa(i), "--rendezvous", addr, "--rendezvous-timeout", "60s"}
				if i == n-1 && n > 2 {
					// A follower needs no Toxiproxy, nor the database
					// (it runs no oracle then).
					args = append(args, "--target-url", fs.url)
				} else {
					// The same command line as the owner's: only runner 0
					// may touch the Toxiproxy.
					args = append(args, owner...)
				}
				ps[i] = startProcess(t, bin, env, args...)
			}
			for i, p := range ps {
				// Each runner judges only its share: iterations==1200 fails.
				if code := p.wait(t, 2*time.Minute); code != ExitFailed {
					t.Errorf("runner %d: exit %d, want 1 (its share fails the whole run's count)\n%s", i, code, p.out.String())
				}
			}
			if t.Failed() {
				return
			}
			for i := range n {
				s := readSummary(t, filepath.Join(dirs[i], "summary.json"))
				applied := slices.IndexFunc(s.Flagstorm.Phases, func(ph summaryPhase) bool { return ph.Name == "slow" && ph.Applied != nil })
				if (i == 0) != (applied >= 0) {
					t.Errorf("runner %d: fault applied = %v; only runner 0 owns the timeline (phases %+v)", i, applied >= 0, s.Flagstorm.Phases)
				}
			}

			merged := t.TempDir()
			p := startProcess(t, bin, nil, append([]string{"merge", "--out", merged}, dirs...)...)
			if code := p.wait(t, time.Minute); code != ExitOK {
				t.Fatalf("merge of %d runners: exit %d, want 0 (its thresholds pass on the whole run)\n%s", n, code, p.out.String())
			}
			m := readSummary(t, filepath.Join(merged, "summary.json"))
			if got := m.value(t, "iterations", "count"); got != total {
				t.Errorf("merged iterations %v, want the single run's %d", got, total)
			}
			if got := m.value(t, "http_reqs{phase:slow}", "count"); got != slowOne {
				t.Errorf("merged http_reqs{phase:slow} %v, want the single run's %v", got, slowOne)
			}
			if m.Flagstorm.Verdict != "pass" {
				t.Errorf("merged verdict %q, want pass", m.Flagstorm.Verdict)
			}
			for _, th := range m.Flagstorm.Thresholds {
				if th.Verdict != "pass" {
					t.Errorf("merged threshold %s %s: %s", th.Key, th.Expr, th.Verdict)
				}
			}
			t.Logf("%d runners merged: %v iterations (one process: %d), http_reqs{phase:slow} %v (one process: %v), verdict %s", n, m.value(t, "iterations", "count"), total, m.value(t, "http_reqs{phase:slow}", "count"), slowOne, m.Flagstorm.Verdict)
			checkMergedPercentiles(t, m, dirs)

			// One runner's results gone: merge refuses, naming the gap.
			gap := 1
			p = startProcess(t, bin, nil, append([]string{"merge", "--out", t.TempDir()}, slices.Delete(slices.Clone(dirs), gap, gap+1)...)...)
			segs, _ := segment.Split(n)
			want := "no runner covers " + segs[gap].String()
			if code := p.wait(t, time.Minute); code != ExitUsage || !strings.Contains(p.out.String(), want) {
				t.Errorf("merge without runner %d: exit %d, want 2 naming %s\n%s", gap, code, want, p.out.String())
			}
		})
	}
}

// checkMergedPercentiles compares the merge's http_req_duration
// percentiles with the exact percentiles of every sample the runners
// recorded (their raw histograms, read here with the HDR library, not
// through the merge): equal within the histogram's resolution at that
// value (3 significant digits).
func checkMergedPercentiles(t *testing.T, m summaryFile, dirs []string) {
	t.Helper()
	var samples []int64 // µs, each histogram bucket's lowest value, count times
	for _, d := range dirs {
		raw, err := run.ReadRaw(filepath.Join(d, run.RawFile))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range raw.Recorder.Series {
			if s.Metric != "http_req_duration" || s.Histogram == "" {
				continue
			}
			h, err := hdrhistogram.Decode([]byte(s.Histogram))
			if err != nil {
				t.Fatalf("%s: series %s %+v: %v", d, s.Metric, s.Tags, err)
			}
			for _, b := range h.Distribution() {
				for range b.Count {
					samples = append(samples, b.From)
				}
			}
		}
	}
	slices.Sort(samples)
	if got := m.value(t, "http_reqs", "count"); int(got) != len(samples) {
		t.Fatalf("the merge counts %v requests, the runners' histograms hold %d durations", got, len(samples))
	}
	for _, p := range []int{90, 95, 99} {
		// Nearest rank, as the HDR library ranks (rounded).
		rank := (len(samples)*p + 50) / 100
		exact := float64(samples[max(rank, 1)-1])
		got := m.value(t, "http_req_duration", fmt.Sprintf("p(%d)", p)) * 1000 // ms → µs
		if tol := exact/1000 + 1; math.Abs(got-exact) > tol {
			t.Errorf("merged p(%d) = %.1f µs, the runners' samples give %.1f µs (resolution ±%.1f µs)", p, got, exact, tol)
		} else {
			t.Logf("merged p(%d) = %.1f µs; the runners' %d samples give %.1f µs", p, got, len(samples), exact)
		}
	}
}

// arrivalFile writes a constant-arrival-rate scenario file.
func arrivalFile(t *testing.T, name string, rate int, duration, timeline, thresholds string) string {
	t.Helper()
	body := fmt.Sprintf(`name: %s
load: {executor: constant-arrival-rate, rate: %d, duration: %s, preAllocatedVUs: 20, maxVUs: 100}
requests:
  - {name: get,    weight: 9, method: GET,   path: "/api/config/flags/{{flag}}?environment={{env}}"}
  - {name: update, weight: 1, method: PATCH, path: "/api/config/flags/{{flag}}?environment={{env}}", body: '{"enabled": {{bool}}}', headers: {Content-Type: application/json}}
%sthresholds:
%s
`, name, rate, duration, timeline, thresholds)
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := freeport.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// process is a flagstorm process the test started; Cleanup kills it if
// the test did not wait for it.
type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

func startProcess(t *testing.T, bin string, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	p := &process{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		_ = cmd.Wait()
	}()
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

// wait returns the process's exit code, failing the test if it runs past
// timeout.
func (p *process) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("%s did not end within %s\n%s", strings.Join(p.cmd.Args, " "), timeout, p.out.String())
		return -1
	}
}

// summaryFile is what these tests read of summary.json.
type summaryFile struct {
	Metrics map[string]struct {
		Values map[string]*float64 `json:"values"`
	} `json:"metrics"`
	Flagstorm struct {
		Start      time.Time      `json:"start"`
		Verdict    string         `json:"verdict"`
		Phases     []summaryPhase `json:"phases"`
		Notes      []string       `json:"notes"`
		Thresholds []struct {
			Key     string `json:"key"`
			Expr    string `json:"expr"`
			Verdict string `json:"verdict"`
		} `json:"thresholds"`
	} `json:"flagstorm"`
}

type summaryPhase struct {
	Name    string     `json:"name"`
	Applied *time.Time `json:"applied"`
}

func readSummary(t *testing.T, path string) summaryFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s summaryFile
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}

// value is a metric's value in summary.json; the test fails when absent.
func (s summaryFile) value(t *testing.T, metric, key string) float64 {
	t.Helper()
	m, ok := s.Metrics[metric]
	if !ok {
		t.Fatalf("summary.json has no metric %s", metric)
	}
	v, ok := m.Values[key]
	if !ok || v == nil {
		t.Fatalf("summary.json: %s has no %s (values %v)", metric, key, m.Values)
	}
	return *v
}

// standIn is a target for runner processes whose answers do not matter:
// every request gets one flag, from Redis.
func standIn(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Flag-Source", "redis")
		w.Write([]byte(`{"key":"flag-000","environment":"production","version":1}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}
