package dashboards

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flagstorm/flagstorm/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite grafana/dashboards/*.json from definitions.go")

func TestMain(m *testing.M) { testenv.Main(m) }

// TestGenerated: the committed dashboard JSON is what definitions.go
// renders (go test ./dashboards -run TestGenerated -update rewrites it),
// and no other JSON file sits beside it.
func TestGenerated(t *testing.T) {
	var want []string
	for _, d := range all() {
		want = append(want, d.File)
		b, err := d.render()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.FromSlash(dashboardPath(d.File))
		if *update {
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (run go test ./dashboards -run TestGenerated -update)", err)
		}
		if !bytes.Equal(got, b) {
			t.Errorf("%s is not what definitions.go renders (run go test ./dashboards -run TestGenerated -update):\n%s", p, cmp.Diff(string(b), string(got)))
		}
	}
	files, _ := filepath.Glob(filepath.FromSlash("grafana/dashboards/*.json"))
	for _, f := range files {
		if !slices.Contains(want, filepath.Base(f)) {
			t.Errorf("%s is not rendered by definitions.go: add it there or remove it", f)
		}
	}
}

// TestDashboardShape checks what Grafana needs of every dashboard: a
// unique uid and title, unique panel ids, panels inside the 24-column
// grid without overlapping, every panel and annotation on the data source
// variable, and every variable used defined.
func TestDashboardShape(t *testing.T) {
	uids := map[string]string{}
	for _, d := range all() {
		t.Run(d.File, func(t *testing.T) {
			b, err := fs.ReadFile(Files(), dashboardPath(d.File))
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				UID    string `json:"uid"`
				Title  string `json:"title"`
				Panels []struct {
					ID         int               `json:"id"`
					Type       string            `json:"type"`
					Title      string            `json:"title"`
					Datasource map[string]string `json:"datasource"`
					GridPos    struct{ H, W, X, Y int }
					Targets    []struct {
						Expr       string            `json:"expr"`
						Datasource map[string]string `json:"datasource"`
					} `json:"targets"`
				} `json:"panels"`
				Templating struct {
					List []struct {
						Name string `json:"name"`
					} `json:"list"`
				} `json:"templating"`
			}
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			if doc.UID == "" || doc.Title == "" {
				t.Fatalf("uid %q title %q: both are required", doc.UID, doc.Title)
			}
			if other, ok := uids[doc.UID]; ok {
				t.Errorf("uid %q is also %s's", doc.UID, other)
			}
			uids[doc.UID] = d.File
			vars := []string{"__rate_interval", "__interval", "__range"}
			for _, v := range doc.Templating.List {
				vars = append(vars, v.Name)
			}
			ids := map[int]bool{}
			occupied := map[[2]int]string{}
			for _, p := range doc.Panels {
				if ids[p.ID] {
					t.Errorf("panel %q: id %d used twice", p.Title, p.ID)
				}
				ids[p.ID] = true
				g := p.GridPos
				if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
					t.Errorf("panel %q: gridPos %+v is outside the 24-column grid", p.Title, g)
				}
				for x := g.X; x < g.X+g.W; x++ {
					for y := g.Y; y < g.Y+g.H; y++ {
						if o, ok := occupied[[2]int{x, y}]; ok {
							t.Errorf("panel %q overlaps %q at (%d,%d)", p.Title, o, x, y)
						}
						occupied[[2]int{x, y}] = p.Title
					}
				}
				if p.Type == "row" {
					continue
				}
				if p.Datasource["uid"] != "${datasource}" {
					t.Errorf("panel %q: datasource %v, want the ${datasource} variable", p.Title, p.Datasource)
				}
				for _, tg := range p.Targets {
					for _, m := range grafanaVar.FindAllString(tg.Expr, -1) {
						name := strings.Trim(m, "${}")
						name, _, _ = strings.Cut(name, ":")
						if !slices.Contains(vars, name) {
							t.Errorf("panel %q uses %s, which the dashboard does not define", p.Title, m)
						}
					}
				}
			}
		})
	}
}

// TestQueriesParse runs every query through promtool's parser: each one,
// with Grafana's variables expanded, becomes a recording rule of a
// throwaway rule file that promtool check rules must accept.
func TestQueriesParse(t *testing.T) {
	promtool := needPromtool(t)
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[Kind]int{}
	var b strings.Builder
	b.WriteString("groups:\n  - name: every-query\n    rules:\n")
	for i, q := range qs {
		counts[q.Kind]++
		expr, _ := json.Marshal(Expand(q.Expr, "1m"))
		fmt.Fprintf(&b, "      - record: query_%d\n        expr: %s\n", i, expr)
	}
	file := filepath.Join(t.TempDir(), "queries.yml")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), promtool, "check", "rules", file).CombinedOutput()
	if err != nil {
		// promtool names the rule (query_N): map it back.
		msg := string(out)
		for i := len(qs) - 1; i >= 0; i-- {
			msg = strings.ReplaceAll(msg, fmt.Sprintf("query_%d", i), qs[i].String())
		}
		t.Fatalf("promtool check rules: %v\n%s", err, msg)
	}
	t.Logf("%d queries parse: %v", len(qs), counts)
	if counts[Panel] == 0 || counts[Recording] == 0 || counts[Alerting] == 0 {
		t.Errorf("found %v: the dashboards or rules were not read", counts)
	}
}

// TestMetricNamesArePrefixed is the fast half of the name check: every
// name a query selects is flagserver_*, flagstorm_* or a series our
// recording rules define. proof_test.go checks the names against the
// /metrics output of the real programs.
func TestMetricNamesArePrefixed(t *testing.T) {
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	recorded, err := Recorded()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		names := MetricNames(q.Expr)
		if len(names) == 0 {
			t.Errorf("%s selects no metric: %s", q, q.Expr)
		}
		for _, n := range names {
			if !strings.HasPrefix(n, "flagserver_") && !strings.HasPrefix(n, "flagstorm_") && !slices.Contains(recorded, n) {
				t.Errorf("%s selects %q, which is neither ours nor recorded by our rules", q, n)
			}
		}
	}
	// Recording rules may only read what is defined before them or raw
	// metrics: a rule reading a later group's output lags an evaluation.
	groups, err := RuleGroups()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, g := range groups {
		for _, r := range g.Rules {
			for _, n := range MetricNames(r.Expr) {
				if slices.Contains(recorded, n) && !seen[n] {
					t.Errorf("%s: rule %s%s reads %s, which is recorded later or in another file", g.File, r.Record, r.Alert, n)
				}
			}
			if r.Record != "" {
				seen[r.Record] = true
			}
		}
	}
}

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`sum by (route) (rate(flagserver_http_requests_total{job=~"$job",code=~"5.."}[$__rate_interval]))`, []string{"flagserver_http_requests_total"}},
		{`histogram_quantile(0.95, sum by (le) (rate(a_bucket[5m]))) > 0.05`, []string{"a_bucket"}},
		{"a / ignoring (result) group_left\nb", []string{"a", "b"}},
		{`(x{s=~"0|5.."} or y * 0) / on (job) z offset 5m`, []string{"x", "y", "z"}},
		{`job:flagserver_slo_errors:ratio_rate1h > (14.4 * 1e-3) and bool job:b:ratio`, []string{"job:b:ratio", "job:flagserver_slo_errors:ratio_rate1h"}},
		{`max_over_time(q{a="by (x) {y}"}[1h:1m])`, []string{"q"}},
		{`sum(m) without (instance)`, []string{"m"}},
		{`vector(1)`, nil},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, MetricNames(tc.expr)); diff != "" {
				t.Errorf("MetricNames (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	got := Expand(`rate(m{job=~"$job",i=~"${instance}",s=~"${spec:regex}"}[$__rate_interval]) / $__range`, "1m")
	want := `rate(m{job=~".*",i=~".*",s=~".*"}[1m]) / 1m`
	if got != want {
		t.Errorf("Expand = %s, want %s", got, want)
	}
}

func needPromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not found on PATH: install Debian's prometheus package (apt-get install -y prometheus), which ships it")
	}
	return p
}

// TestQueriesCarryTheirLabels: the labels a legend or a variable shows
// are read from the dashboards, for the proof to require them.
func TestQueriesCarryTheirLabels(t *testing.T) {
	if got := legendLabels("{{instance}} {{ state }} of {{instance}}"); !slices.Equal(got, []string{"instance", "state"}) {
		t.Errorf("legendLabels = %v", got)
	}
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	withLabels := 0
	for _, q := range qs {
		if q.Kind == Variable && len(q.Labels) != 1 {
			t.Errorf("%s: variable labels %v, want its label_values label", q, q.Labels)
		}
		if q.Kind == Annotation && len(q.Labels) == 0 {
			t.Errorf("%s: annotation shows no label (title, text, tag keys)", q)
		}
		if len(q.Labels) > 0 {
			withLabels++
		}
	}
	if withLabels < len(qs)/2 {
		t.Errorf("only %d of %d queries name labels they show", withLabels, len(qs))
	}
}

// TestFlagstormSpecLabel: flagstorm's series name the scenario file with
// "spec"; a query of flagstorm_* that groups, filters or shows "scenario"
// (a k6 scenario inside a file, which no series carries) is wrong. The
// proof cannot see a matcher such as scenario=~".*": it matches the absent
// label.
func TestFlagstormSpecLabel(t *testing.T) {
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	scenario := regexp.MustCompile(`\bscenario\b`)
	n := 0
	for _, q := range qs {
		if !slices.ContainsFunc(MetricNames(q.Expr), func(m string) bool { return strings.HasPrefix(m, "flagstorm_") }) {
			continue
		}
		n++
		if scenario.MatchString(q.Expr) || slices.Contains(q.Labels, "scenario") {
			t.Errorf("%s uses the label scenario (%s, shows %v): flagstorm's series call the scenario file spec", q, q.Expr, q.Labels)
		}
	}
	if n == 0 {
		t.Fatal("no query reads a flagstorm_* series")
	}
}
