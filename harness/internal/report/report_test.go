package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/verdict"
	"github.com/google/go-cmp/cmp"
)

// hostile is text a scenario author could write that breaks naive
// writers: markup, quotes, ampersands, a CDATA end and a control
// character.
const hostile = `<script>alert("x")</script> & 'q' ]]> ` + "\x01"

func hostileRun(t *testing.T) Run {
	r := outageRun(t)
	r.Scenario = "outage " + hostile
	r.Description = hostile
	r.Profile = hostile
	r.Phases[1].Fault = hostile
	r.Notes = append(r.Notes, hostile)
	r.Abort = hostile
	return r
}

func write(t *testing.T, f func(*bytes.Buffer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := f(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// JUnit documents as CI tools read them.
type xTestsuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []xTestsuite `xml:"testsuite"`
}

type xTestsuite struct {
	Name       string      `xml:"name,attr"`
	Tests      int         `xml:"tests,attr"`
	Failures   int         `xml:"failures,attr"`
	Errors     int         `xml:"errors,attr"`
	Skipped    int         `xml:"skipped,attr"`
	Time       string      `xml:"time,attr"`
	Properties []xProperty `xml:"properties>property"`
	Cases      []xTestcase `xml:"testcase"`
	SystemOut  string      `xml:"system-out"`
}

type xProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type xTestcase struct {
	Classname string    `xml:"classname,attr"`
	Name      string    `xml:"name,attr"`
	Time      string    `xml:"time,attr"`
	Failure   *xProblem `xml:"failure"`
	Error     *xProblem `xml:"error"`
	Skipped   *xProblem `xml:"skipped"`
}

type xProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

func parseJUnit(t *testing.T, data []byte) xTestsuites {
	t.Helper()
	var doc xTestsuites
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("junit.xml does not parse: %v\n%s", err, data)
	}
	return doc
}

func TestJUnitParsesBack(t *testing.T) {
	run := outageRun(t)
	doc := parseJUnit(t, write(t, func(b *bytes.Buffer) error { return WriteJUnit(b, run) }))
	if len(doc.Suites) != 1 {
		t.Fatalf("got %d suites, want 1", len(doc.Suites))
	}
	s := doc.Suites[0]
	type counts struct{ Tests, Failures, Errors, Skipped int }
	want := counts{6, 1, 0, 1}
	if got := (counts{s.Tests, s.Failures, s.Errors, s.Skipped}); got != want {
		t.Errorf("suite counts %+v, want %+v", got, want)
	}
	if got := (counts{doc.Tests, doc.Failures, doc.Errors, doc.Skipped}); got != want {
		t.Errorf("testsuites counts %+v, want %+v", got, want)
	}
	if s.Name != "flagstorm: redis-outage" || s.Time != "60.000" {
		t.Errorf("suite name %q time %q", s.Name, s.Time)
	}
	var names []string
	for _, c := range s.Cases {
		names = append(names, c.Name)
		if c.Classname != "redis-outage" {
			t.Errorf("testcase %q classname %q", c.Name, c.Classname)
		}
	}
	wantNames := []string{
		"http_req_duration p(95)<50",
		"http_req_duration{phase:outage} p(95)<50",
		"http_req_duration{source:stale} p(99)<100",
		"http_req_failed rate<0.01",
		"recovery_time value<5",
		"stale_reads count==0",
	}
	if d := cmp.Diff(wantNames, names); d != "" {
		t.Errorf("testcase names (-want +got):\n%s", d)
	}
	fail := s.Cases[1].Failure
	if fail == nil || fail.Message != "observed 812.00ms, limit 50ms" || fail.Type != "threshold" {
		t.Fatalf("failure = %+v", fail)
	}
	for _, want := range []string{"limit:    p(95) < 50ms", "phase:    outage, 20s to 40s", `"http_req_duration{phase: outage}" as written`} {
		if !strings.Contains(fail.Text, want) {
			t.Errorf("failure text lacks %q:\n%s", want, fail.Text)
		}
	}
	if s.Cases[1].Time != "20.000" || s.Cases[0].Time != "60.000" {
		t.Errorf("testcase times %q, %q: want the phase's 20.000 and the run's 60.000", s.Cases[1].Time, s.Cases[0].Time)
	}
	if sk := s.Cases[2].Skipped; sk == nil || !strings.HasPrefix(sk.Message, "no data") {
		t.Errorf("no-data threshold: skipped = %+v", sk)
	}
	for i, c := range s.Cases {
		if i != 1 && c.Failure != nil || i != 2 && c.Skipped != nil || c.Error != nil {
			t.Errorf("testcase %q: unexpected %+v", c.Name, c)
		}
	}
	props := map[string]string{}
	for _, p := range s.Properties {
		props[p.Name] = p.Value
	}
	if props["verdict"] != "fail" || props["exitCode"] != "1" || props["profile"] != "seed" {
		t.Errorf("properties %v", props)
	}
	if !strings.Contains(s.SystemOut, "oracle: 8312 acknowledged writes") {
		t.Errorf("system-out %q lacks the notes", s.SystemOut)
	}
}

func TestJUnitRunProblems(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(*Run)
		wantType string
		wantMsg  string
	}{
		{"aborted", func(r *Run) {
			r.Abort = "http_req_failed rate<0.01 failed at 12s (observed 0.05)"
			r.Duration = 12 * time.Second
		}, "aborted", "aborted: http_req_failed rate<0.01 failed at 12s (observed 0.05)"},
		{"interrupted", func(r *Run) {
			r.Verdict, r.ExitCode, r.Duration = VerdictInterrupted, 130, 34200*time.Millisecond
		}, "interrupted", "interrupted after 34.2s; thresholds were judged on partial data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := outageRun(t)
			tt.edit(&run)
			doc := parseJUnit(t, write(t, func(b *bytes.Buffer) error { return WriteJUnit(b, run) }))
			s := doc.Suites[0]
			if s.Tests != 7 || s.Errors != 1 || doc.Errors != 1 {
				t.Errorf("tests=%d errors=%d (testsuites errors=%d), want 7 and 1", s.Tests, s.Errors, doc.Errors)
			}
			last := s.Cases[len(s.Cases)-1]
			if last.Name != "run completed" || last.Error == nil {
				t.Fatalf("last testcase %+v, want the run's error", last)
			}
			if last.Error.Type != tt.wantType || last.Error.Message != tt.wantMsg {
				t.Errorf("error type %q message %q, want %q %q", last.Error.Type, last.Error.Message, tt.wantType, tt.wantMsg)
			}
		})
	}
}

