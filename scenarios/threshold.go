package scenarios

import (
	"strings"

	"github.com/flagstorm/flagstorm/internal/metric"
)

// canonicalKey writes a parsed key as the harness prints it,
// "http_req_duration{name:get,phase:outage}".
func canonicalKey(name string, tags metric.Tags) string { return name + tags.String() }

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
		if m, tags, err := metric.ParseKey(t.Key); err == nil {
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
	name, tags, err := metric.ParseKey(text[:end])
	if err != nil {
		return "", 0, false
	}
	expr := squashExpr(text[end:])
	for _, ti := range idx[canonicalKey(name, tags)] {
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
// expected to fail under profile p (not one that only may fail).
func (s *Spec) Expected(target string, key string, index int) bool {
	return s.Expectation(target, key, index) == ExpectFail
}

// Expectation is what target's expect: list says of expression number
// index of the threshold key.
func (s *Spec) Expectation(target string, key string, index int) Expectation {
	idx := s.thresholdIndex()
	for _, e := range s.Expect[target] {
		if k, i, ok := s.resolveExpect(idx, e.Text); ok && k == key && i == index {
			if e.May {
				return ExpectEither
			}
			return ExpectFail
		}
	}
	return ExpectPass
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
