package verdict

import (
	"fmt"
	"slices"
	"strings"
)

// Tag is one name:value pair of a submetric selector.
type Tag struct {
	Name  string
	Value string
}

// Tags is a selector: the tags a sample must carry to count towards a
// submetric. ParseKey returns them sorted by name with unique names; an
// empty Tags selects the whole metric.
type Tags []Tag

// String is the canonical selector, "{name:get,phase:outage}", or "" when
// t is empty.
func (t Tags) String() string {
	if len(t) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, tag := range t {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(tag.Name)
		b.WriteByte(':')
		b.WriteString(tag.Value)
	}
	b.WriteByte('}')
	return b.String()
}

// Get returns the value selected for the tag called name.
func (t Tags) Get(name string) (string, bool) {
	for _, tag := range t {
		if tag.Name == name {
			return tag.Value, true
		}
	}
	return "", false
}

// Map returns the selector as a map, the shape a recorder's series
// matching may want. It is nil when t is empty.
func (t Tags) Map() map[string]string {
	if len(t) == 0 {
		return nil
	}
	m := make(map[string]string, len(t))
	for _, tag := range t {
		m[tag.Name] = tag.Value
	}
	return m
}

// Matches reports whether a sample with the given tags belongs to the
// submetric: it carries every selected tag with the selected value.
func (t Tags) Matches(sample map[string]string) bool {
	for _, tag := range t {
		if v, ok := sample[tag.Name]; !ok || v != tag.Value {
			return false
		}
	}
	return true
}

// SyntaxError is a malformed threshold key or expression.
type SyntaxError struct {
	Input string // the key or expression as written
	Msg   string // what is wrong, without the input
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("verdict: parse %q: %s", e.Input, e.Msg)
}

// maxNameLen is k6's limit on metric names.
const maxNameLen = 128

// ParseKey parses a threshold key: a metric name and an optional selector
// in braces, "http_req_duration{phase:outage, source:db}". Whitespace
// around the name, the braces, the tag names and the values is ignored;
// each pair is split at its first ':' (as k6 does), so a value may contain
// ':' but not ',', '{' or '}'; a value may be quoted with matching ' or ".
// Metric names follow k6's rule, [a-zA-Z_][a-zA-Z0-9_]{0,127}; tag names
// are [a-zA-Z_][a-zA-Z0-9_.-]* of the same length at most. The tags come
// back sorted by name. Errors are *SyntaxError.
func ParseKey(key string) (metric string, tags Tags, err error) {
	fail := func(format string, args ...any) (string, Tags, error) {
		return "", nil, &SyntaxError{Input: key, Msg: fmt.Sprintf(format, args...)}
	}
	s := trimSpace(key)
	open := strings.IndexByte(s, '{')
	name, sel := s, ""
	if open >= 0 {
		name, sel = trimSpace(s[:open]), s[open:]
	}
	if strings.ContainsAny(name, "}") {
		return fail("unbalanced braces: '}' without '{'")
	}
	if msg := checkMetricName(name); msg != "" {
		return fail("%s", msg)
	}
	if open < 0 {
		return name, nil, nil
	}
	if !strings.HasSuffix(sel, "}") {
		if strings.IndexByte(sel, '}') >= 0 {
			return fail("unexpected %q after the tag selector", sel[strings.IndexByte(sel, '}')+1:])
		}
		return fail("unbalanced braces: '{' without '}'")
	}
	inner := sel[1 : len(sel)-1]
	if strings.ContainsAny(inner, "{}") {
		return fail("unbalanced braces in the tag selector (selectors do not nest)")
	}
	if trimSpace(inner) == "" {
		return fail("empty tag selector {}: name a tag, as in %s{phase:outage}, or drop the braces", name)
	}
	for part := range strings.SplitSeq(inner, ",") {
		colon := strings.IndexByte(part, ':')
		if colon < 0 {
			if trimSpace(part) == "" {
				return fail("empty tag in selector (a stray ',')")
			}
			return fail("tag %q has no value: write name:value", trimSpace(part))
		}
		tag := Tag{Name: trimSpace(part[:colon]), Value: unquote(trimSpace(part[colon+1:]))}
		if msg := checkTagName(tag.Name); msg != "" {
			return fail("%s", msg)
		}
		if msg := checkTagValue(tag); msg != "" {
			return fail("%s", msg)
		}
		if _, dup := tags.Get(tag.Name); dup {
			return fail("tag %q is selected twice", tag.Name)
		}
		tags = append(tags, tag)
	}
	slices.SortFunc(tags, func(a, b Tag) int { return strings.Compare(a.Name, b.Name) })
	return name, tags, nil
}

func checkMetricName(name string) string {
	switch {
	case name == "":
		return "missing metric name"
	case len(name) > maxNameLen:
		return fmt.Sprintf("metric name is %d characters long; at most %d are allowed", len(name), maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isLetter(c) && (i == 0 || !isDigit(c)) {
			return fmt.Sprintf("invalid metric name %q: names are letters, digits and _ and do not start with a digit", name)
		}
	}
	return ""
}

func checkTagName(name string) string {
	switch {
	case name == "":
		return "empty tag name: write name:value"
	case len(name) > maxNameLen:
		return fmt.Sprintf("tag name is %d characters long; at most %d are allowed", len(name), maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isLetter(c) && (i == 0 || !isDigit(c) && c != '.' && c != '-') {
			return fmt.Sprintf("invalid tag name %q: names are letters, digits, _, . and - and do not start with a digit", name)
		}
	}
	return ""
}

func checkTagValue(t Tag) string {
	if t.Value == "" {
		return fmt.Sprintf("tag %q has an empty value", t.Name)
	}
	for _, r := range t.Value {
		if r == '"' || r == '\'' || r < ' ' || r == 0x7f {
			return fmt.Sprintf("tag %q: value %q has a quote or control character", t.Name, t.Value)
		}
	}
	if trimSpace(t.Value) != t.Value {
		// Only a quoted value can keep edge spaces; the canonical form
		// could not say so.
		return fmt.Sprintf("tag %q: value %q starts or ends with a space", t.Name, t.Value)
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

func isLetter(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isSpace(c byte) bool  { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func trimSpace(s string) string {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}
