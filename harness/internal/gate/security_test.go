package gate

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/flagstorm/flagstorm/internal/testenv"
)

// The tests in this file pin what a client of `gate serve` cannot do: run
// a template, change what is queried, make the gate answer or log without
// bound, get past the token, run more evaluations than the limit, or hold
// a shutdown.

// cannedQuerier answers every query from testenv's healthy values: a
// narrow fake of our own Querier interface, in-process.
type cannedQuerier struct{}

func (cannedQuerier) Query(_ context.Context, q string, at time.Time) (model.Vector, []string, error) {
	v := testenv.HealthyGateValues()[testenv.GateQueryKind(q)]
	return model.Vector{{Value: model.SampleValue(v), Timestamp: model.TimeFromUnixNano(at.UnixNano())}}, nil, nil
}

// blockingQuerier blocks every query until its context ends or release
// is closed, telling entered about each query it receives.
type blockingQuerier struct {
	entered chan struct{}
	release chan struct{}
}

func newBlockingQuerier() *blockingQuerier {
	return &blockingQuerier{entered: make(chan struct{}, 1024), release: make(chan struct{})}
}

func (b *blockingQuerier) Query(ctx context.Context, q string, at time.Time) (model.Vector, []string, error) {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	select {
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case <-b.release:
		return cannedQuerier{}.Query(ctx, q, at)
	}
}

