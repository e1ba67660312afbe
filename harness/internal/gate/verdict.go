package gate

import (
	"encoding/json"
	"fmt"
)

// Verdict is the gate's answer.
type Verdict int

const (
	// Inconclusive: too little traffic (or no series) to judge some check,
	// and none failed. It is never a go.
	Inconclusive Verdict = iota
	// Go: every enabled check passed in both windows.
	Go
	// NoGo: at least one check failed in at least one window.
	NoGo
)

var verdictNames = [...]string{Inconclusive: "inconclusive", Go: "go", NoGo: "no-go"}

// String returns "go", "no-go" or "inconclusive".
func (v Verdict) String() string { return enumName(verdictNames[:], v, "Verdict") }

// ParseVerdict parses "go", "no-go" or "inconclusive".
func ParseVerdict(s string) (Verdict, error) {
	if v, ok := parseEnum[Verdict](verdictNames[:], s); ok {
		return v, nil
	}
	return 0, fmt.Errorf("verdict %q: want go, no-go or inconclusive", s)
}

// MarshalText renders the verdict's name.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText parses a verdict's name.
func (v *Verdict) UnmarshalText(b []byte) error {
	x, err := ParseVerdict(string(b))
	*v = x
	return err
}

// Status is one check's outcome in one window.
type Status int

const (
	// StatusInconclusive: too little data to judge.
	StatusInconclusive Status = iota
	// StatusPass: within the limit.
	StatusPass
	// StatusFail: over the limit.
	StatusFail
)

var statusNames = [...]string{StatusInconclusive: "inconclusive", StatusPass: "pass", StatusFail: "fail"}

func (s Status) String() string { return enumName(statusNames[:], s, "Status") }

// MarshalText renders the status's name.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a status's name.
func (s *Status) UnmarshalText(b []byte) error {
	if x, ok := parseEnum[Status](statusNames[:], string(b)); ok {
		*s = x
		return nil
	}
	return fmt.Errorf("status %q: want pass, fail or inconclusive", b)
}

// enumName is v's name in names, or typ(v) when v has none.
func enumName[T ~int](names []string, v T, typ string) string {
	if v >= 0 && int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, int(v))
}

// parseEnum is the value whose name in names is s.
func parseEnum[T ~int](names []string, s string) (T, bool) {
	for i, n := range names {
		if s == n {
			return T(i), true
		}
	}
	return 0, false
}

// Measure is one side's value in one check.
type Measure struct {
	// Value is the measured rate (0..1), latency (seconds) or ratio; nil
	// when there was nothing to measure.
	Value *float64 `json:"value"`
	// Samples is how many events the value rests on (requests, cache
	// operations or flag reads in the window; Prometheus's increase(), so
	// possibly fractional).
	Samples float64 `json:"samples"`
	// Series is false when no series matched the selector at all.
	Series bool `json:"series"`
}

// Check is one check in one window.
type Check struct {
	// Name is latency_p95, latency_p95_ratio, error_rate,
	// cache_error_rate or fallback_rate.
	Name string `json:"name"`
	// Window is the PromQL range, like "1m".
	Window string `json:"window"`
	Status Status `json:"status"`
	// Critical is true for a failure at or over the critical limit.
	Critical bool `json:"critical"`
	// Unit is "seconds", "ratio" (canary/baseline) or "fraction".
	Unit     string  `json:"unit"`
	Canary   Measure `json:"canary"`
	Baseline Measure `json:"baseline"`
	// Compared is canary/baseline for the ratio check.
	Compared *float64 `json:"compared,omitempty"`
	// Limit is the ceiling; CriticalLimit the critical one (absent: never).
	Limit         float64  `json:"limit"`
	CriticalLimit *float64 `json:"criticalLimit,omitempty"`
	// Reason is one line saying why.
	Reason string `json:"reason"`
	// Queries are the PromQL expressions this check read.
	Queries []string `json:"queries"`
}

// ID is the check's name and window, like "error_rate[1m]".
func (c Check) ID() string { return c.Name + "[" + c.Window + "]" }

// Result is one evaluation.
type Result struct {
	Verdict Verdict `json:"verdict"`
	// Go is Verdict == Go, for conditions that want a boolean.
	Go bool `json:"go"`
	// Critical is true for a no-go with a critical failure.
	Critical bool `json:"critical"`
	// Reason is one line.
	Reason string `json:"reason"`
	// Canary and Baseline are the selectors, in braces.
	Canary   string `json:"canary"`
	Baseline string `json:"baseline"`
	// EvaluatedAt is the instant every query was evaluated at (RFC 3339).
	EvaluatedAt string   `json:"evaluatedAt"`
	Windows     []string `json:"windows"`
	MinSamples  int      `json:"minSamples"`
	Checks      []Check  `json:"checks"`
	// Warnings are Prometheus's warnings, if any.
	Warnings []string `json:"warnings,omitempty"`
	// Summary repeats the verdict compactly, for Argo Rollouts' jsonPath
	// ({$.summary}).
	Summary Summary `json:"summary"`
}

// Summary is the compact form of a result.
type Summary struct {
	Verdict      Verdict `json:"verdict"`
	Go           bool    `json:"go"`
	NoGo         bool    `json:"noGo"`
	Inconclusive bool    `json:"inconclusive"`
	Critical     bool    `json:"critical"`
	// Failed lists the failed checks as name[window].
	Failed []string `json:"failed"`
	// Inconclusives lists the inconclusive checks as name[window].
	Inconclusives []string `json:"inconclusives"`
	Reason        string   `json:"reason"`
}

// JSON encodes the result, indented, with a final newline.
func (r *Result) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("gate: encode result: %w", err)
	}
	return append(b, '\n'), nil
}
