// Package dashboards holds flagstorm's observability artefacts and the
// means to check them: Prometheus recording and alerting rules over
// flagserver's metrics (prometheus/rules/*.yml, with promtool unit tests
// in prometheus/rules/tests), and Grafana dashboards for flagserver and for
// flagstorm runs (grafana/dashboards/*.json, rendered from definitions.go).
//
// [Queries] lists every PromQL expression the files contain — each panel
// target, template variable, annotation and rule — so that tests can parse
// them with promtool, check that they only name metrics our code exports,
// and run them against a real Prometheus scraping a live flagserver and a
// live flagstorm run (proof_test.go). README.md says what each shows.
package dashboards

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed grafana/dashboards/*.json prometheus/rules/*.yml
var files embed.FS

// Files are the dashboards (grafana/dashboards/*.json) and rule files
// (prometheus/rules/*.yml), at their paths relative to this folder.
func Files() fs.FS { return files }

// Kind says where a query comes from.
type Kind uint8

const (
	Panel      Kind = iota + 1 // a dashboard panel's target
	Variable                   // a template variable's label_values() series selector
	Annotation                 // a dashboard annotation query
	Recording                  // a recording rule's expression
	Alerting                   // an alerting rule's expression
)

var kindNames = [...]string{Panel: "panel", Variable: "variable", Annotation: "annotation", Recording: "recording rule", Alerting: "alerting rule"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Query is one PromQL expression found in a dashboard or rule file.
type Query struct {
	File string // relative to this folder, like grafana/dashboards/flagserver.json
	Kind Kind
	// Name is the panel title (with the target's refId), the variable or
	// annotation name, the recorded series or the alert.
	Name string
	Expr string
	// Instant: the panel shows one value now (tables, stats) rather than a
	// range.
	Instant bool
	// Labels are the labels the dashboard shows from the answer: a
	// panel's legend ({{phase}}), a variable's label_values label, or an
	// annotation's title, text and tag keys. The series must carry them,
	// or the legend is blank and the variable empty.
	Labels []string
}

func (q Query) String() string { return fmt.Sprintf("%s: %s %q", q.File, q.Kind, q.Name) }

// Queries returns every query of every dashboard and rule file, in file
// order. Dashboard expressions still hold Grafana's variables: see
// [Expand].
func Queries() ([]Query, error) {
	var out []Query
	dash, err := fs.Glob(files, "grafana/dashboards/*.json")
	if err != nil {
		return nil, err
	}
	for _, name := range dash {
		qs, err := dashboardQueries(name)
		if err != nil {
			return nil, err
		}
		out = append(out, qs...)
	}
	groups, err := RuleGroups()
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		for _, r := range g.Rules {
			q := Query{File: g.File, Kind: Recording, Name: r.Record, Expr: r.Expr}
			if r.Alert != "" {
				q.Kind, q.Name = Alerting, r.Alert
			}
			out = append(out, q)
		}
	}
	return out, nil
}

// grafanaDashboard is the part of Grafana's dashboard JSON that holds
// queries.
type grafanaDashboard struct {
	UID    string `json:"uid"`
	Panels []struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			RefID        string `json:"refId"`
			Expr         string `json:"expr"`
			Instant      bool   `json:"instant"`
			LegendFormat string `json:"legendFormat"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name        string `json:"name"`
			Expr        string `json:"expr"`
			TitleFormat string `json:"titleFormat"`
			TextFormat  string `json:"textFormat"`
			TagKeys     string `json:"tagKeys"`
		} `json:"list"`
	} `json:"annotations"`
}

var (
	labelValues = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)
	legendLabel = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
)

// legendLabels lists the labels a legend template shows, once each.
func legendLabels(legend string) []string {
	var out []string
	for _, m := range legendLabel.FindAllStringSubmatch(legend, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

func dashboardQueries(name string) ([]Query, error) {
	b, err := fs.ReadFile(files, name)
	if err != nil {
		return nil, err
	}
	var d grafanaDashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var out []Query
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			return nil, fmt.Errorf("%s: variable %q: want label_values(SELECTOR, LABEL), got %q", name, v.Name, v.Definition)
		}
		out = append(out, Query{File: name, Kind: Variable, Name: v.Name, Expr: m[1], Instant: true, Labels: []string{m[2]}})
	}
	for _, a := range d.Annotations.List {
		if a.Expr != "" {
			labels := legendLabels(a.TitleFormat + " " + a.TextFormat)
			for k := range strings.SplitSeq(a.TagKeys, ",") {
				if k = strings.TrimSpace(k); k != "" && !slices.Contains(labels, k) {
					labels = append(labels, k)
				}
			}
			out = append(out, Query{File: name, Kind: Annotation, Name: a.Name, Expr: a.Expr, Labels: labels})
		}
	}
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			out = append(out, Query{File: name, Kind: Panel, Name: p.Title + " (" + t.RefID + ")", Expr: t.Expr, Instant: t.Instant,
				Labels: legendLabels(t.LegendFormat)})
		}
	}
	return out, nil
}

// RuleGroup is one group of a Prometheus rule file.
type RuleGroup struct {
	File  string `yaml:"-"`
	Name  string `yaml:"name"`
	Rules []Rule `yaml:"rules"`
}

// Rule is a recording rule (Record set) or an alerting rule (Alert set).
type Rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// RuleGroups reads every rule file.
func RuleGroups() ([]RuleGroup, error) {
	names, err := RuleFiles()
	if err != nil {
		return nil, err
	}
	var out []RuleGroup
	for _, name := range names {
		b, err := fs.ReadFile(files, name)
		if err != nil {
			return nil, err
		}
		var doc struct {
			Groups []RuleGroup `yaml:"groups"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, g := range doc.Groups {
			g.File = name
			out = append(out, g)
		}
	}
	return out, nil
}

// RuleFiles lists the rule files, like prometheus/rules/flagserver.yml.
func RuleFiles() ([]string, error) { return fs.Glob(files, "prometheus/rules/*.yml") }

// Recorded lists the series names the recording rules define.
func Recorded() ([]string, error) {
	groups, err := RuleGroups()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				out = append(out, r.Record)
			}
		}
	}
	return out, nil
}

var (
	grafanaVar = regexp.MustCompile(`\$(\{[a-zA-Z0-9_]+(:[a-z]+)?\}|[a-zA-Z0-9_]+)`)
	macros     = []string{"$__rate_interval", "$__interval", "$__range"}
)

// Expand turns a dashboard expression into what Grafana would send to
// Prometheus with every template variable set to All: the interval macros
// ($__rate_interval, $__interval, $__range) become window (like "1m") and
// every other variable becomes ".*", the dashboards' allValue (they only
// appear in =~ matchers).
func Expand(expr, window string) string {
	for _, m := range macros {
		expr = strings.ReplaceAll(expr, m, window)
	}
	return grafanaVar.ReplaceAllString(expr, ".*")
}

var (
	stringLit = regexp.MustCompile("\"(\\\\.|[^\"\\\\])*\"|'(\\\\.|[^'\\\\])*'|`[^`]*`")
	matchers  = regexp.MustCompile(`\{[^{}]*\}`)
	ranges    = regexp.MustCompile(`\[[^\[\]]*\]`)
	grouping  = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	token     = regexp.MustCompile(`(?i)0x[0-9a-f]+|[0-9]*\.?[0-9]+(e[+-]?[0-9]+)?([a-z]+)?|[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	keywords  = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan", "atan2", "start", "end"}
)

// MetricNames returns the metric (and recorded series) names an
// expression selects, sorted and without duplicates. It is a lexical
// scan, not a parser: string literals, label matchers, range and
// subquery brackets and grouping clauses are removed, then every
// identifier not followed by "(" (a function or aggregation) and not a
// keyword is a name. The tests hold it to the expressions in this
// package; run promtool to know that an expression parses.
func MetricNames(expr string) []string {
	expr = stringLit.ReplaceAllString(expr, `""`)
	for {
		next := matchers.ReplaceAllString(expr, " ")
		next = ranges.ReplaceAllString(next, " ")
		next = grouping.ReplaceAllString(next, " ")
		if next == expr {
			break
		}
		expr = next
	}
	var out []string
	for _, tok := range token.FindAllString(expr, -1) {
		c := tok[0]
		if c == '.' || (c >= '0' && c <= '9') || strings.HasSuffix(tok, "(") {
			continue
		}
		if slices.Contains(keywords, strings.ToLower(tok)) {
			continue
		}
		if !slices.Contains(out, tok) {
			out = append(out, tok)
		}
	}
	slices.Sort(out)
	return out
}

// dashboardPath is where a rendered dashboard lives.
func dashboardPath(file string) string { return path.Join("grafana/dashboards", file) }
