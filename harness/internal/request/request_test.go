package request

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestBuildRendersPlaceholders(t *testing.T) {
	m, err := NewMix("http://127.0.0.1:8080/", []Template{{
		Name: "update", Weight: 1, Method: "PATCH",
		Path: "/api/config/flags/{{flag}}?environment={{env}}&u={{user}}",
		Body: `{"enabled": {{bool}}, "rolloutPercentage": {{ pct }}}`,
	}}, Pools{Environments: []string{"staging"}, Flags: []string{"flag-007"}, Users: []string{"u1"}})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var buf bytes.Buffer
	req, d, err := m.Build(t.Context(), m.Pick(rng), rng, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := req.URL.String(), "http://127.0.0.1:8080/api/config/flags/flag-007?environment=staging&u=u1"; got != want {
		t.Errorf("URL %s, want %s", got, want)
	}
	body, _ := io.ReadAll(req.Body)
	if want := `{"enabled": ` + map[bool]string{true: "true", false: "false"}[d.Bool]; !strings.HasPrefix(string(body), want) {
		t.Errorf("body %s, want prefix %s", body, want)
	}
	if req.Method != "PATCH" || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("method %s content type %q", req.Method, req.Header.Get("Content-Type"))
	}
}

func TestPickFollowsWeights(t *testing.T) {
	m, err := NewMix("http://h", []Template{{Name: "a", Weight: 60, Path: "/a"}, {Name: "b", Weight: 35, Path: "/b"}, {Name: "c", Weight: 5, Path: "/c"}}, Pools{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	counts := map[string]int{}
	for range 100_000 {
		counts[m.Pick(rng).Name]++
	}
	for name, want := range map[string]int{"a": 60_000, "b": 35_000, "c": 5_000} {
		if got := counts[name]; got < want*95/100 || got > want*105/100 {
			t.Errorf("%s picked %d times of 100000, want about %d", name, got, want)
		}
	}
}

func TestMixErrors(t *testing.T) {
	for name, tt := range map[string]struct {
		target string
		ts     []Template
		pools  Pools
		want   string
	}{
		"bad target":          {"ftp://x", []Template{{Name: "a", Weight: 1, Path: "/"}}, Pools{}, "target URL"},
		"no templates":        {"http://x", nil, Pools{}, "no request templates"},
		"zero weight":         {"http://x", []Template{{Name: "a", Path: "/"}}, Pools{}, "weight must be positive"},
		"unknown placeholder": {"http://x", []Template{{Name: "a", Weight: 1, Path: "/{{nope}}"}}, Pools{}, "unknown placeholder {{nope}}"},
		"unclosed":            {"http://x", []Template{{Name: "a", Weight: 1, Path: "/{{env"}}, Pools{}, "unclosed placeholder"},
		"empty pool":          {"http://x", []Template{{Name: "a", Weight: 1, Path: "/{{flag}}"}}, Pools{}, "flags pool is empty"},
		"relative path":       {"http://x", []Template{{Name: "a", Weight: 1, Path: "x"}}, Pools{}, "must start with /"},
		"bad expect":          {"http://x", []Template{{Name: "a", Weight: 1, Path: "/", Expect: []int{42}}}, Pools{}, "not an HTTP status"},
	} {
		_, err := NewMix(tt.target, tt.ts, tt.pools)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, tt.want)
		}
	}
}

func TestExpected(t *testing.T) {
	m, _ := NewMix("http://x", []Template{{Name: "a", Weight: 1, Path: "/"}, {Name: "b", Weight: 1, Path: "/", Expect: []int{200, 412}}}, Pools{})
	def, custom := m.Templates()[0], m.Templates()[1]
	for _, tt := range []struct {
		c      *Compiled
		status int
		want   bool
	}{{def, 200, true}, {def, 304, true}, {def, 404, false}, {def, 0, false}, {custom, 412, true}, {custom, 204, false}} {
		if got := tt.c.Expected(tt.status); got != tt.want {
			t.Errorf("%s Expected(%d) = %v", tt.c.Name, tt.status, got)
		}
	}
}
