package verdict

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

const scenarioYAML = `
thresholds:
  http_req_duration: ["p(95)<50"]
  "http_req_duration{phase:outage}": ["p(95)<50", "p(99)<100"]
  http_req_failed: ["rate==0"]
  checks: [{threshold: "rate>0.99", abortOnFail: true, delayAbortEval: "10s"}]
  stale_reads:
    - count==0
    - threshold: count<1
      abortOnFail: false
  recovery_time: [&v "value<5", *v]
`

func TestSpecYAML(t *testing.T) {
	var doc struct {
		Thresholds map[string][]Spec `yaml:"thresholds"`
	}
	if err := yaml.Unmarshal([]byte(scenarioYAML), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string][]Spec{
		"http_req_duration":               {{Threshold: "p(95)<50"}},
		"http_req_duration{phase:outage}": {{Threshold: "p(95)<50"}, {Threshold: "p(99)<100"}},
		"http_req_failed":                 {{Threshold: "rate==0"}},
		"checks":                          {{Threshold: "rate>0.99", AbortOnFail: true, DelayAbortEval: 10 * time.Second}},
		"stale_reads":                     {{Threshold: "count==0"}, {Threshold: "count<1"}},
		"recovery_time":                   {{Threshold: "value<5"}, {Threshold: "value<5"}},
	}
	if diff := cmp.Diff(want, doc.Thresholds); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
	if _, err := Parse(doc.Thresholds, DefaultCatalog()); err != nil {
		t.Errorf("Parse: %v", err)
	}
}

func TestSpecYAMLErrors(t *testing.T) {
	const bad = `
thresholds:
  a: [5]
  b: [{threshold: "avg<1", abortOnFail: "yes"}]
  c: [{threshold: "avg<1", abortOnFail: true, delayAbortEval: 10}]
  d: [{threshold: "avg<1", abortOnFail: true, delayAbortEval: "10"}]
  e: [{threshold: "avg<1", abortOnfail: true}]
  f: [{abortOnFail: true}]
  g: [[avg<1]]
  h: [{threshold: [avg<1]}]
  i: [{threshold: "avg<1", abortOnFail: true, delayAbortEval: "-1s"}]
  j: [{threshold: "avg<1", threshold: "avg<2"}]
`
	var doc struct {
		Thresholds map[string][]Spec `yaml:"thresholds"`
	}
	err := yaml.Unmarshal([]byte(bad), &doc)
	if err == nil {
		t.Fatal("bad specs decoded")
	}
	for _, want := range []string{
		`line 3: threshold 5 is not a string`,
		`line 4: abortOnFail must be true or false, not "yes"`,
		`line 5: delayAbortEval must be a duration with a unit, such as "10s", not 10`,
		`line 6: delayAbortEval "10" is not a duration`,
		`line 7: unknown threshold field "abortOnfail" (want threshold, abortOnFail, delayAbortEval)`,
		`line 8: threshold mapping has no threshold field`,
		`line 9: a threshold is a string such as "p(95)<50" or a mapping`,
		`line 10: threshold must be a string`,
		`line 11: delayAbortEval "-1s" is negative`,
		`line 12: threshold field "threshold" appears twice`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestSpecJSON(t *testing.T) {
	const in = `{
		"http_req_failed": ["rate==0", null],
		"checks": [{"threshold": "rate>0.99", "abortOnFail": true, "delayAbortEval": "1m30s"}],
		"vus": [{"threshold": "value>0"}]
	}`
	var got map[string][]Spec
	if err := json.Unmarshal([]byte(in), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string][]Spec{
		"http_req_failed": {{Threshold: "rate==0"}, {}},
		"checks":          {{Threshold: "rate>0.99", AbortOnFail: true, DelayAbortEval: 90 * time.Second}},
		"vus":             {{Threshold: "value>0"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
	for _, tt := range []struct{ in, want string }{
		{`5`, "a threshold is a string"},
		{`[]`, "a threshold is a string"},
		{`{"abortOnFail": true}`, "no threshold field"},
		{`{"threshold": "avg<1", "abortOnFailure": true}`, "unknown field"},
		{`{"threshold": "avg<1", "delayAbortEval": "10"}`, "not a duration"},
		{`{"threshold": "avg<1", "delayAbortEval": 10}`, "cannot unmarshal number"},
		{`{"threshold": 5}`, "cannot unmarshal number"},
		{`"unterminated`, "unexpected end"},
	} {
		var s Spec
		if err := json.Unmarshal([]byte(tt.in), &s); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Unmarshal(%s) error %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestSpecMarshal(t *testing.T) {
	in := []Spec{
		{Threshold: "p(95)<50"},
		{Threshold: "rate>0.99", AbortOnFail: true, DelayAbortEval: 10 * time.Second},
		{Threshold: "rate>0.9", AbortOnFail: true},
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // as a report writer would, for readable < and >
	if err := enc.Encode(in); err != nil {
		t.Fatal(err)
	}
	js := bytes.TrimSpace(buf.Bytes())
	if want := `["p(95)<50",{"threshold":"rate>0.99","abortOnFail":true,"delayAbortEval":"10s"},{"threshold":"rate>0.9","abortOnFail":true}]`; string(js) != want {
		t.Errorf("JSON = %s\nwant   %s", js, want)
	}
	var back []Spec
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, back); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
	ys, err := yaml.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	back = nil
	if err := yaml.Unmarshal(ys, &back); err != nil {
		t.Fatalf("%v\n%s", err, ys)
	}
	if diff := cmp.Diff(in, back); diff != "" {
		t.Errorf("YAML round trip (-want +got):\n%s\n%s", diff, ys)
	}
}
