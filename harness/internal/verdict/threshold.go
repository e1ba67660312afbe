package verdict

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/flagstorm/flagstorm/internal/metric"
)

// Threshold is one parsed, checked threshold expression on a (sub)metric.
type Threshold struct {
	Key    string // the key as written in the scenario, "http_req_duration{phase: outage}"
	Index  int    // the expression's position in the key's list
	Metric string // "http_req_duration"
	Tags   Tags   // the selector, sorted; empty for the whole metric
	Type   MetricType
	Unit   Unit
	Expr   Expr

	AbortOnFail    bool
	DelayAbortEval time.Duration
}

// Submetric is the canonical key: the metric and its selector,
// "http_req_duration{phase:outage}".
func (t Threshold) Submetric() string { return t.Metric + t.Tags.String() }

// String is "http_req_duration{phase:outage} p(95)<50".
func (t Threshold) String() string { return t.Submetric() + " " + t.Expr.String() }

// Error is one problem with one threshold. Index is -1 when the key
// itself is wrong, and then Expr is empty.
type Error struct {
	Key   string // the key as written
	Index int    // the expression's position in the key's list, or -1
	Expr  string // the expression as written
	Msg   string
}

func (e *Error) Error() string {
	if e.Index < 0 {
		return fmt.Sprintf("threshold key %q: %s", e.Key, e.Msg)
	}
	return fmt.Sprintf("threshold %q on %s: %s", e.Expr, e.Key, e.Msg)
}

// Parse parses and checks every threshold of a scenario against the
// catalog, which is DefaultCatalog() (metric's) outside tests: the key's
// syntax (metric.ParseKey), that the metric and the tag names exist, the
// expression's syntax, that its aggregation suits the metric's type, and
// that delayAbortEval comes with abortOnFail. It returns every problem at
// once, joined, each an *Error; or the thresholds sorted by canonical key,
// then key as written, then index, so that reports are deterministic.
func Parse(specs map[string][]Spec, cat Catalog) ([]Threshold, error) {
	var (
		out  []Threshold
		errs []error
	)
	for _, key := range slices.Sorted(maps.Keys(specs)) {
		list := specs[key]
		keyErr := func(format string, args ...any) {
			errs = append(errs, &Error{Key: key, Index: -1, Msg: fmt.Sprintf(format, args...)})
		}
		name, tags, err := metric.ParseKey(key)
		m, keyOK := cat.Metrics[name]
		switch {
		case err != nil:
			keyErr("%s", syntaxMsg(err))
			keyOK = false
		case !keyOK:
			keyErr("%s", unknownMetric(name, cat))
		default:
			if msg := checkTags(tags, cat); msg != "" {
				keyErr("%s", msg)
				keyOK = false
			}
		}
		if len(list) == 0 {
			keyErr("no threshold expressions: write at least one, such as %q", example(name, m.Type))
			continue
		}
		// A bad key still gets its expressions' syntax checked, so one
		// pass reports everything; their types need the metric.
		for i, spec := range list {
			exprErr := func(format string, args ...any) {
				errs = append(errs, &Error{Key: key, Index: i, Expr: spec.Threshold, Msg: fmt.Sprintf(format, args...)})
			}
			e, err := ParseExpr(spec.Threshold)
			if err != nil {
				exprErr("%s", syntaxMsg(err))
				continue
			}
			switch {
			case spec.DelayAbortEval < 0:
				exprErr("delayAbortEval %s is negative", spec.DelayAbortEval)
				continue
			case spec.DelayAbortEval > 0 && !spec.AbortOnFail:
				exprErr("delayAbortEval %s has no effect without abortOnFail: true", spec.DelayAbortEval)
				continue
			case !keyOK:
				continue
			case !allows(m.Type, e.Agg):
				exprErr("%s is not an aggregation of a %s metric (use %s)", e.Agg, m.Type, aggChoices(m.Type))
				continue
			}
			out = append(out, Threshold{
				Key: key, Index: i, Metric: name, Tags: tags, Type: m.Type, Unit: m.Unit, Expr: e,
				AbortOnFail: spec.AbortOnFail, DelayAbortEval: spec.DelayAbortEval,
			})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortStableFunc(out, func(a, b Threshold) int {
		return cmp.Or(strings.Compare(a.Submetric(), b.Submetric()), strings.Compare(a.Key, b.Key), cmp.Compare(a.Index, b.Index))
	})
	return out, nil
}

func aggChoices(t MetricType) string {
	names := make([]string, 0, 5)
	for _, k := range aggsOf(t) {
		names = append(names, k.String())
	}
	return orList(names)
}

func orList(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// example is an expression that suits the metric: the catalog's, or one
// of its type.
func example(name string, t MetricType) string {
	if d, ok := metric.Lookup(name); ok {
		return d.Example
	}
	switch t {
	case Counter:
		return "count==0"
	case Gauge:
		return "value<5"
	case Rate:
		return "rate<0.01"
	}
	return "p(95)<50"
}

func unknownMetric(name string, cat Catalog) string {
	known := slices.Sorted(maps.Keys(cat.Metrics))
	if near := nearest(name, known); len(near) > 0 {
		return fmt.Sprintf("unknown metric %q (did you mean %s?)", name, orList(near))
	}
	if len(known) == 0 {
		return fmt.Sprintf("unknown metric %q (the catalog has none)", name)
	}
	return fmt.Sprintf("unknown metric %q (known: %s)", name, strings.Join(known, ", "))
}

func checkTags(tags Tags, cat Catalog) string {
	if cat.Tags == nil {
		return ""
	}
	for _, t := range tags {
		if slices.Contains(cat.Tags, t.Name) {
			continue
		}
		known := slices.Sorted(slices.Values(cat.Tags))
		if near := nearest(t.Name, known); len(near) > 0 {
			return fmt.Sprintf("unknown tag %q (did you mean %s?)", t.Name, orList(near))
		}
		return fmt.Sprintf("unknown tag %q: thresholds select on %s", t.Name, orList(known))
	}
	return ""
}

// nearest returns the candidates within edit distance 2 of name, closest
// first, at most three.
func nearest(name string, candidates []string) []string {
	type scored struct {
		s string
		d int
	}
	var near []scored
	for _, c := range candidates {
		if d := metric.EditDistance(name, c); d <= 2 {
			near = append(near, scored{c, d})
		}
	}
	slices.SortStableFunc(near, func(a, b scored) int { return cmp.Compare(a.d, b.d) })
	var out []string
	for _, n := range near[:min(len(near), 3)] {
		out = append(out, n.s)
	}
	return out
}
