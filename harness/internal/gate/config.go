package gate

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// Config says what the gate checks and how strictly. Start from [Default]:
// a configuration file or an HTTP override is applied over it, so a field
// it omits keeps its default. A zero Config is not valid.
type Config struct {
	// ShortWindow and LongWindow are the two PromQL range windows every
	// check runs over; whole seconds, 0 < short < long <= MaxWindow.
	// Defaults 1m and 5m.
	ShortWindow time.Duration
	LongWindow  time.Duration
	// MinSamples is the least number of events (requests, cache operations
	// or flag reads: the check's denominator) the canary must have in a
	// window, and the baseline too for a comparison, before a check may
	// pass or fail; below it the check is inconclusive. Default 100.
	MinSamples int
	// Routes is a regular expression (RE2, fully anchored as in PromQL)
	// on flagserver's route label that selects the requests the latency
	// and error checks count. Default `[A-Z]+ /api/.+`: the API, not
	// /metrics, /healthz or /readyz.
	Routes string
	// Timeout bounds one whole evaluation (every query, run concurrently).
	// Default 8s, under the 10 s that Argo Rollouts' web provider and
	// Flagger's webhooks wait by default.
	Timeout time.Duration

	Latency        LatencyCheck
	ErrorRate      RateCheck
	CacheErrorRate RateCheck
	FallbackRate   RateCheck

	// Flagger maps a Flagger webhook's canary name and namespace to
	// selectors, when the webhook's metadata does not give them.
	Flagger FlaggerConfig
}

// LatencyCheck is the latency quantile: an absolute ceiling on the
// canary, and a ceiling on its ratio to the baseline.
type LatencyCheck struct {
	// Enabled: default true.
	Enabled bool
	// Quantile is the quantile checked, 0 < q < 1. Default 0.95.
	Quantile float64
	// Max is the ceiling on the canary's quantile. Default 50ms (the SLO).
	Max time.Duration
	// Critical makes a failure critical at or above it; 0 never. Default 500ms.
	Critical time.Duration
	// MaxRatio is the ceiling on canary/baseline; 0 switches the
	// comparison off. Default 1.5.
	MaxRatio float64
	// CriticalRatio makes a ratio failure critical at or above it; 0
	// never. Default 4.
	CriticalRatio float64
	// MinDelta: the ratio fails only when the canary is also at least this
	// much slower than the baseline, so that 0.8 ms against 0.5 ms is not
	// a no-go. Default 5ms.
	MinDelta time.Duration
}

// RateCheck is a ratio (0..1) of bad events with a ceiling.
type RateCheck struct {
	// Enabled: default true.
	Enabled bool
	// Max is the ceiling on the canary's rate: above it the check fails.
	// 0 allows none.
	Max float64
	// Critical makes a failure critical at or above it; 0 never.
	Critical float64
}

// FlaggerConfig holds selector templates for Flagger's webhooks. They are
// plain text in which {{.Name}} and {{.Namespace}} (spaces inside the
// braces allowed) are replaced by the webhook's canary name and namespace,
// checked to be Kubernetes names, e.g.
// `namespace="{{.Namespace}}",app="{{.Name}}"`; no other {{...}} is
// allowed, nothing is executed. At most MaxTemplateBytes. Empty: the
// webhook's metadata must carry the selector.
type FlaggerConfig struct {
	Canary   string
	Baseline string
}

// MaxTimeout bounds Config.Timeout (the HTTP server's write timeout is
// set above it).
const MaxTimeout = time.Minute

// MaxWindow bounds Config.LongWindow (and so ShortWindow): a canary is
// judged on its recent traffic, and a longer range makes every query
// heavier for Prometheus. There are always exactly two windows.
const MaxWindow = time.Hour

// MaxTemplateBytes bounds a Flagger selector template.
const MaxTemplateBytes = 512

// Default returns the default configuration.
func Default() Config {
	return Config{
		ShortWindow: time.Minute,
		LongWindow:  5 * time.Minute,
		MinSamples:  100,
		Routes:      `[A-Z]+ /api/.+`,
		Timeout:     8 * time.Second,
		Latency: LatencyCheck{
			Enabled: true, Quantile: 0.95, Max: 50 * time.Millisecond, Critical: 500 * time.Millisecond,
			MaxRatio: 1.5, CriticalRatio: 4, MinDelta: 5 * time.Millisecond,
		},
		ErrorRate:      RateCheck{Enabled: true, Max: 0.01, Critical: 0.10},
		CacheErrorRate: RateCheck{Enabled: true, Max: 0.05, Critical: 0.50},
		FallbackRate:   RateCheck{Enabled: true, Max: 0.05, Critical: 0.50},
	}
}