func TestJUnitEscapes(t *testing.T) {
	run := hostileRun(t)
	doc := parseJUnit(t, write(t, func(b *bytes.Buffer) error { return WriteJUnit(b, run) }))
	s := doc.Suites[0]
	clean := strings.ReplaceAll(hostile, "\x01", "\uFFFD")
	if want := "flagstorm: outage " + clean; s.Name != want {
		t.Errorf("suite name %q, want %q", s.Name, want)
	}
	if s.Cases[0].Classname != "outage "+clean {
		t.Errorf("classname %q", s.Cases[0].Classname)
	}
	if !strings.Contains(s.Cases[1].Failure.Text, clean) {
		t.Errorf("failure text lost the fault: %q", s.Cases[1].Failure.Text)
	}
	if !strings.Contains(s.SystemOut, clean) {
		t.Errorf("system-out lost a note: %q", s.SystemOut)
	}
}

// summary.json as a reader sees it.
type xSummary struct {
	RootGroup struct {
		Checks []any `json:"checks"`
	} `json:"root_group"`
	State struct {
		TestRunDurationMs float64 `json:"testRunDurationMs"`
	} `json:"state"`
	Metrics map[string]struct {
		Type       string              `json:"type"`
		Contains   string              `json:"contains"`
		Unit       string              `json:"unit"`
		Values     map[string]*float64 `json:"values"`
		Thresholds map[string]struct {
			OK      bool   `json:"ok"`
			Verdict string `json:"verdict"`
		} `json:"thresholds"`
	} `json:"metrics"`
	Flagstorm struct {
		SchemaVersion int    `json:"schemaVersion"`
		Scenario      string `json:"scenario"`
		Verdict       string `json:"verdict"`
		ExitCode      int    `json:"exitCode"`
		Start         string `json:"start"`
		DurationMs    float64
		Phases        []struct {
			Name    string  `json:"name"`
			StartMs float64 `json:"startMs"`
			EndMs   float64 `json:"endMs"`
			Fault   string  `json:"fault"`
			Applied *string `json:"applied"`
			Removed *string `json:"removed"`
		} `json:"phases"`
		Thresholds []struct {
			Key          string   `json:"key"`
			Submetric    string   `json:"submetric"`
			Expr         string   `json:"expr"`
			Verdict      string   `json:"verdict"`
			Observed     *float64 `json:"observed"`
			ObservedText string   `json:"observedText"`
			Limit        float64  `json:"limit"`
			Unit         string   `json:"unit"`
			AbortOnFail  bool     `json:"abortOnFail"`
		} `json:"thresholds"`
		Series []struct {
			Second   int     `json:"second"`
			Requests int64   `json:"requests"`
			Failed   int64   `json:"failed"`
			P95Ms    float64 `json:"p95Ms"`
		} `json:"series"`
		Notes []string `json:"notes"`
	} `json:"flagstorm"`
}

