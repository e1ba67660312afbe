package gate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"golang.org/x/sync/errgroup"
)

// ErrUnevaluated marks every error that means "could not evaluate":
// Prometheus unreachable, too slow, or answering a query with an error.
// It is not a verdict: the CLI reports it as "could not evaluate" (its
// exit code is the command line's business) and the HTTP API answers 503
// (or, to Flagger, 424).
var ErrUnevaluated = errors.New("gate: could not evaluate")

// Querier runs an instant PromQL query at a given time and returns the
// vector and Prometheus's warnings.
type Querier interface {
	Query(ctx context.Context, query string, at time.Time) (model.Vector, []string, error)
}

// promQuerier is a Querier over client_golang's HTTP API.
type promQuerier struct{ api promv1.API }

// NewQuerier returns a Querier for the Prometheus server at base (like
// http://127.0.0.1:9090). client may be nil (http.DefaultClient's
// transport).
func NewQuerier(base string, client *http.Client) (Querier, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("prometheus URL %q: want http://host:port", base)
	}
	cfg := api.Config{Address: base}
	if client != nil {
		cfg.Client = client
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("prometheus URL %q: %w", base, err)
	}
	return promQuerier{api: promv1.NewAPI(c)}, nil
}

func (p promQuerier) Query(ctx context.Context, q string, at time.Time) (model.Vector, []string, error) {
	v, warnings, _, err := p.api.Query(ctx, q, at)
	if err != nil {
		return nil, warnings, err
	}
	switch v := v.(type) {
	case model.Vector:
		return v, warnings, nil
	case *model.Scalar:
		return model.Vector{{Value: v.Value, Timestamp: v.Timestamp}}, warnings, nil
	}
	return nil, warnings, fmt.Errorf("query %q: want a vector, got %s", q, v.Type())
}

// Gate evaluates a canary against its baseline.
type Gate struct {
	q   Querier
	cfg Config
	now func() time.Time
}

// New returns a Gate that asks q, with cfg as its configuration (an
// evaluation may override it).
func New(q Querier, cfg Config) (*Gate, error) {
	if q == nil {
		return nil, errors.New("gate: a Querier is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gate: %w", err)
	}
	return &Gate{q: q, cfg: cfg, now: time.Now}, nil
}

// Config returns the gate's configuration.
func (g *Gate) Config() Config { return g.cfg }

// Request is one evaluation.
type Request struct {
	Canary   Selector
	Baseline Selector
	// Config overrides the gate's configuration when not nil; it must be
	// valid.
	Config *Config
}

// kind is one measured quantity.
type kind int

const (
	kRequests kind = iota
	kErrors
	kQuantile
	kCacheOps
	kCacheFailed
	kReads
	kFallbacks
	numKinds
)

// Query is one PromQL expression the gate runs.
type Query struct {
	// Window is the range ("1m"), Side "canary" or "baseline", and Kind
	// what is measured (requests, errors, latency_quantile,
	// cache_operations, cache_failed, reads, fallback_reads).
	Window, Side, Kind string
	PromQL             string
}

var kindNames = [numKinds]string{"requests", "errors", "latency_quantile", "cache_operations", "cache_failed", "reads", "fallback_reads"}

// promql renders one kind's expression for one side and window.
func promql(cfg Config, k kind, sel Selector, window string) string {
	s := sel.String()
	routes := "route=~" + strconv.Quote(cfg.Routes)
	switch k {
	case kRequests:
		return fmt.Sprintf("sum(increase(flagserver_http_requests_total{%s,%s}[%s]))", s, routes, window)
	case kErrors:
		return fmt.Sprintf(`sum(increase(flagserver_http_requests_total{%s,%s,code=~"5.."}[%s]))`, s, routes, window)
	case kQuantile:
		return fmt.Sprintf("histogram_quantile(%s, sum by (le) (rate(flagserver_http_request_duration_seconds_bucket{%s,%s}[%s])))",
			strconv.FormatFloat(cfg.Latency.Quantile, 'g', -1, 64), s, routes, window)
	case kCacheOps:
		return fmt.Sprintf("sum(increase(flagserver_cache_operations_total{%s}[%s]))", s, window)
	case kCacheFailed:
		return fmt.Sprintf(`sum(increase(flagserver_cache_operations_total{%s,result=~"error|rejected"}[%s]))`, s, window)
	case kReads:
		return fmt.Sprintf("sum(increase(flagserver_reads_total{%s}[%s]))", s, window)
	default: // kFallbacks
		return fmt.Sprintf(`sum(increase(flagserver_reads_total{%s,source="db-fallback"}[%s]))`, s, window)
	}
}

