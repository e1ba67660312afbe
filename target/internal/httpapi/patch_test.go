package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flagstorm/flagstorm/target/internal/flags"
)

func ptr[T any](v T) *T { return &v }

func TestDecodePatch(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		want      flags.Patch
		wantField string // for a *flags.FieldError
		wantBody  bool   // for a *BodyError
		wantMsg   string // substring of the error, when set
	}{
		{name: "enabled", body: `{"enabled":true}`, want: flags.Patch{Enabled: ptr(true)}},
		{name: "all", body: " {\n\"enabled\": false, \"rolloutPercentage\": 42, \"description\": \"a\\u00e9\"}\n",
			want: flags.Patch{Enabled: ptr(false), RolloutPercentage: ptr(42), Description: ptr("aé")}},
		{name: "escaped member name", body: `{"enabl\u0065d":true}`, want: flags.Patch{Enabled: ptr(true)}},
		{name: "empty description", body: `{"description":""}`, want: flags.Patch{Description: ptr("")}},
		{name: "rollout zero", body: `{"rolloutPercentage":0}`, want: flags.Patch{RolloutPercentage: ptr(0)}},
		{name: "negative zero", body: `{"rolloutPercentage":-0}`, want: flags.Patch{RolloutPercentage: ptr(0)}},

		{name: "empty", body: ``, wantBody: true, wantMsg: "empty"},
		{name: "whitespace", body: " \n", wantBody: true, wantMsg: "empty"},
		{name: "null body", body: `null`, wantBody: true},
		{name: "string body", body: `"x"`, wantBody: true},
		{name: "trailing object", body: `{"enabled": true} {}`, wantBody: true, wantMsg: "exactly one"},
		{name: "trailing brace", body: `{"enabled": true}}`, wantBody: true},
		{name: "truncated", body: `{"enabled": true,`, wantBody: true},
		{name: "syntax", body: `{enabled: true}`, wantBody: true},
		{name: "no patch", body: `{}`, wantField: ""},
		{name: "unknown", body: `{"colour":"red"}`, wantField: "colour"},
		{name: "unknown long name clipped", body: `{"` + strings.Repeat("x", 500) + `":1}`, wantField: strings.Repeat("x", 64) + "…"},
		{name: "case", body: `{"ENABLED":true}`, wantField: "ENABLED"},
		{name: "repeated", body: `{"description":"a","description":"b"}`, wantField: "description"},
		{name: "null", body: `{"description":null}`, wantField: "description", wantMsg: "null"},
		{name: "rollout string", body: `{"rolloutPercentage":"50"}`, wantField: "rolloutPercentage", wantMsg: "rolloutPercentage: must be an integer"},
		{name: "rollout float", body: `{"rolloutPercentage":5.0}`, wantField: "rolloutPercentage", wantMsg: "integer"},
		{name: "rollout exponent", body: `{"rolloutPercentage":1e2}`, wantField: "rolloutPercentage", wantMsg: "integer"},
		{name: "rollout 101", body: `{"rolloutPercentage":101}`, wantField: "rolloutPercentage", wantMsg: "between 0 and 100"},
		{name: "rollout huge", body: `{"rolloutPercentage":99999999999999999999999}`, wantField: "rolloutPercentage", wantMsg: "between 0 and 100"},
		{name: "rollout bool", body: `{"rolloutPercentage":true}`, wantField: "rolloutPercentage"},
		{name: "enabled number", body: `{"enabled":1}`, wantField: "enabled", wantMsg: "boolean"},
		{name: "enabled object", body: `{"enabled":{}}`, wantField: "enabled"},
		{name: "description number", body: `{"description":1}`, wantField: "description", wantMsg: "string"},
		{name: "description array", body: `{"description":["a"]}`, wantField: "description"},
		{name: "description too long", body: `{"description":"` + strings.Repeat("a", flags.MaxDescriptionLen+1) + `"}`, wantField: "description"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodePatch(strings.NewReader(tc.body))
			var (
				fe *flags.FieldError
				be *BodyError
			)
			switch {
			case tc.wantBody:
				if !errors.As(err, &be) {
					t.Fatalf("err = %v (%T), want *BodyError", err, err)
				}
			case tc.wantField != "" || tc.name == "no patch":
				if !errors.As(err, &fe) || fe.Field != tc.wantField {
					t.Fatalf("err = %v (%T), want *flags.FieldError for %q", err, err, tc.wantField)
				}
			default:
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("patch (-want +got):\n%s", diff)
				}
			}
			if tc.wantMsg != "" && (err == nil || !strings.Contains(err.Error(), tc.wantMsg)) {
				t.Errorf("err = %v, want it to contain %q", err, tc.wantMsg)
			}
		})
	}
}

