package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flagstorm/flagstorm/target/internal/flags"
	"github.com/flagstorm/flagstorm/target/internal/httpapi"
)

const (
	token       = "s3cret-admin-token"
	internalMsg = "pq: connection to 10.0.0.7:5432 refused (password=hunter2)"
)

// fakeService is a hand-written Service: each method returns what its
// field says and records how it was called.
type fakeService struct {
	get      func(env, key string) (flags.Result, error)
	list     func(env string) (flags.Result, error)
	evaluate func(env, key, user string) (flags.Evaluation, flags.Source, error)
	update   func(env, key string, p flags.Patch, ifVersion int64) (flags.Flag, error)
	ready    flags.Readiness

	mu    sync.Mutex
	calls []call
}

type call struct {
	Method, Env, Key, UserID string
	Patch                    flags.Patch
	IfVersion                int64
}

func (f *fakeService) record(c call) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

func (f *fakeService) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func (f *fakeService) Get(_ context.Context, env, key string) (flags.Result, error) {
	f.record(call{Method: "Get", Env: env, Key: key})
	if f.get == nil {
		return flags.Result{Body: flagJSON, Source: flags.SourceRedis}, nil
	}
	return f.get(env, key)
}

func (f *fakeService) List(_ context.Context, env string) (flags.Result, error) {
	f.record(call{Method: "List", Env: env})
	if f.list == nil {
		return flags.Result{Body: listJSON, Source: flags.SourceDB}, nil
	}
	return f.list(env)
}

func (f *fakeService) Evaluate(_ context.Context, env, key, user string) (flags.Evaluation, flags.Source, error) {
	f.record(call{Method: "Evaluate", Env: env, Key: key, UserID: user})
	if f.evaluate == nil {
		return evaluation, flags.SourceMemory, nil
	}
	return f.evaluate(env, key, user)
}

func (f *fakeService) Update(_ context.Context, env, key string, p flags.Patch, ifVersion int64) (flags.Flag, error) {
	f.record(call{Method: "Update", Env: env, Key: key, Patch: p, IfVersion: ifVersion})
	if f.update == nil {
		fl := updated
		fl = p.Apply(fl)
		return fl, nil
	}
	return f.update(env, key, p, ifVersion)
}

func (f *fakeService) Ready(context.Context) flags.Readiness {
	if f.ready.Cache == "" && f.ready.Database == nil {
		return flags.Readiness{Cache: "up"}
	}
	return f.ready
}

var (
	flagJSON   = []byte(`{"key":"checkout","environment":"prod","enabled":true,"rolloutPercentage":25,"description":"new checkout","version":7,"updatedAt":"2025-01-02T03:04:05Z"}`)
	listJSON   = []byte(`{"environment":"prod","flags":[` + string(flagJSON) + `]}`)
	evaluation = flags.Evaluation{Key: "checkout", Environment: "prod", UserID: "user-42", Enabled: true, Reason: "rollout", Bucket: 12, Version: 7}
	updated    = flags.Flag{Key: "checkout", Environment: "prod", Enabled: true, RolloutPercentage: 25, Description: "new checkout", Version: 8, UpdatedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
)

func ptr[T any](v T) *T { return &v }

type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	Field string `json:"field"`
}

type testCase struct {
	name    string
	svc     func(*fakeService) // adjusts the fake
	cfg     func(*httpapi.Config)
	method  string
	target  string
	header  http.Header
	body    io.Reader
	clen    int64 // overrides ContentLength when non-zero (-1: unknown)
	noToken bool  // PATCH without the default Authorization header

	wantStatus int
	wantCode   string            // error code; "" for a success
	wantField  string            // error field
	wantHeader map[string]string // exact header values ("" means absent)
	wantBody   string            // exact body, when set
	wantCalls  []call            // service calls, when set (use []call{} for none)
}