func TestJSONParsesBack(t *testing.T) {
	run := outageRun(t)
	data := write(t, func(b *bytes.Buffer) error { return WriteJSON(b, run) })
	var s xSummary
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("summary.json does not parse: %v", err)
	}
	if !bytes.Contains(data, []byte(`"p(95)<50"`)) || bytes.Contains(data, []byte(`\u003c`)) {
		t.Error(`"<" is escaped; want it as it is`)
	}
	if s.State.TestRunDurationMs != 60000 || s.RootGroup.Checks == nil {
		t.Errorf("state %+v root_group checks %v", s.State, s.RootGroup.Checks)
	}
	d := s.Metrics["http_req_duration"]
	if d.Type != "trend" || d.Contains != "time" || d.Unit != "ms" || *d.Values["p(95)"] != 7.12 {
		t.Errorf("http_req_duration = %+v", d)
	}
	if th := d.Thresholds["p(95)<50"]; !th.OK || th.Verdict != "pass" {
		t.Errorf("http_req_duration thresholds %+v", d.Thresholds)
	}
	if th := s.Metrics["http_req_duration{phase:outage}"].Thresholds["p(95)<50"]; th.OK || th.Verdict != "fail" {
		t.Errorf("outage threshold %+v, want not ok, fail", th)
	}
	stale, ok := s.Metrics["http_req_duration{source:stale}"]
	if !ok || len(stale.Values) != 0 || stale.Thresholds["p(99)<100"].OK || stale.Thresholds["p(99)<100"].Verdict != "nodata" {
		t.Errorf("no-data submetric = %+v (present %v)", stale, ok)
	}
	if m := s.Metrics["recovery_time"]; m.Contains != "default" || m.Unit != "s" {
		t.Errorf("recovery_time contains %q unit %q: seconds are not k6's time", m.Contains, m.Unit)
	}
	if m := s.Metrics["data_received"]; m.Contains != "data" || m.Type != "counter" {
		t.Errorf("data_received = %+v", m)
	}

	f := s.Flagstorm
	if f.SchemaVersion != SchemaVersion || f.Scenario != "redis-outage" || f.Verdict != "fail" || f.ExitCode != 1 || f.Start != "2025-06-03T09:14:07Z" {
		t.Errorf("flagstorm header = %+v", f)
	}
	if len(f.Phases) != 3 || f.Phases[1].StartMs != 20000 || f.Phases[1].Applied == nil || *f.Phases[1].Applied != "2025-06-03T09:14:27.004Z" || f.Phases[0].Applied != nil {
		t.Errorf("phases = %+v", f.Phases)
	}
	if len(f.Thresholds) != 6 {
		t.Fatalf("%d thresholds, want 6", len(f.Thresholds))
	}
	out := f.Thresholds[1]
	if out.Key != "http_req_duration{phase: outage}" || out.Submetric != "http_req_duration{phase:outage}" || out.Expr != "p(95)<50" ||
		out.Verdict != "fail" || out.Observed == nil || *out.Observed != 812 || out.ObservedText != "812.00ms" || out.Limit != 50 || out.Unit != "ms" {
		t.Errorf("outage threshold = %+v", out)
	}
	if nd := f.Thresholds[2]; nd.Verdict != "nodata" || nd.Observed != nil || nd.ObservedText != "no data" {
		t.Errorf("no-data threshold = %+v", nd)
	}
	if !f.Thresholds[3].AbortOnFail {
		t.Error("http_req_failed lost abortOnFail")
	}
	if len(f.Series) != 60 || f.Series[25].P95Ms < 700 || f.Series[25].Requests > 200 {
		t.Errorf("series: %d points, second 25 = %+v", len(f.Series), f.Series[25])
	}
	if len(f.Notes) != 2 {
		t.Errorf("notes %q", f.Notes)
	}
}

