//go:build unix

package dashboards

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/promproc"
	"github.com/flagstorm/flagstorm/internal/testenv"
)

// window replaces Grafana's $__rate_interval (and $__interval, $__range)
// in the proof. Grafana would compute 4 scrape intervals here (4 s); a
// minute keeps the live run's samples in every window while the checks
// run after it ends.
const window = "1m"

// promPoll is how often the proof re-asks Prometheus for what it waits
// for: a scrape or a rule evaluation comes every second at best.
const promPoll = 200 * time.Millisecond

// TestProof is the acceptance check of every dashboard and rule against
// reality. It builds flagserver and flagstorm, starts a real
// redis-server, a fresh PostgreSQL database, flagserver, a Pushgateway and
// a real Prometheus (1 s scrapes, our rule files loaded), then runs two
// flagstorm runs at once:
//
//   - testdata/proof-live.yaml against that flagserver with --metrics-addr
//     (scraped live) and --push-gateway;
//   - testdata/proof-faults.yaml on flagstorm's own local stack (seed
//     profile, Redis refused for 4 s: faults and stale reads), which serves
//     no /metrics, so its series arrive through the Pushgateway push.
//
// Then, through Prometheus's HTTP API:
//   - every dashboard query (panels, variables, annotations; variables at
//     All, $__rate_interval = 1m) and every recording rule's expression
//     returns at least one sample, and at least one finite one (NaN alone,
//     a 0/0, is not data);
//   - every recording rule's output series exists (Prometheus evaluated
//     our file);
//   - every alerting rule's expression evaluates without error, and every
//     series it reads returns data. An alert that should not fire returns
//     nothing, which is the right answer, so "data" for an alert means
//     "its inputs have data and Prometheus evaluates it"; that it fires
//     when it should is what the promtool unit tests prove;
//   - every rule's health is "ok" in /api/v1/rules and the availability
//     alerts are not firing (the live run answers no 5xx);
//   - every metric name a query selects is one flagserver or flagstorm
//     exported in this run (read from their /metrics and the Pushgateway's),
//     or a series our recording rules define.
func TestProof(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Redis, PostgreSQL, flagserver, a Pushgateway and Prometheus and runs flagstorm for ~20 s")
	}
	for _, bin := range []string{"prometheus", "prometheus-pushgateway"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not found on PATH: install Debian's prometheus and prometheus-pushgateway packages to run the dashboards' proof", bin)
		}
	}
	began := time.Now()
	ctx := t.Context()
	flagserverBin, flagstormBin := testenv.BuildFlagserver(t), testenv.BuildFlagstorm(t)
	t.Logf("built flagserver and flagstorm in %s", time.Since(began).Round(time.Millisecond))

	redis := testenv.Redis(t)
	const token = "proof-token"
	fsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	startProcess(t, "flagserver", []string{
		"LISTEN_ADDR=" + fsAddr, "DATABASE_URL=" + testenv.PostgresURL(t), "REDIS_URL=" + redis.URL(),
		"CACHE_PROFILE=hardened", "ADMIN_TOKEN=" + token, "SEED_FLAGS=20", "LOG_LEVEL=warn",
	}, flagserverBin, "serve")
	waitHTTP(t, "http://"+fsAddr+"/readyz")
	pgwAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	startProcess(t, "pushgateway", nil, "prometheus-pushgateway", "--web.listen-address="+pgwAddr, "--persistence.file=")
	waitHTTP(t, "http://"+pgwAddr+"/-/ready")
	stormAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))

	ruleFiles, err := RuleFiles()
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range ruleFiles {
		if ruleFiles[i], err = filepath.Abs(filepath.FromSlash(f)); err != nil {
			t.Fatal(err)
		}
	}
	prom, err := promproc.Start(ctx, promproc.Config{
		Targets: []promproc.Target{
			{Job: "flagserver", Addr: fsAddr},
			{Job: "flagstorm", Addr: stormAddr},
			{Job: "pushgateway", Addr: pgwAddr},
		},
		ScrapeInterval: time.Second,
		RuleFiles:      ruleFiles,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := prom.Stop(); err != nil {
			t.Error(err)
		}
	})
	// Load starts once Prometheus scrapes (its first scrape comes ~6 s
	// after start), so that every phase is scraped.
	testenv.PollEvery(t, promPoll, 30*time.Second, "flagserver scraped", func() error {
		v, err := prom.Query(ctx, `up{job="flagserver"}`)
		if err != nil || len(v) != 1 || v[0].Value != 1 {
			return fmt.Errorf("up{job=\"flagserver\"} = %v (%v)", v, err)
		}
		return nil
	})
	t.Logf("Prometheus scraping %s after start", time.Since(began).Round(time.Millisecond))

	pgwURL := "http://" + pgwAddr
	live := startProcess(t, "flagstorm-live", nil, flagstormBin, "run", filepath.Join("testdata", "proof-live.yaml"),
		"--target-url", "http://"+fsAddr, "--admin-token", token, "--metrics-addr", stormAddr, "--push-gateway", pgwURL, "--quiet")
	faulted := startProcess(t, "flagstorm-faults", nil, flagstormBin, "run", filepath.Join("testdata", "proof-faults.yaml"),
		"--flagserver-bin", flagserverBin, "--database-url", testenv.PostgresURL(t), "--push-gateway", pgwURL, "--quiet")
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := prom.WaitScraped(wctx); err != nil {
		t.Fatalf("Prometheus did not scrape every target: %v (log %s)", err, prom.LogPath())
	}
	exported := map[string]bool{}
	addNames(t, exported, "http://"+stormAddr+"/metrics", "")

	if code := live.wait(t, 90*time.Second); code != 0 {
		t.Fatalf("flagstorm run %s exited %d, want 0:\n%s", "proof-live.yaml", code, live.output())
	}
	// The faulted run's stale_reads threshold fails (exit 1): that is the
	// point of running it; anything else is a broken run.
	if code := faulted.wait(t, 90*time.Second); code != 0 && code != 1 {
		t.Fatalf("flagstorm run %s exited %d, want 0 or 1:\n%s", "proof-faults.yaml", code, faulted.output())
	}
	t.Logf("runs done %s after start", time.Since(began).Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("flagstorm run proof-live.yaml:\n%s", live.output())
			t.Logf("flagstorm run proof-faults.yaml:\n%s", faulted.output())
		}
	})
	addNames(t, exported, "http://"+fsAddr+"/metrics", "")
	// Only flagstorm pushes to this Pushgateway: its flagstorm_* names are
	// what flagstorm's code exported (the local run's included).
	addNames(t, exported, pgwURL+"/metrics", "flagstorm_")

	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	recorded, err := Recorded()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, q := range qs {
		for _, n := range MetricNames(q.Expr) {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)

	// Every metric name is ours, exported in this run.
	for _, n := range names {
		if !exported[n] && !slices.Contains(recorded, n) {
			t.Errorf("%q is selected by a query but exported by neither flagserver nor flagstorm in this run, nor recorded by our rules", n)
		}
	}

	// The pushed series and the rules' outputs arrive within a scrape and
	// an evaluation; poll until every check passes or the deadline comes.
	checked := 0
	testenv.PollEvery(t, promPoll, 30*time.Second, "every query check passes", func() error {
		var failed []string
		failed, checked = checkQueries(ctx, prom, qs, names)
		if len(failed) > 0 {
			return fmt.Errorf("%d of %d checks fail:\n%s", len(failed), checked, strings.Join(failed, "\n"))
		}
		return nil
	})

	// flagstorm's series name the scenario file with "spec" (both runs',
	// live and pushed); none carries "scenario", which in k6 and in our
	// thresholds is a scenario inside a file.
	testenv.PollEvery(t, promPoll, 10*time.Second, "flagstorm series labelled spec", func() error {
		return specLabels(ctx, prom, "dashboards-proof", "dashboards-proof-faults")
	})

	testenv.PollEvery(t, promPoll, 10*time.Second, "every rule healthy", func() error { return rulesHealthy(ctx, prom.URL()) })
	firing, err := prom.Query(ctx, `ALERTS{alertname=~"FlagserverErrorBudget.*"}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(firing) > 0 {
		t.Errorf("availability alerts pending or firing after a run without 5xx: %v", firing)
	}
	all, err := prom.Query(ctx, `ALERTS`)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range all {
		t.Logf("alert %s %s %v", a.Labels["alertname"], a.Labels["alertstate"], a.Labels)
	}
	t.Logf("%d checks (%d queries, %d metric names) passed; proof took %s", checked, len(qs), len(names), time.Since(began).Round(time.Millisecond))
}

// checkQueries runs every check once and returns the failures.
func checkQueries(ctx context.Context, prom *promproc.Server, qs []Query, names []string) (failures []string, checked int) {
	run := func(what, q string, needData bool, labels ...string) {
		checked++
		v, err := prom.Query(ctx, q)
		switch {
		case err != nil:
			failures = append(failures, fmt.Sprintf("%s: %v", what, err))
		case !needData:
		case len(v) == 0:
			failures = append(failures, fmt.Sprintf("%s: no data for %s", what, q))
		case !slices.ContainsFunc(v, func(s promproc.Sample) bool { return !math.IsNaN(s.Value) && !math.IsInf(s.Value, 0) }):
			failures = append(failures, fmt.Sprintf("%s: only NaN or Inf (%d series) for %s", what, len(v), q))
		default:
			// What the legend or variable shows must be in the answer:
			// a label the query aggregated away leaves it blank.
			for _, l := range labels {
				if !slices.ContainsFunc(v, func(s promproc.Sample) bool { return s.Labels[l] != "" }) {
					failures = append(failures, fmt.Sprintf("%s: no series of %s has the label %q it shows", what, q, l))
				}
			}
		}
	}
	for _, q := range qs {
		expr := Expand(q.Expr, window)
		switch q.Kind {
		case Alerting:
			run(q.String()+" (evaluates)", expr, false)
		case Recording:
			run(q.String()+" (expression)", expr, true)
			run(q.String()+" (recorded series)", q.Name, true)
		default:
			run(q.String(), expr, true, q.Labels...)
		}
	}
	for _, n := range names {
		run("metric "+n, n, true)
	}
	return failures, checked
}

// specLabels checks the label that names a run's scenario file: every
// flagstorm_* series has "spec", none has "scenario", and flagstorm_run_info
// has one series for each of the specs.
func specLabels(ctx context.Context, prom *promproc.Server, specs ...string) error {
	var errs []error
	for q, what := range map[string]string{
		`{__name__=~"flagstorm_.+",spec=""}`:      "without a spec label",
		`{__name__=~"flagstorm_.+",scenario!=""}`: "with a scenario label",
	} {
		v, err := prom.Query(ctx, q)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", q, err))
		case len(v) > 0:
			errs = append(errs, fmt.Errorf("%d flagstorm series %s, such as %v", len(v), what, v[0].Labels))
		}
	}
	v, err := prom.Query(ctx, `count by (spec) (flagstorm_run_info)`)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	var got []string
	for _, s := range v {
		got = append(got, s.Labels["spec"])
	}
	slices.Sort(got)
	if want := slices.Sorted(slices.Values(specs)); !slices.Equal(got, want) {
		errs = append(errs, fmt.Errorf("flagstorm_run_info specs %q, want %q", got, want))
	}
	return errors.Join(errs...)
}

// rulesHealthy checks /api/v1/rules: every rule evaluated, none in error.
func rulesHealthy(ctx context.Context, base string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/rules", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Groups []struct {
				File  string `json:"file"`
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return err
	}
	n := 0
	var errs []error
	for _, g := range body.Data.Groups {
		for _, r := range g.Rules {
			n++
			if r.Health != "ok" {
				errs = append(errs, fmt.Errorf("%s: rule %s health %q %s", g.File, r.Name, r.Health, r.LastError))
			}
		}
	}
	if n == 0 {
		errs = append(errs, errors.New("Prometheus has loaded no rules"))
	}
	return errors.Join(errs...)
}

// addNames reads a /metrics page and adds the metric names of its samples
// (histograms as _bucket, _sum, _count) that start with prefix.
func addNames(t *testing.T, names map[string]bool, url, prefix string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, _, _ := strings.Cut(line, " ")
		name, _, _ = strings.Cut(name, "{")
		if strings.HasPrefix(name, prefix) {
			names[name] = true
			n++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	if n == 0 {
		t.Fatalf("%s exports no %s* sample", url, prefix)
	}
}

// process is a child process with its output in a file. t.Cleanup
// interrupts it (SIGINT to its process group: flagstorm then removes its
// faults and stops its stack), and kills the group if it is still there
// 20 s later.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startProcess(t *testing.T, name string, env []string, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: name, log: filepath.Join(t.TempDir(), name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *process) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s still running after %s:\n%s", p.name, timeout, p.output())
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *process) output() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// waitHTTP polls url until it answers 200.
func waitHTTP(t *testing.T, url string) {
	t.Helper()
	testenv.Poll(t, 30*time.Second, url, func() error {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(strconv.Itoa(resp.StatusCode))
		}
		return nil
	})
}
