package request

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestRenderFillsPlaceholders(t *testing.T) {
	m, err := NewMix([]string{"http://127.0.0.1:8080/prefix/"}, []Template{{
		Name: "update", Weight: 1, Method: "PATCH",
		Path: "/api/config/flags/{{flag}}?environment={{env}}&u={{user}}",
		Body: `{"enabled": {{bool}}, "rolloutPercentage": {{ pct }}}`,
	}}, Pools{Environments: []string{"staging"}, Flags: []string{"flag-007"}, Users: []string{"u1"}})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var out Outgoing
	for range 3 { // buffers are reused: every render starts afresh
		m.Render(m.Pick(rng), rng, &out)
	}
	if got, want := out.URL(), "http://127.0.0.1:8080/prefix/api/config/flags/flag-007?environment=staging&u=u1"; got != want {
		t.Errorf("URL %s, want %s", got, want)
	}
	want := fmt.Sprintf(`{"enabled": %t, "rolloutPercentage": %d}`, out.Drawn.Bool, out.Drawn.Pct)
	if string(out.Body) != want {
		t.Errorf("body %s, want %s", out.Body, want)
	}
	head := string(out.appendHead(nil))
	for _, line := range []string{
		"PATCH /prefix/api/config/flags/flag-007?environment=staging&u=u1 HTTP/1.1\r\n",
		"Host: 127.0.0.1:8080\r\n",
		"Content-Type: application/json\r\n",
		"User-Agent: flagstorm\r\n",
		fmt.Sprintf("Content-Length: %d\r\n", len(want)),
	} {
		if !strings.Contains(head, line) {
			t.Errorf("request head lacks %q:\n%s", line, head)
		}
	}
	if !strings.HasSuffix(head, "\r\n\r\n") {
		t.Errorf("request head does not end with an empty line:\n%q", head)
	}
}

func TestRenderSpreadsOverTargets(t *testing.T) {
	m, err := NewMix([]string{"http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"},
		[]Template{{Name: "a", Weight: 1, Path: "/"}}, Pools{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	counts := map[string]int{}
	var out Outgoing
	for range 30_000 {
		m.Render(m.Templates()[0], rng, &out)
		counts[out.Target.String()]++
	}
	for _, target := range m.Targets() {
		if got := counts[target.String()]; got < 9_500 || got > 10_500 {
			t.Errorf("%s got %d of 30000 requests, want about 10000", target, got)
		}
	}
}

func TestPickFollowsWeights(t *testing.T) {
	m, err := NewMix([]string{"http://h"}, []Template{{Name: "a", Weight: 60, Path: "/a"}, {Name: "b", Weight: 35, Path: "/b"}, {Name: "c", Weight: 5, Path: "/c"}}, Pools{})
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
		"target with query":   {"http://x/?a=1", []Template{{Name: "a", Weight: 1, Path: "/"}}, Pools{}, "target URL"},
		"space in path":       {"http://x", []Template{{Name: "a", Weight: 1, Path: "/a b"}}, Pools{}, "percent-encoded"},
		"bad method":          {"http://x", []Template{{Name: "a", Weight: 1, Method: "GET X", Path: "/"}}, Pools{}, "not an HTTP method"},
		"header injection":    {"http://x", []Template{{Name: "a", Weight: 1, Path: "/", Headers: map[string]string{"X": "a\r\nEvil: 1"}}}, Pools{}, "not a valid header"},
		"client header":       {"http://x", []Template{{Name: "a", Weight: 1, Path: "/", Headers: map[string]string{"content-length": "3"}}}, Pools{}, "set by the client"},
	} {
		_, err := NewMix([]string{tt.target}, tt.ts, tt.pools)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, tt.want)
		}
	}
}

func TestExpected(t *testing.T) {
	m, _ := NewMix([]string{"http://x"}, []Template{{Name: "a", Weight: 1, Path: "/"}, {Name: "b", Weight: 1, Path: "/", Expect: []int{200, 412}}}, Pools{})
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

// {{nonce}} renders a token no other request of the mix has.
func TestRenderNonce(t *testing.T) {
	m, err := NewMix([]string{"http://x"}, []Template{{Name: "w", Weight: 1, Method: "PATCH", Path: "/f", Body: `{"description": "{{nonce}}"}`}}, Pools{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	var out Outgoing
	for range 100 {
		m.Render(m.templates[0], rng, &out)
		body := string(out.Body)
		if !strings.HasPrefix(body, `{"description": "fs-`) || seen[body] {
			t.Fatalf("body %s: not a fresh nonce", body)
		}
		seen[body] = true
	}
}