// FieldError is a problem with one configuration or request field.
type FieldError struct {
	// Field is the path of the field, like "latency.max".
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, a ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// FirstField returns the field named by the first FieldError in err, or "".
func FirstField(err error) string {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}

// LoadConfig reads a YAML or JSON configuration file and applies it over
// [Default]. Every problem is reported, each naming its field.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read gate config: %w", err)
	}
	cfg, err := ParseConfig(data, Default())
	if err != nil {
		return Config{}, fmt.Errorf("gate config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig applies a YAML or JSON document (JSON is YAML) over base
// and validates the result. An empty document changes nothing.
func ParseConfig(data []byte, base Config) (Config, error) {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Config{}, fmt.Errorf("parse: %w", err)
	}
	return base.Override(doc)
}

// Override applies a decoded document (map[string]any, as from YAML or
// JSON) over a copy of cfg and validates the result. nil changes nothing.
// It is for the operator's configuration file: every field may be set.
func (cfg Config) Override(doc any) (Config, error) {
	return cfg.override(doc, false)
}

// OverrideLimits is Override for a request's overrides, nested in the
// request at prefix (like "config" or "metadata.config"): only the
// numeric limits ([LimitFields]) may be set; any other field (windows,
// routes, timeout, enabled, quantile, flagger templates) is a
// [FieldError] naming it. The errors name prefix.field.
func (cfg Config) OverrideLimits(prefix string, doc any) (Config, error) {
	out, err := cfg.override(doc, true)
	return out, prefixFields(err, prefix)
}

func (cfg Config) override(doc any, limitsOnly bool) (Config, error) {
	if doc != nil {
		if err := cfg.apply("", doc, limitsOnly); err != nil {
			return Config{}, err
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// LimitFields are the fields a request may override: the numeric limits.
var LimitFields = []string{
	"minSamples",
	"latency.max", "latency.critical", "latency.maxRatio", "latency.criticalRatio", "latency.minDelta",
	"errorRate.max", "errorRate.critical",
	"cacheErrorRate.max", "cacheErrorRate.critical",
	"fallbackRate.max", "fallbackRate.critical",
}

func prefixFields(err error, prefix string) error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, prefixFields(e, prefix))
		}
		return errors.Join(out...)
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		field := join(prefix, fe.Field)
		if fe.Field == "(document)" {
			field = prefix
		}
		return &FieldError{Field: field, Msg: fe.Msg}
	}
	return err
}

// setter stores one decoded value into a field.
type setter func(path string, v any) error

// apply sets the fields doc names. With limitsOnly (a request's
// overrides) the fields that are not numeric limits are errors: they
// change what is queried or how, which is the operator's business.
func (cfg *Config) apply(path string, doc any, limitsOnly bool) error {
	op := func(s setter) setter {
		if !limitsOnly {
			return s
		}
		return operatorOnly
	}
	return applyObject(path, doc, map[string]setter{
		"shortWindow": op(durationField(&cfg.ShortWindow)),
		"longWindow":  op(durationField(&cfg.LongWindow)),
		"minSamples":  intField(&cfg.MinSamples),
		"routes":      op(stringField(&cfg.Routes)),
		"timeout":     op(durationField(&cfg.Timeout)),
		"latency": func(p string, v any) error {
			l := &cfg.Latency
			return applyObject(p, v, map[string]setter{
				"enabled":       op(boolField(&l.Enabled)),
				"quantile":      op(floatField(&l.Quantile)),
				"max":           durationField(&l.Max),
				"critical":      durationField(&l.Critical),
				"maxRatio":      floatField(&l.MaxRatio),
				"criticalRatio": floatField(&l.CriticalRatio),
				"minDelta":      durationField(&l.MinDelta),
			})
		},
		"errorRate":      rateField(&cfg.ErrorRate, op),
		"cacheErrorRate": rateField(&cfg.CacheErrorRate, op),
		"fallbackRate":   rateField(&cfg.FallbackRate, op),
		"flagger": op(func(p string, v any) error {
			return applyObject(p, v, map[string]setter{
				"canary":   stringField(&cfg.Flagger.Canary),
				"baseline": stringField(&cfg.Flagger.Baseline),
			})
		}),
	})
}

// operatorOnly rejects a field a request may not set, without echoing
// its value.
func operatorOnly(p string, _ any) error {
	return fieldErr(p, "a request may override numeric limits only (%s); set this field in the gate's configuration file",
		strings.Join(LimitFields, ", "))
}