// kinds returns what the enabled checks need.
func kinds(cfg Config) []kind {
	var ks []kind
	if cfg.Latency.Enabled || cfg.ErrorRate.Enabled {
		ks = append(ks, kRequests)
	}
	if cfg.Latency.Enabled {
		ks = append(ks, kQuantile)
	}
	if cfg.ErrorRate.Enabled {
		ks = append(ks, kErrors)
	}
	if cfg.CacheErrorRate.Enabled {
		ks = append(ks, kCacheOps, kCacheFailed)
	}
	if cfg.FallbackRate.Enabled {
		ks = append(ks, kReads, kFallbacks)
	}
	return ks
}

const (
	sideCanary = iota
	sideBaseline
)

var sideNames = [2]string{"canary", "baseline"}

// Plan returns every query an evaluation would run, in order.
func Plan(cfg Config, canary, baseline Selector) []Query {
	var qs []Query
	sels := [2]Selector{canary, baseline}
	for _, w := range []time.Duration{cfg.ShortWindow, cfg.LongWindow} {
		ws := promDuration(w)
		for side, sel := range sels {
			for _, k := range kinds(cfg) {
				qs = append(qs, Query{Window: ws, Side: sideNames[side], Kind: kindNames[k], PromQL: promql(cfg, k, sel, ws)})
			}
		}
	}
	return qs
}

// sample is one query's answer: present is false for an empty vector.
type sample struct {
	v       float64
	present bool
	query   string
}

// concurrency bounds the queries in flight per evaluation.
const concurrency = 8

// Evaluate queries Prometheus and judges the canary. An error wraps
// ErrUnevaluated: no verdict could be reached.
func (g *Gate) Evaluate(ctx context.Context, req Request) (*Result, error) {
	cfg := g.cfg
	if req.Config != nil {
		cfg = *req.Config
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("gate: %w", err)
		}
	}
	if req.Canary.IsZero() || req.Baseline.IsZero() {
		return nil, errors.New("gate: canary and baseline selectors are required")
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	at := g.now()

	windows := []time.Duration{cfg.ShortWindow, cfg.LongWindow}
	ks := kinds(cfg)
	// got[window][side][kind]
	got := make([][2][numKinds]sample, len(windows))
	var (
		mu       sync.Mutex
		warnings []string
	)
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(concurrency)
	sels := [2]Selector{req.Canary, req.Baseline}
	for wi, w := range windows {
		ws := promDuration(w)
		for side, sel := range sels {
			for _, k := range ks {
				q := promql(cfg, k, sel, ws)
				eg.Go(func() error {
					vec, warns, err := g.q.Query(ectx, q, at)
					if err != nil {
						return fmt.Errorf("query %s: %w", q, err)
					}
					s := sample{query: q}
					if len(vec) > 0 {
						s.v, s.present = float64(vec[0].Value), true
					}
					mu.Lock()
					got[wi][side][k] = s
					warnings = append(warnings, warns...)
					mu.Unlock()
					return nil
				})
			}
		}
	}
	if err := eg.Wait(); err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: prometheus did not answer within %v: %w", ErrUnevaluated, cfg.Timeout, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrUnevaluated, err)
	}

	r := &Result{
		Canary:      selText(req.Canary),
		Baseline:    selText(req.Baseline),
		EvaluatedAt: at.UTC().Format(time.RFC3339Nano),
		MinSamples:  cfg.MinSamples,
		Warnings:    dedupe(warnings),
	}
	for wi, w := range windows {
		ws := promDuration(w)
		r.Windows = append(r.Windows, ws)
		j := judge{cfg: cfg, window: ws, canary: req.Canary, baseline: req.Baseline, c: got[wi][sideCanary], b: got[wi][sideBaseline]}
		r.Checks = append(r.Checks, j.checks()...)
	}
	r.conclude()
	return r, nil
}