// syncLog is a log destination the handlers write to concurrently.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newSecurityServer serves a gate over q with the Flagger templates of
// docs/examples/gate.yaml, logging JSON into the returned log.
func newSecurityServer(t *testing.T, q Querier, sc ServerConfig, cfg Config) (*Server, *httptest.Server, *syncLog) {
	t.Helper()
	cfg.Flagger = FlaggerConfig{Canary: `namespace="{{.Namespace}}",app="{{.Name}}"`, Baseline: `namespace="{{ .Namespace }}",app="{{.Name}}-primary"`}
	g, err := New(q, cfg)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncLog{}
	srv, err := NewServer(g, sc, slog.New(slog.NewJSONHandler(logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return srv, hs, logs
}

func postWith(t *testing.T, url, body string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

// longestLine is the length of the longest line of a log.
func longestLine(s string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<30)
	for sc.Scan() {
		n = max(n, len(sc.Text()))
	}
	return n
}

// jsonString encodes s as a JSON string.
func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

// TestGateRequestOverridesAreLimitsOnly: a request may override numeric
// limits only. A template (the 134-byte request that got a
// 60 MB answer), windows, routes or the timeout in a request's config are
// a 400 naming the field, with a short body and a short log line; no
// query runs and nothing is executed.
func TestGateRequestOverridesAreLimitsOnly(t *testing.T) {
	bomb := `{{range 100000}}{{.Name}}{{end}}`
	huge := strings.Repeat("x", 60<<10)
	const sel = `"canary":"a=\"b\"","baseline":"a=\"c\""`
	argo := func(config string) string { return `{` + sel + `,"config":` + config + `}` }
	flagger := func(config string) string {
		return flaggerPayload(`{"canary":"a=\"b\"","baseline":"a=\"c\"","config":` + jsonString(config) + `}`)
	}
	q := newBlockingQuerier() // a bad request must not reach it
	_, hs, logs := newSecurityServer(t, q, ServerConfig{}, Default())
	for _, tc := range []struct {
		name, path, body, field string
		status                  int
	}{
		// A field's name is cut short like a value: the table's field is its start.
		{"argo template", "/v1/evaluate", argo(`{"flagger":{"canary":` + jsonString(bomb) + `}}`), "config.flagger", 400},
		{"argo windows", "/v1/evaluate", argo(`{"shortWindow":"30s","longWindow":"2m"}`), "config.longWindow", 400},
		{"argo routes", "/v1/evaluate", argo(`{"routes":` + jsonString(huge) + `}`), "config.routes", 400},
		{"argo timeout", "/v1/evaluate", argo(`{"timeout":"1m"}`), "config.timeout", 400},
		{"argo quantile", "/v1/evaluate", argo(`{"latency":{"quantile":0.5}}`), "config.latency.quantile", 400},
		{"argo enabled", "/v1/evaluate", argo(`{"errorRate":{"enabled":false}}`), "config.errorRate.enabled", 400},
		{"argo huge key", "/v1/evaluate", argo(`{` + jsonString(huge) + `:1}`), "config.xxxxxxxxxx", 400},
		{"argo huge value", "/v1/evaluate", argo(`{"latency":{"max":` + jsonString(huge) + `}}`), "config.latency.max", 400},
		{"argo huge selector", "/v1/evaluate", `{"canary":` + jsonString(`a="`+huge+`"`) + `,"baseline":"a=\"c\""}`, "canary", 400},
		{"argo huge unknown field", "/v1/evaluate", `{` + sel + `,` + jsonString(huge) + `:1}`, "xxxxxxxxxx", 400},
		{"flagger template", "/v1/flagger/rollout", flagger(`flagger: {baseline: '` + bomb + `'}`), "metadata.config.flagger", 400},
		{"flagger windows", "/v1/flagger/rollout", flagger(`longWindow: 10m`), "metadata.config.longWindow", 400},
		{"flagger huge config", "/v1/flagger/rollout", flagger(`{1: ` + huge + `}`), "metadata.config", 400},
		{"flagger huge key", "/v1/flagger/rollout", flaggerPayload(`{` + jsonString(huge) + `:"x"}`), "metadata.xxxxxxxxxx", 400},
		{"flagger huge name", "/v1/flagger/rollout", `{"name":` + jsonString(huge) + `,"namespace":"test"}`, "name", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, b := postWith(t, hs.URL+tc.path, tc.body, nil)
			if res.StatusCode != tc.status || len(b) >= 1<<10 {
				t.Fatalf("%d, %d-byte body %.300q; want %d with a body under 1 KiB", res.StatusCode, len(b), b, tc.status)
			}
			if strings.HasPrefix(tc.path, "/v1/evaluate") {
				var e apiError
				if err := json.Unmarshal([]byte(b), &e); err != nil || !strings.HasPrefix(e.Field, tc.field) || len(e.Field) > 64 {
					t.Errorf("body %q: %v; want field %q (cut to 64 bytes)", b, err, tc.field)
				}
			} else if !strings.Contains(b, tc.field) {
				t.Errorf("body %q does not name %q", b, tc.field)
			}
		})
	}
	if n := longestLine(logs.String()); n >= 2<<10 {
		t.Errorf("a log line of %d bytes; want every line under 2 KiB", n)
	}
	select {
	case <-q.entered:
		t.Error("a bad request reached Prometheus")
	default:
	}
}

// TestGateRequestNumericOverride: numeric limits still override, from
// Argo's config and Flagger's metadata.config.
func TestGateRequestNumericOverride(t *testing.T) {
	_, hs, _ := newSecurityServer(t, cannedQuerier{}, ServerConfig{}, Default())
	// The healthy canary: 1000 requests, 4 ms p95, no errors.
	res, b := postWith(t, hs.URL+"/v1/evaluate",
		`{"canary":"a=\"b\"","baseline":"a=\"c\"","config":{"minSamples":500,"latency":{"max":"1ms","critical":"0s"},"errorRate":{"max":0.5,"critical":0.9}}}`, nil)
	var r Result
	if err := json.Unmarshal([]byte(b), &r); res.StatusCode != 200 || err != nil || r.MinSamples != 500 || r.Verdict != NoGo {
		t.Errorf("argo: %d %v %.300s; want 200, minSamples 500, no-go (p95 over 1ms)", res.StatusCode, err, b)
	}
	res, b = postWith(t, hs.URL+"/v1/flagger/rollout",
		flaggerPayload(`{"canary":"a=\"b\"","baseline":"a=\"c\"","config":"latency: {max: 1ms, critical: 0s}"}`), nil)
	if res.StatusCode != http.StatusPreconditionFailed || !strings.Contains(b, "latency_p95") {
		t.Errorf("flagger: %d %q; want 412 naming latency_p95", res.StatusCode, b)
	}
	// The operator's templates fill Flagger's selectors, by substitution.
	res, b = postWith(t, hs.URL+"/v1/flagger/rollout", `{"name":"podinfo","namespace":"test"}`, nil)
	if res.StatusCode != 200 {
		t.Errorf("flagger with the config's templates: %d %q; want 200", res.StatusCode, b)
	}
}

func TestGateTemplatesAreSubstitutionOnly(t *testing.T) {
	for _, tc := range []struct{ tmpl, want string }{
		{`namespace="{{.Namespace}}",app="{{.Name}}"`, `namespace="test",app="podinfo"`},
		{`{app="{{ .Name }}-primary",ns="{{.Namespace}}"}`, `app="podinfo-primary",ns="test"`},
	} {
		sel, err := renderTemplate(tc.tmpl, "podinfo", "test")
		if err != nil || sel.String() != tc.want {
			t.Errorf("renderTemplate(%q) = %q, %v; want %q", tc.tmpl, sel.String(), err, tc.want)
		}
	}
	for _, tmpl := range []string{
		`app="{{range 100000000}}x{{end}}"`, `app="{{printf "%099999999d" 1}}"`, `app="{{.Name}`, `app="{{.Nme}}"`,
		`app="` + strings.Repeat("a", MaxTemplateBytes) + `"`,
	} {
		sel, err := renderTemplate(tmpl, "podinfo", "test")
		if err == nil || len(err.Error()) > 300 {
			t.Errorf("renderTemplate(%.60q) = %q, %.400v; want a short error", tmpl, sel.String(), err)
		}
	}
	if _, err := ParseConfig([]byte(`longWindow: 2h`), Default()); err == nil || !strings.Contains(err.Error(), "longWindow") {
		t.Errorf("a 2h window: %v; want an error naming longWindow (at most %v)", err, MaxWindow)
	}
}

// TestGateToken: with a token configured, /v1/ needs it (401 without or
// with a wrong one); /healthz does not.
func TestGateToken(t *testing.T) {
	const token = "s3cr3t-t0ken-0123456789"
	_, hs, logs := newSecurityServer(t, cannedQuerier{}, ServerConfig{Token: token}, Default())
	const argo = `{"canary":"a=\"b\"","baseline":"a=\"c\""}`
	flagger := flaggerPayload(`{"canary":"a=\"b\"","baseline":"a=\"c\""}`)
	for _, tc := range []struct {
		name   string
		header string
		status int
	}{
		{"none", "", 401},
		{"wrong", "Bearer s3cr3t-t0ken-0123456780", 401},
		{"basic", "Basic " + token, 401},
		{"prefix", "Bearer " + token[:len(token)-1], 401},
		{"right", "Bearer " + token, 200},
		{"lower-case scheme", "bearer " + token, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.header != "" {
				h.Set("Authorization", tc.header)
			}
			for path, body := range map[string]string{"/v1/evaluate": argo, "/v1/flagger/rollout": flagger, "/v1/flagger/rollback": flagger} {
				want := tc.status
				if path == "/v1/flagger/rollback" && want == 200 {
					want = http.StatusConflict // go: no rollback
				}
				res, b := postWith(t, hs.URL+path, body, h)
				if res.StatusCode != want {
					t.Errorf("%s: %d %.200q; want %d", path, res.StatusCode, b, want)
				}
				if want == 401 && (res.Header.Get("WWW-Authenticate") == "" || strings.Contains(b, token)) {
					t.Errorf("%s: 401 without WWW-Authenticate, or echoing the token: %q", path, b)
				}
			}
		})
	}
	res, err := http.Get(hs.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("/healthz with a token configured: %d; want 200", res.StatusCode)
	}
	if strings.Contains(logs.String(), token) {
		t.Error("the log holds the token")
	}
	g, err := New(cannedQuerier{}, Default())
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"short", "has spaces in it, 0123456789", "tab\tinside-0123456789"} {
		if _, err := NewServer(g, ServerConfig{Token: bad}, nil, nil); err == nil || strings.Contains(err.Error(), bad) {
			t.Errorf("NewServer with token %q: %v; want an error not echoing it", bad, err)
		}
	}
}

