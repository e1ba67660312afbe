package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/promproc"
	"github.com/flagstorm/flagstorm/internal/testenv"
)

// TestGateAgainstRealPrometheus is the acceptance test: a real
// Prometheus (1 s scrapes) scrapes two real flagserver processes, labelled
// track="canary" and track="baseline", each with its own PostgreSQL
// database and its own Toxiproxy proxy in front of one real redis-server,
// both in the same (hardened) configuration. In order:
//
//  1. a handful of requests: inconclusive (too little traffic), never go;
//  2. the same light load on both: go;
//  3. the canary's Redis blackholed: no-go naming fallback_rate and
//     cache_error_rate, critical (so Flagger's rollback hook says 200);
//  4. Prometheus stopped: could not evaluate (ErrUnevaluated, HTTP 503,
//     Flagger 424).
//
// Every verdict comes from gate.Evaluate over client_golang against the
// real Prometheus, and the HTTP answers from the real server in front of
// it.
func TestGateAgainstRealPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus, two flagservers, Redis and PostgreSQL (~30 s)")
	}
	start := time.Now()
	ctx := t.Context()
	bin := testenv.BuildFlagserver(t)
	redis := testenv.Redis(t)
	baseProxy := testenv.NewProxy(t, "redis-baseline", redis.Addr())
	canaryProxy := testenv.NewProxy(t, "redis-canary", redis.Addr())
	var base, canary *flagserver
	var wg sync.WaitGroup
	dbBase, dbCanary := testenv.PostgresURL(t), testenv.PostgresURL(t)
	wg.Go(func() { base = startFlagserver(t, bin, "baseline", dbBase, baseProxy.Addr()) })
	wg.Go(func() { canary = startFlagserver(t, bin, "canary", dbCanary, canaryProxy.Addr()) })
	wg.Wait()
	if base == nil || canary == nil {
		t.FailNow()
	}

	prom, err := promproc.Start(ctx, promproc.Config{
		Targets: []promproc.Target{
			{Job: "flagserver", Addr: base.addr, Labels: map[string]string{"track": "baseline"}},
			{Job: "flagserver", Addr: canary.addr, Labels: map[string]string{"track": "canary"}},
		},
		ScrapeInterval: time.Second,
	})
	if errors.Is(err, promproc.ErrNotFound) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prom.Stop() })
	t.Logf("stack ready in %v", time.Since(start).Round(time.Millisecond))

	cfg := Default()
	cfg.ShortWindow, cfg.LongWindow = 10*time.Second, 20*time.Second
	cfg.MinSamples = 50
	cfg.Timeout = 5 * time.Second
	// Two cores shared with the other test packages: a few ms of noise on
	// the p95 must not read as a slower canary.
	cfg.Latency.MinDelta = 20 * time.Millisecond
	q, err := NewQuerier(prom.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(q, cfg)
	if err != nil {
		t.Fatal(err)
	}
	csel, bsel := mustSelector(t, `{job="flagserver",track="canary"}`), mustSelector(t, `track="baseline"`)
	req := Request{Canary: csel, Baseline: bsel}
	hs, _ := serveGate(t, g)

	scrapeCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := prom.WaitScraped(scrapeCtx); err != nil {
		t.Fatalf("first scrape: %v (log %s)", err, prom.LogPath())
	}
	t.Logf("first scrape after %v", time.Since(start).Round(time.Millisecond))

	// 1. Too little traffic: 10 requests each, seen by Prometheus.
	client := &http.Client{Timeout: 5 * time.Second}
	for _, fs := range []*flagserver{base, canary} {
		for i := range 10 {
			get(t, client, fs.url()+fmt.Sprintf("/api/config/flags/flag-%03d?environment=production", i))
		}
	}
	testenv.PollEvery(t, 100*time.Millisecond, 20*time.Second, "Prometheus sees the 10 requests of each side", func() error {
		v, err := prom.Query(ctx, `sum by (track) (flagserver_http_requests_total{route=~"[A-Z]+ /api/.+"}) >= 10`)
		if err == nil && len(v) != 2 {
			err = fmt.Errorf("%d sides: %v", len(v), v)
		}
		return err
	})
	res, err := g.Evaluate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	logResult(t, "too little traffic", res)
	if res.Verdict != Inconclusive {
		t.Fatalf("verdict %v (%s); want inconclusive", res.Verdict, res.Reason)
	}
	for _, c := range res.Checks {
		if c.Status != StatusInconclusive || !strings.Contains(c.Reason, "too little traffic") {
			t.Errorf("%s: %v %q; want inconclusive for too little traffic", c.ID(), c.Status, c.Reason)
		}
		if c.Canary.Samples <= 0 || c.Canary.Samples >= float64(cfg.MinSamples) {
			t.Errorf("%s: canary samples %v; want some, fewer than %d", c.ID(), c.Canary.Samples, cfg.MinSamples)
		}
	}
	flaggerCall(t, hs.URL, HookRollout, http.StatusPreconditionFailed, "inconclusive")
	flaggerCall(t, hs.URL, HookConfirmPromotion, http.StatusLocked, "inconclusive")

	// 2. The same light load on both sides: go.
	loadCtx, stopLoad := context.WithCancel(ctx)
	var lwg sync.WaitGroup
	var sent [2]int
	for i, fs := range []*flagserver{base, canary} {
		lwg.Go(func() { sent[i] = drive(loadCtx, client, fs.url(), 40) })
	}
	t.Cleanup(func() { stopLoad(); lwg.Wait() })
	phase := time.Now()
	res = pollResult(t, g, req, 40*time.Second, "go", func(r *Result) bool { return r.Verdict == Go }, NoGo)
	t.Logf("go after %v of load", time.Since(phase).Round(time.Millisecond))
	// And it stays go while the windows fill.
	for range 3 {
		res = pollResult(t, g, req, 5*time.Second, "go", func(r *Result) bool { return r.Verdict == Go }, NoGo)
	}
	logResult(t, "same load", res)
	for _, c := range res.Checks {
		if c.Status != StatusPass {
			t.Errorf("%s: %v: %s", c.ID(), c.Status, c.Reason)
		}
		if c.Canary.Samples < float64(cfg.MinSamples) || c.Baseline.Samples < float64(cfg.MinSamples) {
			t.Errorf("%s: samples %v/%v; want >= %d", c.ID(), c.Canary.Samples, c.Baseline.Samples, cfg.MinSamples)
		}
	}
	argo := argoCall(t, hs.URL, http.StatusOK)
	if argo.Summary.Verdict != Go || !argo.Summary.Go {
		t.Errorf("argo summary %+v; want go", argo.Summary)
	}
	flaggerCall(t, hs.URL, HookRollout, http.StatusOK, "go")
	flaggerCall(t, hs.URL, HookConfirmTrafficIncrease, http.StatusOK, "go")
	flaggerCall(t, hs.URL, HookConfirmRollout, http.StatusOK, "go") // the baseline's own health
	flaggerCall(t, hs.URL, HookRollback, http.StatusConflict, "no rollback")

	// 3. The canary's Redis blackholed: reads fall back to PostgreSQL.
	canaryProxy.Blackhole(t)
	phase = time.Now()
	short := "[" + promDuration(cfg.ShortWindow) + "]"
	res = pollResult(t, g, req, 40*time.Second, "critical no-go on fallback_rate"+short, func(r *Result) bool {
		for _, c := range r.Checks {
			if c.ID() == "fallback_rate"+short {
				return r.Verdict == NoGo && c.Critical
			}
		}
		return false
	}, -1)
	logResult(t, "canary redis blackholed", res)
	t.Logf("no-go after %v", time.Since(phase).Round(time.Millisecond))
	if !res.Critical {
		t.Errorf("no-go not critical: %s", res.Reason)
	}
	for _, want := range []string{"fallback_rate" + short, "cache_error_rate" + short} {
		if !slices.Contains(res.Summary.Failed, want) {
			t.Errorf("failed checks %v; want %s among them", res.Summary.Failed, want)
		}
	}
	if !strings.Contains(res.Reason, "fallback_rate") && !strings.Contains(res.Reason, "cache_error_rate") {
		t.Errorf("reason %q names neither failed check", res.Reason)
	}
	if res.Verdict != NoGo {
		t.Errorf("verdict %v; want no-go", res.Verdict)
	}
	for _, c := range res.Checks {
		// The baseline shares the redis-server (not the proxy): it may
		// see a rare 20 ms budget overrun on a loaded machine, no more.
		if c.Name == "fallback_rate" && (c.Baseline.Value == nil || *c.Baseline.Value > cfg.FallbackRate.Max) {
			t.Errorf("%s: baseline fallback rate %v; want within the limit (only the canary's Redis is broken)", c.ID(), c.Baseline.Value)
		}
	}
	argo = argoCall(t, hs.URL, http.StatusOK)
	if argo.Summary.Verdict != NoGo || argo.Summary.Go || !argo.Summary.NoGo {
		t.Errorf("argo summary %+v; want no-go", argo.Summary)
	}
	flaggerCall(t, hs.URL, HookRollout, http.StatusPreconditionFailed, "no-go (critical)")
	flaggerCall(t, hs.URL, HookConfirmPromotion, http.StatusLocked, "hold")
	flaggerCall(t, hs.URL, HookRollback, http.StatusOK, "rollback")
	stopLoad()
	lwg.Wait()
	t.Logf("requests sent: baseline %d, canary %d", sent[0], sent[1])

	// The verdicts were counted by source and verdict.
	mf := scrapeMetrics(t, hs.URL)
	for _, want := range []string{`flagstorm_gate_verdicts_total{source="argo",verdict="go"} 1`, `flagstorm_gate_verdicts_total{source="argo",verdict="no-go"} 1`,
		`flagstorm_gate_verdicts_total{source="flagger",verdict="inconclusive"} 2`} {
		if !strings.Contains(mf, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// 4. Prometheus stopped: could not evaluate.
	if err := prom.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Evaluate(ctx, req); !errors.Is(err, ErrUnevaluated) {
		t.Errorf("Evaluate with Prometheus stopped: %v; want ErrUnevaluated", err)
	}
	argoCall(t, hs.URL, http.StatusServiceUnavailable)
	flaggerCall(t, hs.URL, HookRollout, http.StatusFailedDependency, "could not evaluate")
	flaggerCall(t, hs.URL, HookRollback, http.StatusFailedDependency, "could not evaluate")
	if mf := scrapeMetrics(t, hs.URL); !strings.Contains(mf, `flagstorm_gate_verdicts_total{source="argo",verdict="error"} 1`) {
		t.Errorf("/metrics does not count the unevaluated argo call")
	}
	t.Logf("whole test %v", time.Since(start).Round(time.Millisecond))
}

func mustSelector(t *testing.T, s string) Selector {
	t.Helper()
	sel, err := ParseSelector(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

func logResult(t *testing.T, what string, r *Result) {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s:\n%s", what, b.String())
}

// pollResult evaluates once a second until ok(result); a verdict equal to
// never fails the test at once.
func pollResult(t *testing.T, g *Gate, req Request, timeout time.Duration, want string, ok func(*Result) bool, never Verdict) *Result {
	t.Helper()
	var res *Result
	testenv.PollEvery(t, time.Second, timeout, "verdict "+want, func() error {
		var err error
		res, err = g.Evaluate(t.Context(), req)
		if err != nil {
			t.Fatalf("Evaluate: %v", err)
		}
		if ok(res) {
			return nil
		}
		if res.Verdict == never {
			logResult(t, "unexpected", res)
			t.Fatalf("verdict %v while waiting for %s: %s", res.Verdict, want, res.Reason)
		}
		var b bytes.Buffer
		_ = res.WriteTable(&b)
		return fmt.Errorf("last %v: %s\n%s", res.Verdict, res.Reason, b.String())
	})
	return res
}

func get(t *testing.T, c *http.Client, url string) {
	t.Helper()
	res, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, res.Status)
	}
}

// drive sends rps GETs a second (flag reads and lists, 20 seeded keys)
// until ctx ends, one at a time, and returns how many it sent.
func drive(ctx context.Context, c *http.Client, base string, rps int) int {
	tick := time.NewTicker(time.Second / time.Duration(rps))
	defer tick.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return n
		case <-tick.C:
		}
		path := fmt.Sprintf("/api/config/flags/flag-%03d?environment=production", n%20)
		if n%5 == 4 {
			path = "/api/config/flags?environment=staging"
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if res, err := c.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
		}
		n++
	}
}