func selText(s Selector) string { b, _ := s.MarshalText(); return string(b) }

func dedupe(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// judge builds the checks of one window.
type judge struct {
	cfg              Config
	window           string
	canary, baseline Selector
	c, b             [numKinds]sample
}

func (j judge) checks() []Check {
	var cs []Check
	cfg := j.cfg
	if cfg.Latency.Enabled {
		cs = append(cs, j.latency())
		if cfg.Latency.MaxRatio > 0 {
			cs = append(cs, j.latencyRatio())
		}
	}
	if cfg.ErrorRate.Enabled {
		cs = append(cs, j.rate("error_rate", cfg.ErrorRate, kErrors, kRequests, "requests", "returned 5xx"))
	}
	if cfg.CacheErrorRate.Enabled {
		cs = append(cs, j.rate("cache_error_rate", cfg.CacheErrorRate, kCacheFailed, kCacheOps, "cache operations", "failed or were rejected by the circuit breaker"))
	}
	if cfg.FallbackRate.Enabled {
		cs = append(cs, j.rate("fallback_rate", cfg.FallbackRate, kFallbacks, kReads, "flag reads", "fell back to the database"))
	}
	return cs
}

func (j judge) quantileName() string {
	return "latency_p" + strconv.FormatFloat(j.cfg.Latency.Quantile*100, 'g', -1, 64)
}

// enough says whether a side has enough samples of the denominator den;
// if not, it returns the reason.
func (j judge) enough(side int, den kind, what string) (bool, string) {
	s, sel := j.c[den], j.canary
	if side == sideBaseline {
		s, sel = j.b[den], j.baseline
	}
	if !s.present {
		return false, fmt.Sprintf("no %s series match %s in %s: check the selector and that Prometheus scrapes it", sideNames[side], selText(sel), j.window)
	}
	if s.v < float64(j.cfg.MinSamples) {
		return false, fmt.Sprintf("too little traffic: %s had %s %s in %s, minimum %d", sideNames[side], fmtCount(s.v), what, j.window, j.cfg.MinSamples)
	}
	return true, ""
}

func measure(s [numKinds]sample, num, den kind, ratio bool) Measure {
	m := Measure{Samples: s[den].v, Series: s[den].present}
	switch {
	case !ratio:
		if s[num].present && !math.IsNaN(s[num].v) && !math.IsInf(s[num].v, 0) {
			v := s[num].v
			m.Value = &v
		}
	case s[den].present && s[den].v > 0:
		v := 0.0
		if s[num].present {
			v = s[num].v / s[den].v
		}
		v = math.Min(math.Max(v, 0), 1) // increase() extrapolates each series separately
		m.Value = &v
	}
	return m
}

func (j judge) queries(ks ...kind) []string {
	var qs []string
	for _, side := range [][numKinds]sample{j.c, j.b} {
		for _, k := range ks {
			qs = append(qs, side[k].query)
		}
	}
	return qs
}

// newCheck is a check of num (over den when ratio) on both sides, not yet
// judged: its measures, its queries, its limit and, when critical is
// positive, its critical limit.
func (j judge) newCheck(name, unit string, num, den kind, ratio bool, limit, critical float64) Check {
	c := Check{
		Name: name, Window: j.window, Unit: unit,
		Canary:   measure(j.c, num, den, ratio),
		Baseline: measure(j.b, num, den, ratio),
		Limit:    limit,
		Queries:  j.queries(den, num),
	}
	if critical > 0 {
		c.CriticalLimit = ptr(critical)
	}
	return c
}

func (j judge) latency() Check {
	l := j.cfg.Latency
	c := j.newCheck(j.quantileName(), "seconds", kQuantile, kRequests, false, l.Max.Seconds(), l.Critical.Seconds())
	q := "p" + strconv.FormatFloat(l.Quantile*100, 'g', -1, 64)
	if ok, why := j.enough(sideCanary, kRequests, "requests"); !ok {
		c.Reason = why
		return c
	}
	if c.Canary.Value == nil {
		c.Reason = fmt.Sprintf("no latency histogram for the canary in %s", j.window)
		return c
	}
	v := *c.Canary.Value
	base := ""
	if c.Baseline.Value != nil {
		base = fmt.Sprintf(" (baseline %s)", fmtSeconds(*c.Baseline.Value))
	}
	if v > c.Limit {
		c.Status = StatusFail
		c.Critical = c.CriticalLimit != nil && v >= *c.CriticalLimit
		c.Reason = fmt.Sprintf("canary %s %s > limit %s%s%s", q, fmtSeconds(v), fmtSeconds(c.Limit), base, critNote(c.Critical, c.CriticalLimit, fmtSeconds))
		return c
	}
	c.Status = StatusPass
	c.Reason = fmt.Sprintf("canary %s %s <= limit %s%s", q, fmtSeconds(v), fmtSeconds(c.Limit), base)
	return c
}

func (j judge) latencyRatio() Check {
	l := j.cfg.Latency
	c := j.newCheck(j.quantileName()+"_ratio", "ratio", kQuantile, kRequests, false, l.MaxRatio, l.CriticalRatio)
	for _, side := range []int{sideCanary, sideBaseline} {
		if ok, why := j.enough(side, kRequests, "requests"); !ok {
			c.Reason = why
			return c
		}
	}
	if c.Canary.Value == nil || c.Baseline.Value == nil {
		c.Reason = fmt.Sprintf("no latency histogram for the %s in %s", map[bool]string{true: "canary", false: "baseline"}[c.Canary.Value == nil], j.window)
		return c
	}
	cv, bv := *c.Canary.Value, *c.Baseline.Value
	delta := cv - bv
	ratio := math.Inf(1)
	switch {
	case bv > 0:
		ratio = cv / bv
	case cv == 0:
		ratio = 1
	}
	if !math.IsInf(ratio, 0) {
		c.Compared = ptr(ratio)
	}
	desc := fmt.Sprintf("canary %s / baseline %s = %s", fmtSeconds(cv), fmtSeconds(bv), fmtRatio(ratio))
	if ratio > l.MaxRatio && delta >= l.MinDelta.Seconds() {
		c.Status = StatusFail
		c.Critical = c.CriticalLimit != nil && ratio >= *c.CriticalLimit
		c.Reason = fmt.Sprintf("%s > limit %s (%s slower)%s", desc, fmtRatio(l.MaxRatio), fmtSeconds(delta), critNote(c.Critical, c.CriticalLimit, fmtRatio))
		return c
	}
	c.Status = StatusPass
	if ratio > l.MaxRatio {
		c.Reason = fmt.Sprintf("%s > %s but only %s slower (minDelta %s)", desc, fmtRatio(l.MaxRatio), fmtSeconds(delta), fmtSeconds(l.MinDelta.Seconds()))
	} else {
		c.Reason = fmt.Sprintf("%s <= limit %s", desc, fmtRatio(l.MaxRatio))
	}
	return c
}

func (j judge) rate(name string, rc RateCheck, num, den kind, what, bad string) Check {
	c := j.newCheck(name, "fraction", num, den, true, rc.Max, rc.Critical)
	if ok, why := j.enough(sideCanary, den, what); !ok {
		c.Reason = why
		return c
	}
	v := *c.Canary.Value
	base := " (baseline: no data)"
	if c.Baseline.Value != nil {
		base = fmt.Sprintf(" (baseline %s", fmtPercent(*c.Baseline.Value))
		if *c.Baseline.Value > rc.Max {
			base += ": over the limit too"
		}
		base += ")"
	}
	if v > rc.Max {
		c.Status = StatusFail
		c.Critical = c.CriticalLimit != nil && v >= *c.CriticalLimit
		c.Reason = fmt.Sprintf("%s of %s canary %s %s > limit %s%s%s", fmtPercent(v), fmtCount(c.Canary.Samples), what, bad, fmtPercent(rc.Max), base, critNote(c.Critical, c.CriticalLimit, fmtPercent))
		return c
	}
	c.Status = StatusPass
	c.Reason = fmt.Sprintf("%s of %s canary %s %s <= limit %s%s", fmtPercent(v), fmtCount(c.Canary.Samples), what, bad, fmtPercent(rc.Max), base)
	return c
}

func critNote(critical bool, limit *float64, f func(float64) string) string {
	if !critical {
		return ""
	}
	return ", critical (>= " + f(*limit) + ")"
}

// conclude sets the verdict, the reason and the summary from the checks.
func (r *Result) conclude() {
	var failed, inconclusive []Check
	for _, c := range r.Checks {
		switch c.Status {
		case StatusFail:
			failed = append(failed, c)
			if c.Critical {
				r.Critical = true
			}
		case StatusInconclusive:
			inconclusive = append(inconclusive, c)
		}
	}
	switch {
	case len(failed) > 0:
		r.Verdict = NoGo
		head := "no-go"
		if r.Critical {
			head = "no-go (critical)"
		}
		r.Reason = head + ": " + firstReasons(failed)
	case len(inconclusive) > 0:
		r.Verdict = Inconclusive
		r.Reason = "inconclusive: " + firstReasons(inconclusive)
	default:
		r.Verdict = Go
		r.Reason = fmt.Sprintf("go: all %d checks passed over %s", len(r.Checks), strings.Join(r.Windows, " and "))
	}
	r.Go = r.Verdict == Go
	r.Summary = Summary{
		Verdict: r.Verdict, Go: r.Go, NoGo: r.Verdict == NoGo, Inconclusive: r.Verdict == Inconclusive,
		Critical: r.Critical, Failed: ids(failed), Inconclusives: ids(inconclusive), Reason: r.Reason,
	}
}

func ids(cs []Check) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.ID())
	}
	return out
}

