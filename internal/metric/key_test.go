package metric

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseKey(t *testing.T) {
	tests := []struct {
		name   string
		key    string
		metric string
		tags   Tags
		canon  string
	}{
		{"bare metric", "http_req_duration", "http_req_duration", nil, "http_req_duration"},
		{"surrounding space", "  stale_reads \t", "stale_reads", nil, "stale_reads"},
		{"one tag", "http_req_duration{phase:outage}", "http_req_duration", Tags{{"phase", "outage"}}, "http_req_duration{phase:outage}"},
		{"tags sorted", "http_req_duration{source:db,phase:outage}", "http_req_duration",
			Tags{{"phase", "outage"}, {"source", "db"}}, "http_req_duration{phase:outage,source:db}"},
		{"whitespace everywhere", "  http_req_duration { name : get , source:\tdb-fallback }  ", "http_req_duration",
			Tags{{"name", "get"}, {"source", "db-fallback"}}, "http_req_duration{name:get,source:db-fallback}"},
		{"value split at first colon", "checks{url:http://x:8080/a}", "checks", Tags{{"url", "http://x:8080/a"}}, "checks{url:http://x:8080/a}"},
		{"double-quoted value", `checks{name:"get one"}`, "checks", Tags{{"name", "get one"}}, "checks{name:get one}"},
		{"single-quoted value", `checks{name:'get'}`, "checks", Tags{{"name", "get"}}, "checks{name:get}"},
		{"underscore start", "_x", "_x", nil, "_x"},
		{"128 characters", strings.Repeat("a", 128), strings.Repeat("a", 128), nil, strings.Repeat("a", 128)},
		{"dotted tag name", "m{tag.sub-name:v}", "m", Tags{{"tag.sub-name", "v"}}, "m{tag.sub-name:v}"},
		{"unicode value", "m{name:café}", "m", Tags{{"name", "café"}}, "m{name:café}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			metric, tags, err := ParseKey(tt.key)
			if err != nil {
				t.Fatalf("ParseKey(%q): %v", tt.key, err)
			}
			if metric != tt.metric {
				t.Errorf("metric = %q, want %q", metric, tt.metric)
			}
			if diff := cmp.Diff(tt.tags, tags); diff != "" {
				t.Errorf("tags (-want +got):\n%s", diff)
			}
			if got := metric + tags.String(); got != tt.canon {
				t.Errorf("canonical = %q, want %q", got, tt.canon)
			}
		})
	}
}

