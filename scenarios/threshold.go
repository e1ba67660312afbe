package scenarios

import (
	"fmt"
	"slices"
	"strings"
)

// KnownMetrics returns the metric names a threshold may use: the metrics
// the harness records (k6's names where k6 has the metric). It mirrors
// the harness's verdict.DefaultCatalog, which cannot be imported from
// here; a harness test keeps the two in sync, and a new metric is added
// to both.
func KnownMetrics() []string {
	return []string{
		"http_reqs", "http_req_duration", "http_req_waiting", "http_req_service_time", "http_req_failed",
		"checks", "iterations", "dropped_iterations", "late_iterations", "vus", "vus_max",
		"stale_reads", "staleness_seconds", "lost_writes", "recovery_time", "data_received", "data_sent",
		"target_ready_time",
	}
}

// KnownTags returns the tags a threshold's selector may use: those the
// harness's recorder splits series by (verdict.DefaultCatalog().Tags).
func KnownTags() []string {
	return []string{"scenario", "name", "method", "status", "phase", "source"}
}

// KnownSources returns the values of the source tag: flagserver's
// X-Flag-Source header.
func KnownSources() []string {
	return []string{"redis", "db", "db-fallback", "memory", "stale"}
}

// maxNameLen is k6's limit on metric and tag names.
const maxNameLen = 128

// tag is one name:value pair of a selector.
type tag struct{ name, value string }

// parseKey splits a threshold key into its metric and its selector's tags
// (sorted by name), or says what is wrong with it. The syntax is the
// harness's (verdict.ParseKey, k6's): "metric{tag:value, tag:value}",
// whitespace ignored around the parts, values split at the first ':' and
// optionally quoted.
func parseKey(key string) (metric string, tags []tag, msg string) {
	s := strings.TrimSpace(key)
	name, sel := s, ""
	if open := strings.IndexByte(s, '{'); open >= 0 {
		name, sel = strings.TrimSpace(s[:open]), s[open:]
	}
	if strings.Contains(name, "}") {
		return "", nil, "unbalanced braces: '}' without '{'"
	}
	if msg := checkName(name, "metric", false); msg != "" {
		return "", nil, msg
	}
	if sel == "" {
		return name, nil, ""
	}
	if !strings.HasSuffix(sel, "}") {
		if i := strings.IndexByte(sel, '}'); i >= 0 {
			return "", nil, fmt.Sprintf("unexpected %q after the tag selector", sel[i+1:])
		}
		return "", nil, "unbalanced braces: '{' without '}'"
	}
	inner := sel[1 : len(sel)-1]
	if strings.ContainsAny(inner, "{}") {
		return "", nil, "unbalanced braces in the tag selector (selectors do not nest)"
	}
	if strings.TrimSpace(inner) == "" {
		return "", nil, fmt.Sprintf("empty tag selector {}: name a tag, as in %s{phase:outage}, or drop the braces", name)
	}
	for part := range strings.SplitSeq(inner, ",") {
		colon := strings.IndexByte(part, ':')
		if colon < 0 {
			if strings.TrimSpace(part) == "" {
				return "", nil, "empty tag in the selector (a stray ',')"
			}
			return "", nil, fmt.Sprintf("tag %q has no value: write name:value", strings.TrimSpace(part))
		}
		t := tag{strings.TrimSpace(part[:colon]), unquote(strings.TrimSpace(part[colon+1:]))}
		if msg := checkName(t.name, "tag", true); msg != "" {
			return "", nil, msg
		}
		if t.value == "" {
			return "", nil, fmt.Sprintf("tag %q has an empty value", t.name)
		}
		if strings.ContainsFunc(t.value, func(r rune) bool { return r == '"' || r == '\'' || r < ' ' || r == 0x7f }) {
			return "", nil, fmt.Sprintf("tag %q: value %q has a quote or control character", t.name, t.value)
		}
		if strings.TrimSpace(t.value) != t.value {
			return "", nil, fmt.Sprintf("tag %q: value %q starts or ends with a space", t.name, t.value)
		}
		if slices.ContainsFunc(tags, func(o tag) bool { return o.name == t.name }) {
			return "", nil, fmt.Sprintf("tag %q is selected twice", t.name)
		}
		tags = append(tags, t)
	}
	slices.SortFunc(tags, func(a, b tag) int { return strings.Compare(a.name, b.name) })
	return name, tags, ""
}