func TestDecodePatchTooLarge(t *testing.T) {
	body := `{"description":"` + strings.Repeat("a", MaxBodyBytes) + `"}`
	_, err := DecodePatch(http.MaxBytesReader(nil, io.NopCloser(strings.NewReader(body)), MaxBodyBytes))
	if e := classify(err); e.status != http.StatusRequestEntityTooLarge || e.code != "BODY_TOO_LARGE" {
		t.Errorf("err %v classified as %d %s, want 413 BODY_TOO_LARGE", err, e.status, e.code)
	}
}

// FuzzDecodePatch checks that the decoder never panics, that whatever it
// accepts is a valid patch that survives a round trip, and that whatever it
// rejects is a client error (400, or 413 past the limit) with a stable code.
func FuzzDecodePatch(f *testing.F) {
	for _, s := range []string{
		`{"enabled":true}`,
		`{"enabled":false,"rolloutPercentage":50,"description":"x"}`,
		`{"rolloutPercentage":101}`,
		`{"rolloutPercentage":"50"}`,
		`{"rolloutPercentage":-1e3}`,
		`{"enabled":true} {}`,
		`{"enabled":null}`,
		`{"description":"\u00e9\ud800"}`,
		`{"x":1}`,
		`{}`,
		`[]`,
		``,
		`{"enabled":true,"enabled":true}`,
		`{"description":"` + strings.Repeat("a", 2000) + `"}`,
		"{\"enabled\":true}\n\t ",
		`{"description":{"a":[1,2,{"b":null}]}}`,
	} {
		f.Add([]byte(s))
	}
	const limit = 4 << 10 // small, so the fuzzer reaches it
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodePatch(http.MaxBytesReader(nil, io.NopCloser(strings.NewReader(string(data))), limit))
		if err != nil {
			var (
				fe *flags.FieldError
				be *BodyError
			)
			if !errors.As(err, &fe) && !errors.As(err, &be) {
				t.Fatalf("error %v is %T, want *flags.FieldError or *BodyError", err, err)
			}
			e := classify(err)
			switch {
			case e.status == http.StatusBadRequest && (e.code == "INVALID_BODY" || e.code == "INVALID_FIELD"):
			case e.status == http.StatusRequestEntityTooLarge && len(data) > limit:
			default:
				t.Fatalf("error %v maps to %d %s", err, e.status, e.code)
			}
			if (e.code == "INVALID_FIELD") != (e.field != "") {
				t.Fatalf("error %v: code %s with field %q", err, e.code, e.field)
			}
			if !p.Empty() {
				t.Fatalf("error %v came with a non-empty patch %+v", err, p)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted %q but Validate says %v", data, err)
		}
		if len(data) > limit {
			t.Fatalf("accepted %d bytes past the %d byte limit", len(data), limit)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := DecodePatch(strings.NewReader(string(b)))
		if err != nil {
			t.Fatalf("re-encoded patch %s rejected: %v", b, err)
		}
		if diff := cmp.Diff(p, q); diff != "" {
			t.Fatalf("round trip of %q (-first +second):\n%s", data, diff)
		}
	})
}