// TestParseKeyErrors holds every error of the two parsers this one
// replaces (the harness's verdict.ParseKey and the scenario validator's
// parseKey), with the full message.
func TestParseKeyErrors(t *testing.T) {
	long := strings.Repeat("a", 129)
	tests := []struct {
		name string
		key  string
		want string // the whole message
	}{
		{"empty", "", "missing metric name"},
		{"blank", "  ", "missing metric name"},
		{"only selector", "{phase:outage}", "missing metric name"},
		{"starts with digit", "1metric", `invalid metric name "1metric": names are letters, digits and _ and do not start with a digit`},
		{"dash in name", "http-req", `invalid metric name "http-req": names are letters, digits and _ and do not start with a digit`},
		{"space in name", "http req", `invalid metric name "http req": names are letters, digits and _ and do not start with a digit`},
		{"dot in metric name", "http.req", `invalid metric name "http.req": names are letters, digits and _ and do not start with a digit`},
		{"long invalid name quoted short", "-" + strings.Repeat("a", 60), `invalid metric name "-` + strings.Repeat("a", 39) + `...": names are letters, digits and _ and do not start with a digit`},
		{"too long", long, "metric name is 129 characters long; at most 128 are allowed"},
		{"unclosed", "m{phase:outage", "unbalanced braces: '{' without '}'"},
		{"unopened", "m}", "unbalanced braces: '}' without '{'"},
		{"close before open", "m}{a:b}", "unbalanced braces: '}' without '{'"},
		{"nested", "m{a:{b}}", "unbalanced braces in the tag selector (selectors do not nest)"},
		{"double close", "m{a:b}}", "unbalanced braces in the tag selector (selectors do not nest)"},
		{"trailing garbage", "m{a:b}x", `unexpected "x" after the tag selector`},
		{"two selectors", "m{a:b}{c:d}", "unbalanced braces in the tag selector (selectors do not nest)"},
		{"empty selector", "m{}", "empty tag selector {}: name a tag, as in m{phase:outage}, or drop the braces"},
		{"blank selector", "m{  }", "empty tag selector {}: name a tag, as in m{phase:outage}, or drop the braces"},
		{"no colon", "m{phase}", `tag "phase" has no value: write name:value`},
		{"stray comma", "m{a:b,}", "empty tag in the selector (a stray ',')"},
		{"leading comma", "m{,a:b}", "empty tag in the selector (a stray ',')"},
		{"empty name", "m{:b}", "empty tag name: write name:value"},
		{"bad tag name", "m{1a:b}", `invalid tag name "1a": names are letters, digits, _, . and - and do not start with a digit`},
		{"space in tag name", "m{a b:c}", `invalid tag name "a b": names are letters, digits, _, . and - and do not start with a digit`},
		{"tag name too long", "m{" + long + ":v}", "tag name is 129 characters long; at most 128 are allowed"},
		{"empty value", "m{a:}", `tag "a" has an empty value`},
		{"empty quoted value", `m{a:""}`, `tag "a" has an empty value`},
		{"duplicate", "m{a:b, a:c}", `tag "a" is selected twice`},
		{"quote inside value", `m{a:b"c}`, `tag "a": value "b\"c" has a quote or control character`},
		{"unmatched quote", `m{a:'b}`, `tag "a": value "'b" has a quote or control character`},
		{"control in value", "m{a:b\x01c}", `tag "a": value "b\x01c" has a quote or control character`},
		{"delete in value", "m{a:b\x7fc}", `tag "a": value "b\x7fc" has a quote or control character`},
		{"edge space in quotes", `m{a:" b"}`, `tag "a": value " b" starts or ends with a space`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, tags, err := ParseKey(tt.key)
			if err == nil {
				t.Fatalf("ParseKey(%q) = %q %v, nil error; want %q", tt.key, name, tags, tt.want)
			}
			var ke *KeyError
			if !errors.As(err, &ke) || ke.Key != tt.key {
				t.Fatalf("ParseKey(%q) error %#v, want a *KeyError for the key", tt.key, err)
			}
			if ke.Msg != tt.want {
				t.Errorf("ParseKey(%q) message\n got %q\nwant %q", tt.key, ke.Msg, tt.want)
			}
			if want := fmt.Sprintf("metric: threshold key %q: %s", tt.key, tt.want); err.Error() != want {
				t.Errorf("Error() = %q, want %q", err, want)
			}
		})
	}
}

func TestTags(t *testing.T) {
	tags := Tags{{"phase", "outage"}, {"source", "db"}}
	if v, ok := tags.Get("source"); !ok || v != "db" {
		t.Errorf("Get(source) = %q, %v", v, ok)
	}
	if _, ok := tags.Get("name"); ok {
		t.Error("Get(name) found a tag that is not there")
	}
	if diff := cmp.Diff(map[string]string{"phase": "outage", "source": "db"}, tags.Map()); diff != "" {
		t.Errorf("Map (-want +got):\n%s", diff)
	}
	if Tags(nil).Map() != nil {
		t.Error("empty Tags.Map is not nil")
	}
	for _, tt := range []struct {
		sample map[string]string
		want   bool
	}{
		{map[string]string{"phase": "outage", "source": "db", "name": "get"}, true},
		{map[string]string{"phase": "outage", "source": "redis"}, false},
		{map[string]string{"phase": "outage"}, false},
		{nil, false},
	} {
		if got := tags.Matches(tt.sample); got != tt.want {
			t.Errorf("Matches(%v) = %v, want %v", tt.sample, got, tt.want)
		}
	}
	if !Tags(nil).Matches(nil) {
		t.Error("the empty selector does not match everything")
	}
}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{
		"http_req_duration", "http_req_duration{phase:outage}", "m{ a : b , c:'d' }", `m{a:"x:y"}`,
		"m{", "m}", "m{a:b,}", "{}", "m{a:b}{c:d}", "m{a:b\x00}", "m{a:\u00a0b}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		metric, tags, err := ParseKey(key)
		if err != nil {
			return
		}
		canon := metric + tags.String()
		metric2, tags2, err := ParseKey(canon)
		if err != nil {
			t.Fatalf("canonical %q of %q does not parse: %v", canon, key, err)
		}
		if metric2 != metric || !cmp.Equal(tags, tags2) {
			t.Fatalf("%q -> %q -> %q %v", key, canon, metric2, tags2)
		}
		for i := 1; i < len(tags); i++ {
			if tags[i-1].Name >= tags[i].Name {
				t.Fatalf("tags of %q not sorted and unique: %v", key, tags)
			}
		}
	})
}