// checkName checks a metric name, [a-zA-Z_][a-zA-Z0-9_]{0,127}, or a tag
// name, which may also contain '.' and '-'.
func checkName(name, what string, isTag bool) string {
	switch {
	case name == "":
		return "missing " + what + " name"
	case len(name) > maxNameLen:
		return fmt.Sprintf("%s name is %d characters long; at most %d are allowed", what, len(name), maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		letter := c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		digit := '0' <= c && c <= '9'
		if !letter && (i == 0 || !digit && (!isTag || c != '.' && c != '-')) {
			return fmt.Sprintf("invalid %s name %q: names are letters, digits and _ and do not start with a digit", what, truncate(name, 40))
		}
	}
	return ""
}

// unquote strips one pair of matching quotes.
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// canonicalKey writes a parsed key as the harness prints it,
// "http_req_duration{name:get,phase:outage}".
func canonicalKey(metric string, tags []tag) string {
	if len(tags) == 0 {
		return metric
	}
	var b strings.Builder
	b.WriteString(metric)
	b.WriteByte('{')
	for i, t := range tags {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(t.name)
		b.WriteByte(':')
		b.WriteString(t.value)
	}
	b.WriteByte('}')
	return b.String()
}

// squashExpr is an expression without spaces and with k6's === as ==, so
// that "p(95) < 50" and "p(95)<50" compare equal.
func squashExpr(s string) string {
	s = strings.Join(strings.Fields(s), "")
	return strings.ReplaceAll(s, "===", "==")
}

// thresholdIndex maps the canonical form of each threshold key that
// parses to the positions of the keys in Thresholds.
func (s *Spec) thresholdIndex() map[string][]int {
	idx := make(map[string][]int, len(s.Thresholds))
	for i, t := range s.Thresholds {
		if m, tags, msg := parseKey(t.Key); msg == "" {
			k := canonicalKey(m, tags)
			idx[k] = append(idx[k], i)
		}
	}
	return idx
}

// resolveExpect finds the threshold an expected failure names: the key
// as written in thresholds and the expression's index. idx is
// thresholdIndex's.
func (s *Spec) resolveExpect(idx map[string][]int, text string) (key string, index int, ok bool) {
	text = strings.TrimSpace(text)
	// The key is the metric name and, if a '{' follows, up to the first '}'.
	end := 0
	for end < len(text) && (text[end] == '_' || 'a' <= text[end] && text[end] <= 'z' || 'A' <= text[end] && text[end] <= 'Z' || '0' <= text[end] && text[end] <= '9') {
		end++
	}
	if rest := strings.TrimLeft(text[end:], " \t"); strings.HasPrefix(rest, "{") {
		close := strings.IndexByte(rest, '}')
		if close < 0 {
			return "", 0, false
		}
		end = len(text) - len(rest) + close + 1
	}
	metric, tags, msg := parseKey(text[:end])
	if msg != "" {
		return "", 0, false
	}
	expr := squashExpr(text[end:])
	for _, ti := range idx[canonicalKey(metric, tags)] {
		t := s.Thresholds[ti]
		for i, e := range t.Exprs {
			if squashExpr(e.Text) == expr {
				return t.Key, i, true
			}
		}
	}
	return "", 0, false
}

// Expected reports whether expression number index of the threshold key
// (as written in the file: verdict.Threshold's Key and Index) is
// expected to fail under profile p.
func (s *Spec) Expected(p Profile, key string, index int) bool {
	idx := s.thresholdIndex()
	for _, e := range s.Expect[p] {
		if k, i, ok := s.resolveExpect(idx, e.Text); ok && k == key && i == index {
			return true
		}
	}
	return false
}

// ThresholdError returns a problem with a threshold, placed in the file:
// the harness wraps verdict.Parse's errors with it so that they read like
// Parse's. i is the expression's position in the key's list, or -1 for
// the key itself (verdict.Error's Index).
func (s *Spec) ThresholdError(key string, i int, msg string) *ValidationError {
	field := join("thresholds", key)
	if i >= 0 {
		field = index(field, i)
	}
	e := &ValidationError{File: s.File, Field: field, Msg: msg}
	e.Line, e.Column = s.position(field)
	if e.Line == 0 {
		for _, t := range s.Thresholds {
			if t.Key != key {
				continue
			}
			e.Line = t.Line
			if i >= 0 && i < len(t.Exprs) {
				e.Line = t.Exprs[i].Line
			}
		}
	}
	return e
}
