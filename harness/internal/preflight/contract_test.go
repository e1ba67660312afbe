package preflight

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flagstorm/flagstorm/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const testToken = "preflight-token"

// fake is an in-memory flag service with switchable defects, for the
// contract checks (no backends: the wiring checks are tested against
// minimal-go in wiring_test.go).
type fake struct {
	defects
	mu    sync.Mutex
	flags map[string]map[string]any // key -> flag
	prev  map[string]map[string]any // key -> flag before the last write
}

// defects are the fake's settings.
type defects struct {
	nonce string // the nonce field; "" means a "version" field

	notReady    bool   // readiness answers 503
	bareList    bool   // the list is a bare array
	badList     bool   // the list is {"items": [...]}
	unknown200  bool   // an unknown key answers 200
	noAuth      bool   // PATCH without a token is accepted
	omitField   bool   // the field is never returned
	fieldString bool   // version mode: the version is a string
	frozen      bool   // version mode: the version never grows; nonce mode: the nonce is not stored
	stale       bool   // a GET returns the value before the last write
	missing     string // a key not seeded
}

func newFake(t *testing.T, d defects) *httptest.Server {
	f := &fake{defects: d, flags: map[string]map[string]any{}, prev: map[string]map[string]any{}}
	for i := range 10 {
		key := fmt.Sprintf("flag-%03d", i)
		if key == f.missing {
			continue
		}
		fl := map[string]any{"key": key, "environment": "production", "enabled": i%2 == 0}
		if f.nonce != "" {
			fl[f.nonce] = ""
		} else {
			fl["version"] = 1
		}
		f.flags[key] = fl
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if f.notReady {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("GET /api/config/flags", func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		var list []map[string]any
		for _, k := range slices.Sorted(maps.Keys(f.flags)) {
			list = append(list, f.view(f.flags[k]))
		}
		switch {
		case f.bareList:
			writeJSON(w, http.StatusOK, list)
		case f.badList:
			writeJSON(w, http.StatusOK, map[string]any{"items": list})
		default:
			writeJSON(w, http.StatusOK, map[string]any{"flags": list})
		}
	})
	mux.HandleFunc("GET /api/config/flags/{key}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		key := r.PathValue("key")
		fl, ok := f.flags[key]
		if f.stale && f.prev[key] != nil {
			fl = f.prev[key]
		}
		switch {
		case ok:
			writeJSON(w, http.StatusOK, f.view(fl))
		case f.unknown200:
			writeJSON(w, http.StatusOK, map[string]any{"key": key, "environment": "production", "enabled": false})
		default:
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
		}
	})
	mux.HandleFunc("PATCH /api/config/flags/{key}", func(w http.ResponseWriter, r *http.Request) {
		if !f.noAuth && r.Header.Get("Authorization") != "Bearer "+testToken {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
			return
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad body"})
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		key := r.PathValue("key")
		old, ok := f.flags[key]
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
			return
		}
		fl := maps.Clone(old)
		if e, ok := body["enabled"].(bool); ok {
			fl["enabled"] = e
		}
		if f.nonce != "" {
			if s, ok := body[f.nonce].(string); ok && !f.frozen {
				fl[f.nonce] = s
			}
		} else if !f.frozen {
			fl["version"] = fl["version"].(int) + 1
		}
		f.prev[key], f.flags[key] = old, fl
		writeJSON(w, http.StatusOK, f.view(fl))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// view is the flag as the fake serves it, with its defects.
func (f *fake) view(fl map[string]any) map[string]any {
	out := maps.Clone(fl)
	field := f.nonce
	if field == "" {
		field = "version"
	}
	if f.omitField {
		delete(out, field)
	} else if f.fieldString && f.nonce == "" {
		out[field] = fmt.Sprint(out[field])
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func items(ps []Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Item)
	}
	return out
}

func TestCheckContract(t *testing.T) {
	all := Uses{List: true, Get: true, Patch: true}
	tests := []struct {
		name  string
		fake  defects
		uses  Uses
		want  []string // the problems' items
		wantS string   // a text one Got must contain
	}{
		{name: "correct version", fake: defects{}, uses: all},
		{name: "correct nonce", fake: defects{nonce: "description"}, uses: all},
		{name: "bare array list", fake: defects{bareList: true}, uses: all},
		{name: "only get", fake: defects{}, uses: Uses{Get: true}},
		{name: "only list and patch", fake: defects{nonce: "description"}, uses: Uses{List: true, Patch: true}},
		{name: "not ready", fake: defects{notReady: true}, uses: all, want: []string{"readiness"}, wantS: "503"},
		{name: "list shape", fake: defects{badList: true}, uses: all, want: []string{"list"}, wantS: "neither"},
		{name: "flag not seeded", fake: defects{missing: "flag-002"}, uses: all, want: []string{"get"}, wantS: "not seeded"},
		{name: "unknown key answers 200", fake: defects{unknown200: true}, uses: all, want: []string{"unknown key"}, wantS: "want 404"},
		{name: "no auth", fake: defects{noAuth: true}, uses: all, want: []string{"patch auth", "patch auth"}, wantS: "anyone can write"},
		{name: "field omitted", fake: defects{omitField: true}, uses: all, want: []string{"field", "field"}, wantS: "absent"},
		{name: "nonce field omitted", fake: defects{nonce: "description", omitField: true}, uses: all, want: []string{"field"}, wantS: "absent"},
		{name: "version as a string", fake: defects{fieldString: true}, uses: all, want: []string{"field", "field"}, wantS: "want an integer"},
		{name: "version does not grow", fake: defects{frozen: true}, uses: all, want: []string{"field"}, wantS: "did not grow"},
		{name: "nonce not stored", fake: defects{nonce: "description", frozen: true}, uses: all, want: []string{"field"}, wantS: "answered \"\""},
		{name: "stale read back", fake: defects{stale: true}, uses: all, want: []string{"write read back"}, wantS: "read right after"},
		{name: "stale read back nonce", fake: defects{nonce: "description", stale: true}, uses: all, want: []string{"write read back"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.fake
			srv := newFake(t, f)
			field := "version"
			if f.nonce != "" {
				field = f.nonce
			}
			rep, err := Check(t.Context(), Target{
				URL: srv.URL, AdminToken: testToken, Environment: "production",
				Flag: "flag-001", Flags: []string{"flag-002", "flag-003"},
				Field: field, Nonce: f.nonce != "", Uses: tt.uses,
			})
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			t.Logf("report:\n%v", rep)
			if diff := cmp.Diff(tt.want, items(rep.Problems)); diff != "" {
				t.Errorf("problems (-want +got):\n%s\nreport:\n%v", diff, rep)
			}
			if tt.wantS != "" && !strings.Contains(fmt.Sprint(rep.Problems), tt.wantS) {
				t.Errorf("no problem says %q:\n%v", tt.wantS, rep)
			}
			for _, p := range rep.Problems {
				if p.Fix == "" || p.Got == "" {
					t.Errorf("problem %+v lacks a Got or a Fix", p)
				}
			}
			if !slices.ContainsFunc(rep.Skipped, func(s string) bool { return strings.Contains(s, "NOT verified") }) {
				t.Errorf("without Faults the report does not say the wiring is unchecked: %v", rep.Skipped)
			}
			if tt.uses == all && len(tt.want) == 0 {
				want := []string{"readiness", "list", "get", "field", "unknown key", "patch auth", "patch", "write read back"}
				if diff := cmp.Diff(want, rep.Checked); diff != "" {
					t.Errorf("checked (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestCheckServiceDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	rep, err := Check(t.Context(), Target{URL: url, Environment: "production", Flag: "flag-001", Field: "version",
		Uses: Uses{List: true, Get: true, Patch: true}})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if diff := cmp.Diff([]string{"readiness"}, items(rep.Problems)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if !strings.Contains(rep.String(), "skip  everything else") {
		t.Errorf("report does not say the rest was skipped:\n%v", rep)
	}
}

func TestCheckCancelled(t *testing.T) {
	srv := newFake(t, defects{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := Check(ctx, Target{URL: srv.URL, Environment: "production", Flag: "flag-001", Field: "version"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Check with a cancelled context: err = %v, want context.Canceled", err)
	}
}

func TestReportString(t *testing.T) {
	rep := Report{
		Checked:  []string{"readiness", "patch auth"},
		Problems: []Problem{{Item: "patch auth", Got: "PATCH answered 200", Fix: "refuse it"}},
		Skipped:  []string{"wiring (no fault controller)"},
	}
	want := "ok    readiness\nFAIL  patch auth: PATCH answered 200; fix: refuse it\nskip  wiring (no fault controller)\npreflight took 0s"
	if diff := cmp.Diff(want, rep.String()); diff != "" {
		t.Errorf("String (-want +got):\n%s", diff)
	}
}

func TestParseCommandstats(t *testing.T) {
	info := "# Commandstats\r\n" +
		"cmdstat_get:calls=21,usec=175,usec_per_call=8.33,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_info:calls=7,usec=100,usec_per_call=14.2,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_client|setinfo:calls=2,usec=3,usec_per_call=1.5,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_replconf:calls=90,usec=90,usec_per_call=1,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_evalsha:calls=4,usec=40,usec_per_call=10,rejected_calls=0,failed_calls=0\r\n"
	n, err := parseCommandstats(info)
	if err != nil || n != 25 {
		t.Errorf("parseCommandstats = %d, %v; want 25, nil", n, err)
	}
}