// TestGateConcurrencyLimit: with MaxEvaluations in flight, one more is
// refused at once with Retry-After: Argo 503 BUSY, Flagger 424 (never
// 5xx, and never a rollback); once one finishes, the next is served.
func TestGateConcurrencyLimit(t *testing.T) {
	q := newBlockingQuerier()
	_, hs, _ := newSecurityServer(t, q, ServerConfig{MaxEvaluations: 1}, Default())
	const argo = `{"canary":"a=\"b\"","baseline":"a=\"c\""}`
	first := make(chan int, 1)
	go func() {
		// t.Fatal must not run off the test's goroutine: report the status.
		res, err := http.Post(hs.URL+"/v1/evaluate", "application/json", strings.NewReader(argo))
		if err != nil {
			first <- 0
			return
		}
		res.Body.Close()
		first <- res.StatusCode
	}()
	select {
	case <-q.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the first evaluation never queried")
	}
	res, b := postWith(t, hs.URL+"/v1/evaluate", argo, nil)
	var e apiError
	if err := json.Unmarshal([]byte(b), &e); res.StatusCode != http.StatusServiceUnavailable || err != nil || e.Code != "BUSY" || res.Header.Get("Retry-After") == "" {
		t.Errorf("argo over the limit: %d %q Retry-After %q; want 503 BUSY with Retry-After", res.StatusCode, b, res.Header.Get("Retry-After"))
	}
	for _, hook := range []Hook{HookRollout, HookConfirmPromotion, HookRollback} {
		res, b := postWith(t, hs.URL+"/v1/flagger/"+string(hook), flaggerPayload(`{"canary":"a=\"b\"","baseline":"a=\"c\""}`), nil)
		if res.StatusCode != http.StatusFailedDependency || !strings.Contains(b, "busy") || res.Header.Get("Retry-After") == "" {
			t.Errorf("flagger %s over the limit: %d %q; want 424 busy with Retry-After", hook, res.StatusCode, b)
		}
	}
	// Notifications evaluate nothing: never busy.
	if res, b := postWith(t, hs.URL+"/v1/flagger/event", flaggerPayload(`{}`), nil); res.StatusCode != 200 {
		t.Errorf("event while busy: %d %q; want 200", res.StatusCode, b)
	}
	close(q.release)
	if code := <-first; code != 200 {
		t.Fatalf("the first evaluation: %d; want 200", code)
	}
	if res, b := postWith(t, hs.URL+"/v1/evaluate", argo, nil); res.StatusCode != 200 {
		t.Errorf("after the first finished: %d %.200q; want 200", res.StatusCode, b)
	}
}