// firstReasons joins the first two checks' reasons on one line.
func firstReasons(cs []Check) string {
	const show = 2
	parts := make([]string, 0, show)
	for i, c := range cs {
		if i == show {
			break
		}
		parts = append(parts, c.ID()+" "+c.Reason)
	}
	s := strings.Join(parts, "; ")
	if len(cs) > show {
		s += fmt.Sprintf("; and %d more", len(cs)-show)
	}
	return s
}

func ptr[T any](v T) *T { return &v }

func fmtSeconds(s float64) string {
	switch {
	case s < 0:
		return "-" + fmtSeconds(-s)
	case s < 0.001:
		return strconv.FormatFloat(s*1e6, 'f', 0, 64) + "µs"
	case s < 1:
		return strconv.FormatFloat(s*1e3, 'f', 1, 64) + "ms"
	}
	return strconv.FormatFloat(s, 'f', 2, 64) + "s"
}

func fmtPercent(f float64) string {
	if f != 0 && f < 0.001 {
		return strconv.FormatFloat(f*100, 'g', 2, 64) + "%"
	}
	return strconv.FormatFloat(f*100, 'f', 1, 64) + "%"
}

func fmtRatio(f float64) string {
	if math.IsInf(f, 1) {
		return "inf"
	}
	return strconv.FormatFloat(f, 'f', 2, 64) + "x"
}

func fmtCount(f float64) string { return strconv.FormatFloat(math.Round(f), 'f', 0, 64) }