func TestJSONNonFiniteIsNull(t *testing.T) {
	run := Run{Scenario: "x", Metrics: []Metric{{Name: "g", Kind: "gauge", Values: map[string]float64{
		"value": math.NaN(), "min": math.Inf(1), "max": math.Inf(-1),
	}}}}
	data := write(t, func(b *bytes.Buffer) error { return WriteJSON(b, run) })
	var s xSummary
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	for k, v := range s.Metrics["g"].Values {
		if v != nil {
			t.Errorf("%s = %v, want null", k, *v)
		}
	}
	// An empty run still has arrays, not nulls, where lists go.
	if !bytes.Contains(data, []byte(`"phases": []`)) || !bytes.Contains(data, []byte(`"thresholds": []`)) {
		t.Errorf("empty lists are not []:\n%s", data)
	}
}

func TestJSONEscapes(t *testing.T) {
	run := hostileRun(t)
	data := write(t, func(b *bytes.Buffer) error { return WriteJSON(b, run) })
	var s xSummary
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("does not parse: %v", err)
	}
	if s.Flagstorm.Scenario != "outage "+hostile {
		t.Errorf("scenario %q did not survive", s.Flagstorm.Scenario)
	}
}

// network matches what would make a browser fetch: a URL in src, href,
// action and the like, CSS url() or @import, a <link>, a script with a
// source, or an xlink reference.
var network = regexp.MustCompile(`(?i)(\b(src|href|action|poster|srcset|data|formaction|background|xlink:href)\s*=\s*["']?\s*(https?:)?//|url\(|@import|<link\b|<script\b|<iframe\b|<object\b|<embed\b|<img\b)`)

func TestNetworkPatternCatchesFetches(t *testing.T) {
	for _, s := range []string{
		`<img src="https://x/a.png">`, `<a href="//cdn.example/y">`, `style="background:url(http://x)"`,
		`<link rel=stylesheet href=x.css>`, `<script src="a.js"></script>`, `@import "x.css";`,
	} {
		if !network.MatchString(s) {
			t.Errorf("network pattern misses %q", s)
		}
	}
	if s := `<dd class="mono">http://127.0.0.1:18080</dd>`; network.MatchString(s) {
		t.Errorf("network pattern flags text: %q", s)
	}
}

func TestHTMLSelfContained(t *testing.T) {
	data := write(t, func(b *bytes.Buffer) error { return WriteHTML(b, outageRun(t)) })
	if m := network.FindAll(data, -1); len(m) > 0 {
		t.Errorf("report.html references the network: %q", m)
	}
	// URLs may appear only as text: the target's URL in the header.
	for _, loc := range regexp.MustCompile(`https?://`).FindAllIndex(data, -1) {
		before := data[max(0, loc[0]-40):loc[0]]
		if i := bytes.LastIndexAny(before, "<>"); i < 0 || before[i] != '>' {
			t.Errorf("URL inside a tag, not text: %q", data[max(0, loc[0]-40):min(len(data), loc[1]+20)])
		}
	}
	for _, want := range []string{
		"<svg", "redis: blackhole (timeout toxic, timeout 0)", "812.00ms", "NO DATA",
		`class="band"`, `class="series p95"`, `class="series errs"`, "p(95) &lt; 50ms",
	} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}

func TestHTMLEscapes(t *testing.T) {
	data := write(t, func(b *bytes.Buffer) error { return WriteHTML(b, hostileRun(t)) })
	if bytes.Contains(data, []byte(`<script>`)) {
		t.Error("user text reached the page as markup")
	}
	if !bytes.Contains(data, []byte(`&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`)) {
		t.Error("user text is missing or escaped differently than expected")
	}
}