func rateField(r *RateCheck, op func(setter) setter) setter {
	return func(p string, v any) error {
		return applyObject(p, v, map[string]setter{
			"enabled":  op(boolField(&r.Enabled)),
			"max":      floatField(&r.Max),
			"critical": floatField(&r.Critical),
		})
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// applyObject sets the fields of one mapping; unknown keys are errors.
func applyObject(path string, v any, fields map[string]setter) error {
	m, ok := v.(map[string]any)
	if !ok {
		where := path
		if where == "" {
			where = "(document)"
		}
		return fieldErr(where, "want a mapping of fields, got %s", describe(v))
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var errs []error
	for _, k := range keys {
		set, ok := fields[k]
		if !ok {
			known := make([]string, 0, len(fields))
			for f := range fields {
				known = append(known, f)
			}
			slices.Sort(known)
			errs = append(errs, fieldErr(join(path, clipName(k)), "unknown field (known: %s)", strings.Join(known, ", ")))
			continue
		}
		errs = append(errs, set(join(path, k), m[k]))
	}
	return errors.Join(errs...)
}

func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return "the string " + clip(v)
	case map[string]any:
		return "a mapping"
	case map[any]any:
		return "a mapping with keys that are not all strings"
	case []any:
		return "a list"
	case bool, int, int64, float64:
		return fmt.Sprintf("%v", v)
	default:
		return clipText(fmt.Sprintf("%v", v))
	}
}

func durationField(d *time.Duration) setter {
	return func(p string, v any) error {
		s, ok := v.(string)
		if !ok {
			return fieldErr(p, "want a duration like \"1m\" or \"50ms\", got %s", describe(v))
		}
		x, err := time.ParseDuration(s)
		if err != nil {
			return fieldErr(p, "want a duration like \"1m\" or \"50ms\", got %s", clip(s))
		}
		*d = x
		return nil
	}
}

func floatField(f *float64) setter {
	return func(p string, v any) error {
		switch x := v.(type) {
		case int:
			*f = float64(x)
		case int64:
			*f = float64(x)
		case float64:
			*f = x
		case json.Number:
			y, err := x.Float64()
			if err != nil {
				return fieldErr(p, "want a number, got %s", clipText(string(x)))
			}
			*f = y
		default:
			return fieldErr(p, "want a number, got %s", describe(v))
		}
		return nil
	}
}

func intField(i *int) setter {
	return func(p string, v any) error {
		var f float64
		if err := floatField(&f)(p, v); err != nil {
			return fieldErr(p, "want a whole number, got %s", describe(v))
		}
		if f != math.Trunc(f) || math.Abs(f) > 1e9 {
			return fieldErr(p, "want a whole number, got %v", f)
		}
		*i = int(f)
		return nil
	}
}

func boolField(b *bool) setter { return typedField(b, "true or false") }

func stringField(s *string) setter { return typedField(s, "a string") }

// typedField sets *dst to a value of type T, the JSON value it wants
// described by want.
func typedField[T any](dst *T, want string) setter {
	return func(p string, v any) error {
		x, ok := v.(T)
		if !ok {
			return fieldErr(p, "want %s, got %s", want, describe(v))
		}
		*dst = x
		return nil
	}
}

// Validate reports every problem of the configuration at once, each as a
// [FieldError].
func (cfg Config) Validate() error {
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	window := func(name string, d time.Duration) {
		switch {
		case d <= 0:
			add(fieldErr(name, "%v: want a positive duration", d))
		case d%time.Second != 0:
			add(fieldErr(name, "%v: want whole seconds", d))
		case d > MaxWindow:
			add(fieldErr(name, "%v: want at most %v", d, MaxWindow))
		}
	}
	window("shortWindow", cfg.ShortWindow)
	window("longWindow", cfg.LongWindow)
	if cfg.ShortWindow > 0 && cfg.LongWindow > 0 && cfg.ShortWindow >= cfg.LongWindow {
		add(fieldErr("longWindow", "%v: want longer than shortWindow (%v)", cfg.LongWindow, cfg.ShortWindow))
	}
	if cfg.MinSamples < 1 {
		add(fieldErr("minSamples", "%d: want at least 1 (too little traffic must stay inconclusive)", cfg.MinSamples))
	}
	if cfg.Routes == "" {
		add(fieldErr("routes", "empty: want a regular expression on the route label, like %q", Default().Routes))
	} else if _, err := regexp.Compile("^(?:" + cfg.Routes + ")$"); err != nil {
		add(fieldErr("routes", "%s: %s", clip(cfg.Routes), clipText(err.Error())))
	}
	if cfg.Timeout <= 0 || cfg.Timeout > MaxTimeout {
		add(fieldErr("timeout", "%v: want a positive duration up to %v", cfg.Timeout, MaxTimeout))
	}

	l := cfg.Latency
	if !(l.Quantile > 0 && l.Quantile < 1) {
		add(fieldErr("latency.quantile", "%v: want a number between 0 and 1, like 0.95", l.Quantile))
	}
	if l.Max <= 0 {
		add(fieldErr("latency.max", "%v: want a positive duration", l.Max))
	}
	if l.Critical < 0 || (l.Critical > 0 && l.Critical < l.Max) {
		add(fieldErr("latency.critical", "%v: want 0 (never critical) or at least latency.max (%v)", l.Critical, l.Max))
	}
	if l.MaxRatio != 0 && !(l.MaxRatio >= 1) {
		add(fieldErr("latency.maxRatio", "%v: want 0 (no comparison) or at least 1", l.MaxRatio))
	}
	if l.CriticalRatio != 0 && (l.MaxRatio == 0 || !(l.CriticalRatio >= l.MaxRatio)) {
		add(fieldErr("latency.criticalRatio", "%v: want 0 (never critical) or at least latency.maxRatio (%v)", l.CriticalRatio, l.MaxRatio))
	}
	if l.MinDelta < 0 {
		add(fieldErr("latency.minDelta", "%v: want 0 or more", l.MinDelta))
	}
	for _, r := range []struct {
		name string
		c    RateCheck
	}{{"errorRate", cfg.ErrorRate}, {"cacheErrorRate", cfg.CacheErrorRate}, {"fallbackRate", cfg.FallbackRate}} {
		if !(r.c.Max >= 0 && r.c.Max < 1) {
			add(fieldErr(r.name+".max", "%v: want a fraction, 0 <= max < 1 (0.01 is 1 %%)", r.c.Max))
		}
		if !(r.c.Critical == 0 || (r.c.Critical > r.c.Max && r.c.Critical <= 1)) {
			add(fieldErr(r.name+".critical", "%v: want 0 (never critical) or a fraction above max (%v), at most 1", r.c.Critical, r.c.Max))
		}
	}
	if !l.Enabled && !cfg.ErrorRate.Enabled && !cfg.CacheErrorRate.Enabled && !cfg.FallbackRate.Enabled {
		add(fieldErr("enabled", "every check is disabled: the gate would have nothing to judge"))
	}
	for _, f := range []struct{ name, tmpl string }{{"flagger.canary", cfg.Flagger.Canary}, {"flagger.baseline", cfg.Flagger.Baseline}} {
		if f.tmpl == "" {
			continue
		}
		if _, err := renderTemplate(f.tmpl, "podinfo", "test"); err != nil {
			add(fieldErr(f.name, "%v", err))
		}
	}
	return errors.Join(errs...)
}

// promDuration renders a window for PromQL ("1m", "1m30s").
func promDuration(d time.Duration) string { return model.Duration(d).String() }

// renderTemplate fills a Flagger selector template by plain substitution
// of {{.Name}} and {{.Namespace}} and parses the result. Nothing is
// executed: any other {{...}} is an error.
func renderTemplate(tmpl, name, namespace string) (Selector, error) {
	if len(tmpl) > MaxTemplateBytes {
		return Selector{}, fmt.Errorf("template of %d bytes: want at most %d", len(tmpl), MaxTemplateBytes)
	}
	var b strings.Builder
	rest := tmpl
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			return Selector{}, fmt.Errorf("template %s: unclosed {{", clip(tmpl))
		}
		switch field := strings.TrimSpace(rest[i+2 : i+j]); field {
		case ".Name":
			b.WriteString(name)
		case ".Namespace":
			b.WriteString(namespace)
		default:
			return Selector{}, fmt.Errorf("template %s: placeholder {{%s}}: want {{.Name}} or {{.Namespace}}", clip(tmpl), clipText(field))
		}
		rest = rest[i+j+2:]
	}
	sel, err := ParseSelector(b.String())
	if err != nil {
		return Selector{}, fmt.Errorf("template %s: %w", clip(tmpl), err)
	}
	return sel, nil
}

// clipLen is how much of a value from outside (a request, a file) an
// error message quotes.
const clipLen = 40

// clip quotes s for an error message, cut to clipLen bytes (on a rune
// boundary) with the full length noted: a client's value is never echoed
// back or logged whole.
func clip(s string) string {
	if len(s) <= clipLen {
		return strconv.Quote(s)
	}
	return strconv.Quote(cut(s, clipLen)) + fmt.Sprintf("...(%d bytes)", len(s))
}

// clipText cuts text that may contain a client's value (a library's error
// message) to a few lines' worth.
func clipText(s string) string {
	const n = 160
	if len(s) <= n {
		return s
	}
	return cut(s, n) + fmt.Sprintf("...(%d bytes)", len(s))
}

// clipName cuts a field or key name from a request.
func clipName(s string) string {
	if len(s) <= clipLen {
		return s
	}
	return cut(s, clipLen) + "..."
}

// cut returns at most n bytes of s, not splitting a rune.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