// TestGateShutdownWithEvaluationInFlight: an evaluation that would run
// for its whole timeout (1m here; Prometheus never answers) does not hold
// the shutdown: Serve returns within a few seconds and the client gets
// an answer (503 CANCELED), not a dropped connection.
func TestGateShutdownWithEvaluationInFlight(t *testing.T) {
	q := newBlockingQuerier()
	cfg := Default()
	cfg.Timeout = MaxTimeout
	g, err := New(q, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(g, ServerConfig{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()

	type answer struct {
		status int
		body   string
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		res, err := http.Post("http://"+ln.Addr().String()+"/v1/evaluate", "application/json",
			strings.NewReader(`{"canary":"a=\"b\"","baseline":"a=\"c\""}`))
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		answered <- answer{status: res.StatusCode, body: string(b), err: err}
	}()
	select {
	case <-q.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the evaluation never queried")
	}
	start := time.Now()
	cancel() // SIGTERM
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(30 * time.Second): // the bound is ~5 s; before, it was the evaluation's 1m timeout
		t.Fatal("Serve did not return within 30 s of the signal")
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("shutdown took %v; want a few seconds", d)
	}
	a := <-answered
	if a.err != nil || a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, "CANCELED") {
		t.Errorf("the client in flight got %d %q %v; want 503 CANCELED", a.status, a.body, a.err)
	}
	if res, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		res.Body.Close()
		t.Error("the server still answers after Serve returned")
	}
}