func argoCall(t *testing.T, base string, wantStatus int) *Result {
	t.Helper()
	body := `{"canary": "{job=\"flagserver\",track=\"canary\"}", "baseline": "track=\"baseline\""}`
	res, err := http.Post(base+"/v1/evaluate", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != wantStatus {
		t.Fatalf("POST /v1/evaluate: %s %s; want %d", res.Status, b, wantStatus)
	}
	if wantStatus != http.StatusOK {
		return nil
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return &r
}

// flaggerCall posts Flagger's payload for hook, with the selectors in the
// webhook's metadata, and checks the status and that the one-line body
// contains want.
func flaggerCall(t *testing.T, base string, hook Hook, wantStatus int, want string) {
	t.Helper()
	payload := `{"name":"flagserver","namespace":"test","phase":"Progressing","checksum":"6d5c9f8b7",` +
		`"metadata":{"canary":"{job=\"flagserver\",track=\"canary\"}","baseline":"{track=\"baseline\"}"}}`
	res, err := http.Post(base+"/v1/flagger/"+string(hook), "application/json", strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	line := strings.TrimSuffix(string(b), "\n")
	if res.StatusCode != wantStatus || !strings.Contains(line, want) || strings.Contains(line, "\n") {
		t.Errorf("flagger %s: %d %q; want %d with one line containing %q", hook, res.StatusCode, line, wantStatus, want)
	}
}

func scrapeMetrics(t *testing.T, base string) string {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// flagserver is one flagserver process.
type flagserver struct {
	addr string
}

func (f *flagserver) url() string { return "http://" + f.addr }

// startFlagserver runs flagserver (hardened, no in-process cache, so every
// read asks Redis) on a free loopback port, waits until /readyz answers,
// and stops it in t.Cleanup. It reports failures with t.Error (it runs
// in a goroutine) and returns nil then.
func startFlagserver(t *testing.T, bin, name, dbURL, redisAddr string) *flagserver {
	dir := t.TempDir()
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Error(err)
		return nil
	}
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"LISTEN_ADDR=" + addr,
		"DATABASE_URL=" + dbURL,
		"REDIS_URL=redis://" + redisAddr + "/0",
		"CACHE_PROFILE=hardened",
		"MEMORY_CACHE_TTL=0",
		"SEED_FLAGS=20",
		"LOG_LEVEL=warn",
		"LOG_FORMAT=json",
	}
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Error(err)
		return nil
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			b, _ := os.ReadFile(logPath)
			t.Errorf("flagserver %s exited before it was ready:\n%s", name, b)
			return nil
		default:
		}
		if res, err := c.Get("http://" + addr + "/readyz"); err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return &flagserver{addr: addr}
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Errorf("flagserver %s not ready on %s within 30 s:\n%s", name, addr, b)
			return nil
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}
