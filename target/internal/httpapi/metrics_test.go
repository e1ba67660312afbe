package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flagstorm/flagstorm/target/internal/flags"
)

// stubService answers every read with a fixed flag.
type stubService struct{ body []byte }

func (s stubService) Get(context.Context, string, string) (flags.Result, error) {
	return flags.Result{Body: s.body, Source: flags.SourceRedis}, nil
}
func (s stubService) List(context.Context, string) (flags.Result, error) {
	return flags.Result{Body: s.body, Source: flags.SourceRedis}, nil
}
func (s stubService) Evaluate(_ context.Context, env, key, user string) (flags.Evaluation, flags.Source, error) {
	return flags.Evaluation{Key: key, Environment: env, UserID: user, Enabled: true, Reason: "rollout", Bucket: 3, Version: 1}, flags.SourceMemory, nil
}
func (s stubService) Update(context.Context, string, string, flags.Patch, int64) (flags.Flag, error) {
	return flags.Flag{}, flags.ErrNotFound
}
func (s stubService) Ready(context.Context) flags.Readiness { return flags.Readiness{Cache: "up"} }

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, err := New(stubService{body: []byte(`{}`)}, Config{Registerer: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []prometheus.Collector{h.m.requests, h.m.duration, h.m.inFlight} {
		problems, err := testutil.CollectAndLint(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("lint %s: %s", p.Metric, p.Text)
		}
	}

	do := func(method, target string) {
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest(method, target, nil))
	}
	for range 3 {
		do(http.MethodGet, "/api/config/flags/checkout?environment=prod")
	}
	do(http.MethodGet, "/api/config/flags/BAD?environment=prod")
	do(http.MethodGet, "/api/config/flags/b%61d/../x?environment=prod") // cleaned: redirect
	do(http.MethodDelete, "/api/config/flags/checkout")
	do("BREW", "/api/config/flags/checkout")
	do("FOO", "/no/such/path/abc123")
	do(http.MethodGet, "/no/such/path/def456")
	do(http.MethodPatch, "/api/config/flags/checkout?environment=prod")

	tests := []struct {
		route, method, code string
		want                float64
	}{
		{routeFlag, "GET", "200", 3},
		{routeFlag, "GET", "400", 1},
		{routeFlag, "DELETE", "405", 0}, // the mux answered: no pattern
		{routeUnmatched, "DELETE", "405", 1},
		{routeUnmatched, "OTHER", "405", 1},
		{routeUnmatched, "OTHER", "404", 1},
		{routeUnmatched, "GET", "404", 1},
		{routePatch, "PATCH", "401", 1},
		{routeList, "GET", "200", 0}, // pre-created
		{routeReady, "GET", "200", 0},
	}
	for _, tc := range tests {
		got := testutil.ToFloat64(h.m.requests.WithLabelValues(tc.route, tc.method, tc.code))
		if got != tc.want {
			t.Errorf("requests{route=%q,method=%q,code=%q} = %v, want %v", tc.route, tc.method, tc.code, got, tc.want)
		}
	}
	if n := testutil.ToFloat64(h.m.inFlight); n != 0 {
		t.Errorf("in flight = %v after all requests returned", n)
	}

	// No raw URL, key or invented method becomes a label value.
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{routeUnmatched: true, routeList: true, routeFlag: true, routeEvaluate: true,
		routePatch: true, routeHealth: true, routeReady: true, routeMetrics: true}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				v := l.GetValue()
				if l.GetName() == "route" && !known[v] {
					t.Errorf("%s has route label %q", mf.GetName(), v)
				}
				if strings.Contains(v, "abc123") || strings.Contains(v, "BREW") || strings.Contains(v, "checkout") {
					t.Errorf("%s has unbounded label value %q", mf.GetName(), v)
				}
			}
		}
	}
}

func TestRequestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	for _, withMetrics := range []bool{false, true} {
		cfg := Config{}
		if withMetrics {
			cfg.Registerer = prometheus.NewRegistry()
		}
		h, err := New(stubService{body: []byte(`{"key":"checkout"}`)}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, target := range []string{
			"/api/config/flags/checkout?environment=prod",
			"/api/config/flags?environment=prod",
			"/api/config/flags/checkout/evaluate?environment=prod&userId=user-42",
		} {
			req := httptest.NewRequest(http.MethodGet, target, nil)
			w := &discardWriter{h: http.Header{}}
			h.ServeHTTP(w, req) // warm the pools and the metric children
			// The ServeMux itself allocates the path-value slice of a
			// {key} pattern; the handler adds nothing on top.
			allowed := 0.0
			if strings.Contains(target, "/flags/") {
				allowed = 1
			}
			n := testing.AllocsPerRun(200, func() {
				clear(w.h)
				h.ServeHTTP(w, req)
			})
			if n > allowed {
				t.Errorf("metrics %v, GET %s: %v allocs per request, want <= %v", withMetrics, target, n, allowed)
			}
		}
	}
}

// discardWriter is the cheapest possible ResponseWriter, so that the
// benchmarks and allocation counts measure the handler alone.
type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(code int)        { d.status = code }