func run(t *testing.T, tc testCase) {
	t.Helper()
	fake := &fakeService{}
	if tc.svc != nil {
		tc.svc(fake)
	}
	var logs bytes.Buffer
	cfg := httpapi.Config{
		AdminToken: token,
		Logger:     slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer: prometheus.NewRegistry(),
	}
	if tc.cfg != nil {
		tc.cfg(&cfg)
	}
	h, err := httpapi.New(fake, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	method := tc.method
	if method == "" {
		method = http.MethodGet
	}
	req := httptest.NewRequestWithContext(t.Context(), method, tc.target, tc.body)
	if tc.clen != 0 {
		req.ContentLength = tc.clen
	}
	if method == http.MethodPatch && !tc.noToken {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, vs := range tc.header {
		req.Header.Del(k)
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	res := rr.Result()
	body, _ := io.ReadAll(res.Body)

	if res.StatusCode != tc.wantStatus {
		t.Errorf("status = %d, want %d; body %s", res.StatusCode, tc.wantStatus, body)
	}
	if got := res.Header.Get("Content-Type"); got != "application/json" && res.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if res.StatusCode >= 400 {
		var eb errorBody
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&eb); err != nil {
			t.Fatalf("error body %s is not the error JSON: %v", body, err)
		}
		if eb.Code != tc.wantCode || eb.Field != tc.wantField {
			t.Errorf("error = {code %q, field %q}, want {code %q, field %q}; body %s", eb.Code, eb.Field, tc.wantCode, tc.wantField, body)
		}
		if eb.Error == "" {
			t.Errorf("error body %s has no message", body)
		}
		if strings.Contains(string(body), "hunter2") || strings.Contains(string(body), "pq:") {
			t.Errorf("error body leaks internal error text: %s", body)
		}
		if res.StatusCode >= 500 && !strings.Contains(logs.String(), "request failed") {
			t.Errorf("5xx was not logged with its cause; log: %q", logs.String())
		}
	} else if tc.wantCode != "" {
		t.Errorf("want error code %q, got success %s", tc.wantCode, body)
	}
	for k, want := range tc.wantHeader {
		if got := res.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if tc.wantBody != "" && string(body) != tc.wantBody {
		t.Errorf("body = %s\nwant   %s", body, tc.wantBody)
	}
	if tc.wantCalls != nil {
		if diff := cmp.Diff(tc.wantCalls, fake.Calls(), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("service calls (-want +got):\n%s", diff)
		}
	}
}

func TestReadRoutes(t *testing.T) {
	internal := errors.New(internalMsg)
	tests := []testCase{
		{
			name: "list", target: "/api/config/flags?environment=prod",
			wantStatus: 200, wantBody: string(listJSON),
			wantHeader: map[string]string{"X-Flag-Source": "db", "Cache-Control": "no-store"},
			wantCalls:  []call{{Method: "List", Env: "prod"}},
		},
		{
			name: "list with escaped environment", target: "/api/config/flags?x=1&environment=pro%64",
			wantStatus: 200, wantCalls: []call{{Method: "List", Env: "prod"}},
		},
		{
			name: "list without environment", target: "/api/config/flags",
			wantStatus: 400, wantCode: "MISSING_ENVIRONMENT", wantField: "environment", wantCalls: []call{},
			wantHeader: map[string]string{"Cache-Control": "no-store"},
		},
		{
			name: "list with empty environment", target: "/api/config/flags?environment=",
			wantStatus: 400, wantCode: "MISSING_ENVIRONMENT", wantField: "environment", wantCalls: []call{},
		},
		{
			name: "list with malformed environment", target: "/api/config/flags?environment=Prod",
			wantStatus: 400, wantCode: "INVALID_ENVIRONMENT", wantField: "environment", wantCalls: []call{},
		},
		{
			name: "list with environment that would reshape a cache key", target: "/api/config/flags?environment=prod:x",
			wantStatus: 400, wantCode: "INVALID_ENVIRONMENT", wantField: "environment", wantCalls: []call{},
		},
		{
			name: "list of an unknown environment",
			svc: func(f *fakeService) {
				f.list = func(env string) (flags.Result, error) {
					return flags.Result{}, fmt.Errorf("%w: %q", flags.ErrUnknownEnvironment, env)
				}
			},
			target: "/api/config/flags?environment=staging", wantStatus: 400, wantCode: "UNKNOWN_ENVIRONMENT", wantField: "environment",
			wantHeader: map[string]string{"X-Flag-Source": ""},
		},
		{
			name: "list unavailable keeps the source",
			svc: func(f *fakeService) {
				f.list = func(string) (flags.Result, error) {
					return flags.Result{Source: flags.SourceDBFallback}, fmt.Errorf("%w: %w", flags.ErrUnavailable, internal)
				}
			},
			target: "/api/config/flags?environment=prod", wantStatus: 503, wantCode: "UNAVAILABLE",
			wantHeader: map[string]string{"X-Flag-Source": "db-fallback", "Cache-Control": "no-store"},
		},
		{
			name: "list internal error",
			svc: func(f *fakeService) {
				f.list = func(string) (flags.Result, error) { return flags.Result{}, internal }
			},
			target: "/api/config/flags?environment=prod", wantStatus: 500, wantCode: "INTERNAL",
		},
		{
			name: "get", target: "/api/config/flags/checkout?environment=prod",
			wantStatus: 200, wantBody: string(flagJSON),
			wantHeader: map[string]string{"X-Flag-Source": "redis", "Cache-Control": "no-store"},
			wantCalls:  []call{{Method: "Get", Env: "prod", Key: "checkout"}},
		},
		{
			name: "head", method: http.MethodHead, target: "/api/config/flags/checkout?environment=prod",
			wantStatus: 200, wantHeader: map[string]string{"X-Flag-Source": "redis"},
		},
		{
			name: "get every source",
			svc: func(f *fakeService) {
				f.get = func(string, string) (flags.Result, error) {
					return flags.Result{Body: flagJSON, Source: flags.SourceStale}, nil
				}
			},
			target: "/api/config/flags/checkout?environment=prod", wantStatus: 200,
			wantHeader: map[string]string{"X-Flag-Source": "stale"},
		},
		{
			name: "get unknown flag",
			svc: func(f *fakeService) {
				f.get = func(string, string) (flags.Result, error) {
					return flags.Result{Source: flags.SourceDB}, flags.ErrNotFound
				}
			},
			target: "/api/config/flags/nope?environment=prod", wantStatus: 404, wantCode: "FLAG_NOT_FOUND",
			wantHeader: map[string]string{"X-Flag-Source": "db"},
		},
		{
			name: "get without environment", target: "/api/config/flags/checkout",
			wantStatus: 400, wantCode: "MISSING_ENVIRONMENT", wantField: "environment", wantCalls: []call{},
		},
		{
			name: "get escaped path traversal", target: "/api/config/flags/..%2Fx?environment=prod",
			wantStatus: 400, wantCode: "INVALID_KEY", wantField: "key", wantCalls: []call{},
		},
		{
			name: "get key with colon", target: "/api/config/flags/a:b?environment=prod",
			wantStatus: 400, wantCode: "INVALID_KEY", wantField: "key", wantCalls: []call{},
		},
		{
			name: "get key with escaped colon", target: "/api/config/flags/a%3Ab?environment=prod",
			wantStatus: 400, wantCode: "INVALID_KEY", wantField: "key", wantCalls: []call{},
		},
		{
			name: "get upper-case key", target: "/api/config/flags/Checkout?environment=prod",
			wantStatus: 400, wantCode: "INVALID_KEY", wantField: "key", wantCalls: []call{},
		},
		{
			name: "get key with a space", target: "/api/config/flags/a%20b?environment=prod",
			wantStatus: 400, wantCode: "INVALID_KEY", wantField: "key", wantCalls: []call{},
		},
		{
			name: "get key too long", target: "/api/config/flags/" + strings.Repeat("a", 129) + "?environment=prod",
			wantStatus: 400, wantCode: "INVALID_KEY", wantField: "key", wantCalls: []call{},
		},
		{
			name: "get longest key", target: "/api/config/flags/" + strings.Repeat("a", 128) + "?environment=prod",
			wantStatus: 200,
		},
		{
			name: "get service timeout is 503",
			svc: func(f *fakeService) {
				f.get = func(string, string) (flags.Result, error) {
					return flags.Result{}, fmt.Errorf("query: %w", context.DeadlineExceeded)
				}
			},
			target: "/api/config/flags/checkout?environment=prod", wantStatus: 503, wantCode: "UNAVAILABLE",
		},
		{
			name: "evaluate", target: "/api/config/flags/checkout/evaluate?environment=prod&userId=user-42",
			wantStatus: 200, wantBody: mustJSON(t, evaluation),
			wantHeader: map[string]string{"X-Flag-Source": "memory", "Cache-Control": "no-store"},
			wantCalls:  []call{{Method: "Evaluate", Env: "prod", Key: "checkout", UserID: "user-42"}},
		},
		{
			name: "evaluate needing escapes falls back to encoding/json",
			svc: func(f *fakeService) {
				f.evaluate = func(string, string, string) (flags.Evaluation, flags.Source, error) {
					e := evaluation
					e.Reason = `<"odd">`
					return e, flags.SourceDB, nil
				}
			},
			target:     "/api/config/flags/checkout/evaluate?environment=prod&userId=user-42",
			wantStatus: 200, wantBody: mustJSON(t, func() flags.Evaluation { e := evaluation; e.Reason = `<"odd">`; return e }()),
		},
		{
			name: "evaluate without userId", target: "/api/config/flags/checkout/evaluate?environment=prod",
			wantStatus: 400, wantCode: "MISSING_USER_ID", wantField: "userId", wantCalls: []call{},
		},
		{
			name: "evaluate with malformed userId", target: "/api/config/flags/checkout/evaluate?environment=prod&userId=a%20b",
			wantStatus: 400, wantCode: "INVALID_USER_ID", wantField: "userId", wantCalls: []call{},
		},
		{
			name: "evaluate with malformed key", target: "/api/config/flags/A/evaluate?environment=prod&userId=u",
			wantStatus: 400, wantCode: "INVALID_KEY", wantField: "key", wantCalls: []call{},
		},
		{
			name: "evaluate unknown flag",
			svc: func(f *fakeService) {
				f.evaluate = func(string, string, string) (flags.Evaluation, flags.Source, error) {
					return flags.Evaluation{}, flags.SourceRedis, flags.ErrNotFound
				}
			},
			target: "/api/config/flags/nope/evaluate?environment=prod&userId=u", wantStatus: 404, wantCode: "FLAG_NOT_FOUND",
			wantHeader: map[string]string{"X-Flag-Source": "redis"},
		},
		{
			name: "evaluate field error from the service",
			svc: func(f *fakeService) {
				f.evaluate = func(string, string, string) (flags.Evaluation, flags.Source, error) {
					return flags.Evaluation{}, 0, &flags.FieldError{Field: "userId", Msg: "bad"}
				}
			},
			target: "/api/config/flags/x/evaluate?environment=prod&userId=u", wantStatus: 400, wantCode: "INVALID_USER_ID", wantField: "userId",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { run(t, tc) })
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPatch(t *testing.T) {
	const target = "/api/config/flags/checkout?environment=prod"
	internal := errors.New(internalMsg)
	body := func(s string) io.Reader { return strings.NewReader(s) }
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	okFlag := func(p flags.Patch) string { return mustJSON(t, p.Apply(updated)) }
	tests := []testCase{
		{
			name: "update", body: body(`{"enabled": false}`),
			wantStatus: 200, wantBody: okFlag(flags.Patch{Enabled: ptr(false)}),
			wantHeader: map[string]string{"ETag": `"8"`, "Cache-Control": "no-store", "X-Flag-Source": "db"},
			wantCalls:  []call{{Method: "Update", Env: "prod", Key: "checkout", Patch: flags.Patch{Enabled: ptr(false)}}},
		},
		{
			name: "update every field", body: body(`{"enabled":true,"rolloutPercentage":100,"description":"héllo \"x\""}`),
			header:     hdr("Content-Type", "application/json; charset=UTF-8"),
			wantStatus: 200,
			wantCalls: []call{{Method: "Update", Env: "prod", Key: "checkout",
				Patch: flags.Patch{Enabled: ptr(true), RolloutPercentage: ptr(100), Description: ptr(`héllo "x"`)}}},
		},
		{
			name: "If-Match passes the version", body: body(`{"rolloutPercentage": 0}`), header: hdr("If-Match", `"3"`),
			wantStatus: 200,
			wantCalls:  []call{{Method: "Update", Env: "prod", Key: "checkout", Patch: flags.Patch{RolloutPercentage: ptr(0)}, IfVersion: 3}},
		},
		{
			name: "If-Match star is unconditional", body: body(`{"enabled": true}`), header: hdr("If-Match", `*`),
			wantStatus: 200,
			wantCalls:  []call{{Method: "Update", Env: "prod", Key: "checkout", Patch: flags.Patch{Enabled: ptr(true)}}},
		},
		{
			name: "If-Match weak", body: body(`{"enabled": true}`), header: hdr("If-Match", `W/"3"`),
			wantStatus: 400, wantCode: "INVALID_HEADER", wantField: "If-Match", wantCalls: []call{},
		},
		{
			name: "If-Match unquoted", body: body(`{"enabled": true}`), header: hdr("If-Match", `3`),
			wantStatus: 400, wantCode: "INVALID_HEADER", wantField: "If-Match", wantCalls: []call{},
		},
		{
			name: "If-Match not a number", body: body(`{"enabled": true}`), header: hdr("If-Match", `"abc"`),
			wantStatus: 400, wantCode: "INVALID_HEADER", wantField: "If-Match", wantCalls: []call{},
		},
		{
			name: "If-Match zero", body: body(`{"enabled": true}`), header: hdr("If-Match", `"0"`),
			wantStatus: 400, wantCode: "INVALID_HEADER", wantField: "If-Match", wantCalls: []call{},
		},
		{
			name: "If-Match list", body: body(`{"enabled": true}`), header: hdr("If-Match", `"1", "2"`),
			wantStatus: 400, wantCode: "INVALID_HEADER", wantField: "If-Match", wantCalls: []call{},
		},
		{
			name: "If-Match twice", body: body(`{"enabled": true}`), header: hdr("If-Match", `"1"`, "If-Match", `"2"`),
			wantStatus: 400, wantCode: "INVALID_HEADER", wantField: "If-Match", wantCalls: []call{},
		},
		{
			name: "If-Match overflow", body: body(`{"enabled": true}`), header: hdr("If-Match", `"99999999999999999999"`),
			wantStatus: 400, wantCode: "INVALID_HEADER", wantField: "If-Match", wantCalls: []call{},
		},
		{
			name: "version conflict",
			svc: func(f *fakeService) {
				f.update = func(string, string, flags.Patch, int64) (flags.Flag, error) {
					return flags.Flag{}, flags.ErrVersionConflict
				}
			},
			body: body(`{"enabled": true}`), header: hdr("If-Match", `"3"`),
			wantStatus: 412, wantCode: "VERSION_CONFLICT", wantField: "If-Match", wantHeader: map[string]string{"ETag": ""},
		},
		{
			name: "update unknown flag",
			svc: func(f *fakeService) {
				f.update = func(string, string, flags.Patch, int64) (flags.Flag, error) { return flags.Flag{}, flags.ErrNotFound }
			},
			body: body(`{"enabled": true}`), wantStatus: 404, wantCode: "FLAG_NOT_FOUND",
		},
		{
			name: "update unknown environment",
			svc: func(f *fakeService) {
				f.update = func(string, string, flags.Patch, int64) (flags.Flag, error) {
					return flags.Flag{}, fmt.Errorf("%w: %q", flags.ErrUnknownEnvironment, "prod")
				}
			},
			body: body(`{"enabled": true}`), wantStatus: 400, wantCode: "UNKNOWN_ENVIRONMENT", wantField: "environment",
		},
		{
			name: "update unavailable",
			svc: func(f *fakeService) {
				f.update = func(string, string, flags.Patch, int64) (flags.Flag, error) {
					return flags.Flag{}, fmt.Errorf("%w: %w", flags.ErrUnavailable, internal)
				}
			},
			body: body(`{"enabled": true}`), wantStatus: 503, wantCode: "UNAVAILABLE",
		},
		{
			name: "update internal error",
			svc: func(f *fakeService) {
				f.update = func(string, string, flags.Patch, int64) (flags.Flag, error) { return flags.Flag{}, internal }
			},
			body: body(`{"enabled": true}`), wantStatus: 500, wantCode: "INTERNAL", wantHeader: map[string]string{"ETag": ""},
		},
		{
			name: "service field error",
			svc: func(f *fakeService) {
				f.update = func(string, string, flags.Patch, int64) (flags.Flag, error) {
					return flags.Flag{}, &flags.FieldError{Field: "description", Msg: "too long"}
				}
			},
			body: body(`{"description": "x"}`), wantStatus: 400, wantCode: "INVALID_FIELD", wantField: "description",
		},
		{
			name: "missing token", noToken: true, body: body(`{"enabled": true}`),
			wantStatus: 401, wantCode: "UNAUTHORIZED", wantHeader: map[string]string{"WWW-Authenticate": "Bearer"}, wantCalls: []call{},
		},
		{
			name: "wrong token", header: hdr("Authorization", "Bearer "+token+"x"), body: body(`{"enabled": true}`),
			wantStatus: 401, wantCode: "UNAUTHORIZED", wantHeader: map[string]string{"WWW-Authenticate": "Bearer"}, wantCalls: []call{},
		},
		{
			name: "token prefix", header: hdr("Authorization", "Bearer "+token[:5]), body: body(`{"enabled": true}`),
			wantStatus: 401, wantCode: "UNAUTHORIZED", wantCalls: []call{},
		},
		{
			name: "basic scheme", header: hdr("Authorization", "Basic "+token), body: body(`{"enabled": true}`),
			wantStatus: 401, wantCode: "UNAUTHORIZED", wantCalls: []call{},
		},
		{
			name: "bearer without token", header: hdr("Authorization", "Bearer "), body: body(`{"enabled": true}`),
			wantStatus: 401, wantCode: "UNAUTHORIZED", wantCalls: []call{},
		},
		{
			name: "scheme is case-insensitive", header: hdr("Authorization", "bearer "+token), body: body(`{"enabled": true}`),
			wantStatus: 200,
		},
		{
			name: "admin token not configured", cfg: func(c *httpapi.Config) { c.AdminToken = "" },
			header: hdr("Authorization", "Bearer "), body: body(`{"enabled": true}`),
			wantStatus: 401, wantCode: "UNAUTHORIZED", wantHeader: map[string]string{"WWW-Authenticate": "Bearer"}, wantCalls: []call{},
		},
		{
			name: "authentication comes before validation", noToken: true, target: "/api/config/flags/A?environment=prod",
			body: body(`nonsense`), wantStatus: 401, wantCode: "UNAUTHORIZED", wantCalls: []call{},
		},
		{
			name: "malformed key", target: "/api/config/flags/..%2Fx?environment=prod", body: body(`{"enabled": true}`),
			wantStatus: 400, wantCode: "INVALID_KEY", wantField: "key", wantCalls: []call{},
		},
		{
			name: "missing environment", target: "/api/config/flags/checkout", body: body(`{"enabled": true}`),
			wantStatus: 400, wantCode: "MISSING_ENVIRONMENT", wantField: "environment", wantCalls: []call{},
		},
		{
			name: "body one byte too large", body: body(`{"description":"` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"}`),
			wantStatus: 413, wantCode: "BODY_TOO_LARGE", wantCalls: []call{},
		},
		{
			name: "body of 64 KiB + 1 with unknown length",
			body: body(`{"enabled":true}` + strings.Repeat(" ", httpapi.MaxBodyBytes+1-len(`{"enabled":true}`))), clen: -1,
			wantStatus: 413, wantCode: "BODY_TOO_LARGE", wantCalls: []call{},
		},
		{
			name: "body of exactly 64 KiB",
			body: body(`{"enabled":true}` + strings.Repeat(" ", httpapi.MaxBodyBytes-len(`{"enabled":true}`))), clen: -1,
			wantStatus: 200,
		},
		{
			name: "unknown field", body: body(`{"enabled": true, "colour": "red"}`),
			wantStatus: 400, wantCode: "INVALID_FIELD", wantField: "colour", wantCalls: []call{},
		},
		{
			name: "field names are case-sensitive", body: body(`{"Enabled": true}`),
			wantStatus: 400, wantCode: "INVALID_FIELD", wantField: "Enabled", wantCalls: []call{},
		},
		{
			name: "rollout above 100", body: body(`{"rolloutPercentage": 101}`),
			wantStatus: 400, wantCode: "INVALID_FIELD", wantField: "rolloutPercentage", wantCalls: []call{},
		},
		{
			name: "rollout negative", body: body(`{"rolloutPercentage": -1}`),
			wantStatus: 400, wantCode: "INVALID_FIELD", wantField: "rolloutPercentage", wantCalls: []call{},
		},
		{
			name: "rollout as a string", body: body(`{"rolloutPercentage": "50"}`),
			wantStatus: 400, wantCode: "INVALID_FIELD", wantField: "rolloutPercentage", wantCalls: []call{},
		},
		{
			name: "rollout fractional", body: body(`{"rolloutPercentage": 50.5}`),
			wantStatus: 400, wantCode: "INVALID_FIELD", wantField: "rolloutPercentage", wantCalls: []call{},
		},
		{
			name: "enabled as a string", body: body(`{"enabled": "true"}`),
			wantStatus: 400, wantCode: "INVALID_FIELD", wantField: "enabled", wantCalls: []call{},
		},
		{
			name: "null field", body: body(`{"enabled": null}`),
			wantStatus: 400, wantCode: "INVALID_FIELD", wantField: "enabled", wantCalls: []call{},
		},
		{
			name: "repeated field", body: body(`{"enabled": true, "enabled": false}`),
			wantStatus: 400, wantCode: "INVALID_FIELD", wantField: "enabled", wantCalls: []call{},
		},
		{
			name: "trailing value", body: body(`{"enabled": true} {}`),
			wantStatus: 400, wantCode: "INVALID_BODY", wantCalls: []call{},
		},
		{
			name: "trailing garbage", body: body(`{"enabled": true}x`),
			wantStatus: 400, wantCode: "INVALID_BODY", wantCalls: []call{},
		},
		{
			name: "empty body", body: body(``),
			wantStatus: 400, wantCode: "INVALID_BODY", wantCalls: []call{},
		},
		{
			name: "empty object", body: body(`{}`),
			wantStatus: 400, wantCode: "INVALID_BODY", wantCalls: []call{},
		},
		{
			name: "array", body: body(`[{"enabled": true}]`),
			wantStatus: 400, wantCode: "INVALID_BODY", wantCalls: []call{},
		},
		{
			name: "malformed JSON", body: body(`{"enabled": tru}`),
			wantStatus: 400, wantCode: "INVALID_BODY", wantCalls: []call{},
		},
		{
			name: "truncated JSON", body: body(`{"enabled": true`),
			wantStatus: 400, wantCode: "INVALID_BODY", wantCalls: []call{},
		},
		{
			name: "wrong content type", header: hdr("Content-Type", "text/plain"), body: body(`{"enabled": true}`),
			wantStatus: 415, wantCode: "UNSUPPORTED_MEDIA_TYPE", wantField: "Content-Type", wantCalls: []call{},
		},
		{
			name: "wrong charset", header: hdr("Content-Type", "application/json; charset=latin1"), body: body(`{"enabled": true}`),
			wantStatus: 415, wantCode: "UNSUPPORTED_MEDIA_TYPE", wantField: "Content-Type", wantCalls: []call{},
		},
		{
			name: "unparsable content type", header: hdr("Content-Type", "application/json; ="), body: body(`{"enabled": true}`),
			wantStatus: 415, wantCode: "UNSUPPORTED_MEDIA_TYPE", wantField: "Content-Type", wantCalls: []call{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.method = http.MethodPatch
			if tc.target == "" {
				tc.target = target
			}
			run(t, tc)
		})
	}
}

func TestRouting(t *testing.T) {
	tests := []testCase{
		{
			name: "delete on a flag", method: http.MethodDelete, target: "/api/config/flags/checkout?environment=prod",
			wantStatus: 405, wantCode: "METHOD_NOT_ALLOWED", wantHeader: map[string]string{"Allow": "GET, HEAD, PATCH"}, wantCalls: []call{},
		},
		{
			name: "post on the list", method: http.MethodPost, target: "/api/config/flags?environment=prod",
			wantStatus: 405, wantCode: "METHOD_NOT_ALLOWED", wantHeader: map[string]string{"Allow": "GET, HEAD"}, wantCalls: []call{},
		},
		{
			name: "patch on evaluate", method: http.MethodPatch, target: "/api/config/flags/checkout/evaluate",
			wantStatus: 405, wantCode: "METHOD_NOT_ALLOWED", wantHeader: map[string]string{"Allow": "GET, HEAD"}, wantCalls: []call{},
		},
		{
			name: "unknown path", target: "/nope",
			wantStatus: 404, wantCode: "NOT_FOUND", wantHeader: map[string]string{"Allow": ""}, wantCalls: []call{},
		},
		{
			name: "too deep", target: "/api/config/flags/a/b/c?environment=prod",
			wantStatus: 404, wantCode: "NOT_FOUND", wantCalls: []call{},
		},
		{
			name: "metrics without a gatherer", target: "/metrics",
			wantStatus: 404, wantCode: "NOT_FOUND",
		},
		{
			name: "healthz", target: "/healthz",
			wantStatus: 200, wantBody: `{"status":"ok"}`,
		},
		{
			name: "readyz", svc: func(f *fakeService) { f.ready = flags.Readiness{Cache: "circuit-open"} }, target: "/readyz",
			wantStatus: 200, wantBody: `{"status":"ready","database":"up","cache":"circuit-open"}`,
		},
		{
			name: "readyz with the cache down", svc: func(f *fakeService) { f.ready = flags.Readiness{Cache: "down"} }, target: "/readyz",
			wantStatus: 200, wantBody: `{"status":"ready","database":"up","cache":"down"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { run(t, tc) })
	}
}

// TestReadyzDatabaseDown: /readyz reports its state, not the error JSON, and
// only the database decides readiness.
func TestReadyzDatabaseDown(t *testing.T) {
	for _, cache := range []string{"up", "down", "disabled"} {
		t.Run(cache, func(t *testing.T) {
			fake := &fakeService{ready: flags.Readiness{Database: errors.New(internalMsg), Cache: cache}}
			h, err := httpapi.New(fake, httpapi.Config{})
			if err != nil {
				t.Fatal(err)
			}
			rr := httptest.NewRecorder()
			h.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			want := `{"status":"unready","database":"down","cache":"` + cache + `"}`
			if rr.Code != http.StatusServiceUnavailable || rr.Body.String() != want {
				t.Errorf("got %d %s, want 503 %s", rr.Code, rr.Body, want)
			}
			if strings.Contains(rr.Body.String(), "hunter2") {
				t.Errorf("readyz leaks the database error: %s", rr.Body)
			}
		})
	}
}

func TestMetricsEndpoint(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, err := httpapi.New(&fakeService{}, httpapi.Config{Registerer: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, p := range []string{"/api/config/flags/checkout?environment=prod", "/nope"} {
		res, err := srv.Client().Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	res, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("/metrics: %d %s", res.StatusCode, b)
	}
	for _, want := range []string{
		`flagserver_http_requests_total{code="200",method="GET",route="GET /api/config/flags/{key}"} 1`,
		`flagserver_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`flagserver_http_request_duration_seconds_bucket{method="GET",route="GET /api/config/flags/{key}",le="0.005"}`,
		`flagserver_http_requests_in_flight 1`, // the scrape itself
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestNewRejectsNilService(t *testing.T) {
	if _, err := httpapi.New(nil, httpapi.Config{}); err == nil {
		t.Error("New(nil) succeeded")
	}
}

func TestNewRejectsDuplicateRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := httpapi.New(&fakeService{}, httpapi.Config{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := httpapi.New(&fakeService{}, httpapi.Config{Registerer: reg}); err == nil {
		t.Error("second New on the same registry succeeded")
	}
}

func TestNewServer(t *testing.T) {
	h := http.NotFoundHandler()
	s := httpapi.NewServer(":0", h)
	got := []any{s.Addr, s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout, s.MaxHeaderBytes}
	want := []any{":0", 5 * time.Second, 10 * time.Second, 30 * time.Second, 120 * time.Second, 64 << 10}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("server settings (-want +got):\n%s", diff)
	}
}

// TestLogsAreRateLimited checks that an outage does not log every request.
func TestLogsAreRateLimited(t *testing.T) {
	var logs bytes.Buffer
	fake := &fakeService{get: func(string, string) (flags.Result, error) { return flags.Result{}, errors.New(internalMsg) }}
	h, err := httpapi.New(fake, httpapi.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/api/config/flags/checkout?environment=prod", nil))
		if rr.Code != 500 {
			t.Fatalf("status %d", rr.Code)
		}
	}
	if n := strings.Count(logs.String(), "request failed"); n != 1 {
		t.Errorf("%d log lines for 100 failures in well under a second, want 1:\n%s", n, logs.String())
	}
	for _, want := range []string{"level=ERROR", `route="GET /api/config/flags/{key}"`, "status=500", "flag_key=checkout", "hunter2"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s: %s", want, logs.String())
		}
	}
}

// The domain's service is what production wires in.
var _ httpapi.Service = (*flags.Service)(nil)
