package gate

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// maxAnswerBytes bounds any answer of the API: a result with ten checks,
// four queries each, over selectors of up to MaxSelectorBytes.
const maxAnswerBytes = 256 << 10

// FuzzServeHTTP posts random bodies to the Argo and Flagger endpoints
// (random hooks too) of a gate over an in-process canned Querier: no
// panic, no 5xx for a client's input (the Querier always answers), an
// answer of bounded size, and a 4xx error under 1 KiB.
func FuzzServeHTTP(f *testing.F) {
	for _, seed := range []struct {
		path, body string
	}{
		{"/v1/evaluate", `{"canary":"{track=\"canary\"}","baseline":"{track=\"baseline\"}"}`},
		{"/v1/evaluate", `{"canary":"a=\"b\"","baseline":"a=\"c\"","config":{"minSamples":5,"latency":{"max":"1ms"}}}`},
		{"/v1/evaluate", `{"canary":"a=\"b\"","baseline":"a=\"c\"","config":{"flagger":{"canary":"{{range 100000}}x{{end}}"}}}`},
		{"/v1/evaluate", `{"canary":"a=~\"(\"","baseline":"a=\"c\"","config":{"shortWindow":"1h"}}`},
		{"/v1/flagger/rollout", `{"name":"podinfo","namespace":"test","metadata":{"canary":"a=\"b\"","baseline":"a=\"c\""}}`},
		{"/v1/flagger/rollback", `{"name":"podinfo","namespace":"test","metadata":{"config":"errorRate: {max: 0.5}"}}`},
		{"/v1/flagger/confirm-rollout", `{"name":"podinfo","namespace":"test","metadata":{"config":"{1: [a, b]}"}}`},
		{"/v1/flagger/event", `{"name":"podinfo","namespace":"test"}`},
		{"/v1/flagger/pre-flight", `{}`},
		{"/healthz", ``},
	} {
		f.Add(seed.path, []byte(seed.body))
	}
	g, err := New(cannedQuerier{}, func() Config {
		cfg := Default()
		cfg.Flagger = FlaggerConfig{Canary: `namespace="{{.Namespace}}",app="{{.Name}}"`, Baseline: `namespace="{{.Namespace}}",app="{{.Name}}-primary"`}
		return cfg
	}())
	if err != nil {
		f.Fatal(err)
	}
	srv, err := NewServer(g, ServerConfig{}, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, path string, body []byte) {
		// Keep to the API's routes: the fuzzer varies the hook and the body.
		if !strings.HasPrefix(path, "/v1/") || strings.ContainsFunc(path, func(r rune) bool { return r <= ' ' || r >= 0x7f || strings.ContainsRune("?#%", r) }) {
			path = "/v1/evaluate"
		}
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "http://gate"+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		status, n := rec.Code, rec.Body.Len()
		if status >= 500 {
			t.Errorf("POST %q %q: %d %.300q; want no 5xx for a client's input", path, body, status, rec.Body.String())
		}
		if n > maxAnswerBytes || (status >= 400 && n >= 1<<10) {
			t.Errorf("POST %q: %d with a %d-byte answer; want at most %d (1 KiB for an error)", path, status, n, maxAnswerBytes)
		}
	})
}