func TestSummaryVerdictLine(t *testing.T) {
	tr := func(key, expr string) verdict.Threshold {
		metric, tags, err := verdict.ParseKey(key)
		if err != nil {
			t.Fatal(err)
		}
		e, err := verdict.ParseExpr(expr)
		if err != nil {
			t.Fatal(err)
		}
		cat := verdict.DefaultCatalog().Metrics[metric]
		return verdict.Threshold{Key: key, Metric: metric, Tags: tags, Type: cat.Type, Unit: cat.Unit, Expr: e}
	}
	// Observed values by submetric; a submetric not listed has no data.
	observed := map[string]float64{
		"http_req_duration":               7.1,
		"http_req_duration{phase:outage}": 812,
		"http_req_failed":                 0.0125,
	}
	stats := verdict.StatsFunc(func(metric string, sel verdict.Tags, _ verdict.Agg) (float64, bool) {
		v, ok := observed[metric+sel.String()]
		return v, ok
	})
	pass := tr("http_req_duration", "p(95)<50")
	fail := tr("http_req_duration{phase:outage}", "p(95)<50")
	fail2 := tr("http_req_failed", "rate==0")
	nodata := tr("http_req_duration{phase:recovery}", "p(95)<50")
	sum := func(ts ...verdict.Threshold) verdict.Summary { return verdict.EvaluateAll(ts, stats) }
	tests := []struct {
		name string
		run  Run
		want string
	}{
		{"pass", Run{Verdict: VerdictPass, Thresholds: sum(pass, pass)}, "PASS: 2 of 2 thresholds passed"},
		{"no thresholds", Run{Verdict: VerdictPass}, "PASS: no thresholds to judge"},
		{"fail", Run{Verdict: VerdictFail, Thresholds: sum(pass, fail, fail2)},
			"FAIL: 2 of 3 thresholds failed: http_req_duration{phase:outage} p(95)<50 (observed 812.00ms), http_req_failed rate==0 (observed 0.0125 (1.25%))"},
		{"fail and no data", Run{Verdict: VerdictFail, Thresholds: sum(fail, nodata)},
			"FAIL: 1 of 2 thresholds failed: http_req_duration{phase:outage} p(95)<50 (observed 812.00ms); 1 had no data"},
		{"aborted", Run{Verdict: VerdictFail, Abort: "http_req_failed rate==0 failed at 12s", Thresholds: sum(fail2)},
			"FAIL: aborted: http_req_failed rate==0 failed at 12s; 1 of 1 threshold failed: http_req_failed rate==0 (observed 0.0125 (1.25%))"},
		{"inconclusive", Run{Verdict: VerdictInconclusive, Thresholds: sum(pass, nodata)},
			"INCONCLUSIVE: 1 of 2 thresholds had no data: http_req_duration{phase:recovery} p(95)<50; 1 passed"},
		{"interrupted", Run{Verdict: VerdictInterrupted, Duration: 34200 * time.Millisecond, Thresholds: sum(pass, fail, nodata)},
			"INTERRUPTED after 34.2s: thresholds judged on partial data: 1 passed, 1 failed, 1 had no data: http_req_duration{phase:outage} p(95)<50 (observed 812.00ms)"},
		{"interrupted early", Run{Verdict: VerdictInterrupted, Duration: 2 * time.Second}, "INTERRUPTED after 2s"},
		{"derived from thresholds", Run{Thresholds: sum(pass, nodata)},
			"INCONCLUSIVE: 1 of 2 thresholds had no data: http_req_duration{phase:recovery} p(95)<50; 1 passed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := string(write(t, func(b *bytes.Buffer) error { return WriteSummary(b, tt.run, SummaryOptions{}) }))
			lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
			if got := lines[len(lines)-1]; got != tt.want {
				t.Errorf("verdict line\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestSummaryColor(t *testing.T) {
	run := outageRun(t)
	plain := string(write(t, func(b *bytes.Buffer) error { return WriteSummary(b, run, SummaryOptions{}) }))
	if strings.Contains(plain, "\x1b") {
		t.Error("plain summary has escape codes")
	}
	color := string(write(t, func(b *bytes.Buffer) error { return WriteSummary(b, run, SummaryOptions{Color: true}) }))
	for _, want := range []string{ansiGreen + "✓" + ansiReset, ansiRed + "✗" + ansiReset, ansiYellow + "?" + ansiReset, ansiBold + ansiRed + "FAIL: "} {
		if !strings.Contains(color, want) {
			t.Errorf("colored summary lacks %q", want)
		}
	}
	stripped := regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(color, "")
	if stripped != plain {
		t.Errorf("color changes more than colors (-plain +color):\n%s", cmp.Diff(plain, stripped))
	}
}

func TestSummaryWidthCapsNameColumn(t *testing.T) {
	run := Run{Metrics: []Metric{{Name: "http_req_duration", Submetric: "{name:a-very-long-request-name,phase:outage,source:db-fallback}", Kind: "trend", Unit: "ms", Values: map[string]float64{"avg": 1}}}}
	out := string(write(t, func(b *bytes.Buffer) error { return WriteSummary(b, run, SummaryOptions{Width: 60}) }))
	want := "    http_req_duration{name:a-very-long-request-name,phase:outage,source:db-fallback}: avg=1.00ms\n"
	if !strings.Contains(out, want) {
		t.Errorf("want %q in:\n%s", want, out)
	}
}

func TestEmptyRun(t *testing.T) {
	run := Run{Scenario: "empty"}
	for name, f := range map[string]func(*bytes.Buffer) error{
		"summary": func(b *bytes.Buffer) error { return WriteSummary(b, run, SummaryOptions{}) },
		"json":    func(b *bytes.Buffer) error { return WriteJSON(b, run) },
		"junit":   func(b *bytes.Buffer) error { return WriteJUnit(b, run) },
		"html":    func(b *bytes.Buffer) error { return WriteHTML(b, run) },
	} {
		t.Run(name, func(t *testing.T) {
			if out := write(t, f); len(out) == 0 {
				t.Error("no output")
			}
		})
	}
	doc := parseJUnit(t, write(t, func(b *bytes.Buffer) error { return WriteJUnit(b, run) }))
	if doc.Tests != 0 || len(doc.Suites) != 1 {
		t.Errorf("empty run: %+v", doc)
	}
	html := string(write(t, func(b *bytes.Buffer) error { return WriteHTML(b, run) }))
	if !strings.Contains(html, "No requests were recorded.") {
		t.Error("an empty chart does not say so")
	}
}

func TestFaultWindow(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	p := Phase{Name: "outage", Start: 20 * time.Second, End: 40 * time.Second, Fault: "redis blackhole"}
	tests := []struct {
		name             string
		run              Run
		phase            Phase
		wantFrom, wantTo time.Duration
		wantOK           bool
	}{
		{"no fault", Run{Start: start}, Phase{Start: 0, End: 20 * time.Second}, 0, 0, false},
		{"planned when not recorded", Run{Start: start}, p, 20 * time.Second, 40 * time.Second, true},
		{"as applied and removed", Run{Start: start}, func() Phase {
			q := p
			q.Applied, q.Removed = start.Add(20100*time.Millisecond), start.Add(40200*time.Millisecond)
			return q
		}(), 20100 * time.Millisecond, 40200 * time.Millisecond, true},
		{"still on at the end", Run{Start: start, Duration: 31 * time.Second}, func() Phase {
			q := p
			q.Applied = start.Add(20 * time.Second)
			return q
		}(), 20 * time.Second, 31 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, to, ok := tt.run.faultWindow(tt.phase)
			if from != tt.wantFrom || to != tt.wantTo || ok != tt.wantOK {
				t.Errorf("got %v..%v %v, want %v..%v %v", from, to, ok, tt.wantFrom, tt.wantTo, tt.wantOK)
			}
		})
	}
}

// An inconclusive threshold carries its reason into every report: the
// summary line, JSON's reason, JUnit's skipped message and the HTML note.
func TestInconclusiveReasonInEveryReport(t *testing.T) {
	r := outageRun(t)
	const why = "no oracle ran: the harness is not the only writer"
	res := &r.Thresholds.Results[0]
	res.NoData, res.Pass, res.Observed, res.Reason = true, false, 0, why
	r.Thresholds = verdict.Tally(r.Thresholds.Results)
	r.Verdict = VerdictInconclusive
	for name, write := range map[string]func(io.Writer, Run) error{
		"summary": func(w io.Writer, r Run) error { return WriteSummary(w, r, SummaryOptions{}) },
		"json":    WriteJSON, "junit": WriteJUnit, "html": WriteHTML,
	} {
		var b bytes.Buffer
		if err := write(&b, r); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), why) {
			t.Errorf("%s lacks the reason %q", name, why)
		}
	}
}
